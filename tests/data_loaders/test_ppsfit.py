"""PPS spectral fit: canned OGIP responses, folding by hand, the W-statistic, coverage on simulated spectra."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from scipy import optimize, sparse

from data_loaders.products.arf import EffectiveArea
from data_loaders.products.errors import ProductError
from data_loaders.products.rmf import (
    CANNED_EDGES_KEV,
    Response,
    canned_rmf_hdul,
    find_response,
    gaussian_matrix,
    read_rmf,
)
from data_loaders.products.spectrum import Spectrum
from data_loaders.spectral import ppsfit
from data_loaders.spectral.absorption import cross_section


def _spectrum(n: int, specdelt: float, counts=None, background=None, exposure=1.0e4, bscale=0.1) -> Spectrum:
    ch = np.arange(n)
    return Spectrum(
        channel=ch,
        counts=np.zeros(n) if counts is None else np.asarray(counts, float),
        energy_lo=ch * specdelt,
        energy_hi=(ch + 1) * specdelt,
        exposure=exposure,
        backscal=1.0,
        areascal=1.0,
        instrument="EPN",
        obs_id="0000000001",
        src_num=1,
        background_counts=None if background is None else np.asarray(background, float),
        background_exposure=exposure,
        background_backscal=1.0 / bscale,
    )


def test_canned_rmf_is_ogip_and_reads_back(tmp_path):
    path = tmp_path / "m1_demo.rmf"
    canned_rmf_hdul("EMOS1", "Medium", 2400).writeto(path)
    with fits.open(path) as hdul:
        mat, ebo = hdul["MATRIX"].header, hdul["EBOUNDS"].header
        assert (mat["HDUCLASS"], mat["HDUCLAS1"], mat["HDUCLAS2"], mat["CHANTYPE"]) == (
            "OGIP",
            "RESPONSE",
            "RSP_MATRIX",
            "PI",
        )
        assert (ebo["HDUCLAS2"], mat["DETCHANS"], ebo["DETCHANS"]) == ("EBOUNDS", 2400, 2400)
        assert (mat["TELESCOP"], mat["INSTRUME"], mat["FILTER"]) == ("XMM", "EMOS1", "Medium")
    response = read_rmf(path)
    assert response.matrix.shape == (CANNED_EDGES_KEV.size - 1, 2400)
    assert response.first_channel == 0 and (response.instrument, response.filter) == ("EMOS1", "Medium")
    # Every photon lands somewhere, and where the in-memory matrix puts it (float32 in the file).
    np.testing.assert_allclose(np.asarray(response.matrix.sum(axis=1)).ravel(), 1.0, atol=1e-5)
    _, expected = gaussian_matrix("EMOS1", 2400)
    assert abs(response.matrix - expected).max() < 1e-6
    # A 1 keV line peaks in the channel of 1 keV, with FWHM ~ 80 eV (Fano + read-out noise).
    row = response.matrix[int(np.searchsorted(CANNED_EDGES_KEV, 1.0)) - 1].toarray().ravel()
    assert int(np.argmax(row)) in (198, 199)  # 995 eV sits on the boundary of channels 198 and 199
    fwhm_ev = (row >= row.max() / 2).sum() * 5.0
    assert 60 <= fwhm_ev <= 110


def test_a_spectrum_is_refused_with_a_response_of_other_channels(tmp_path):
    path = tmp_path / "pn.rmf"
    canned_rmf_hdul("EPN", "Thin1", 400, 30.0).writeto(path)
    response = read_rmf(path)
    arf = EffectiveArea(np.array([0.1]), np.array([15.0]), np.array([100.0]))
    with pytest.raises(ValueError, match="has 400 channels but the PN spectrum reaches channel 4095"):
        ppsfit.prepare(_spectrum(4096, 0.005), arf, response)
    with pytest.raises(ProductError, match="not a response matrix|no MATRIX"):
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("A", "E", array=[1.0])])]).writeto(
            tmp_path / "x.rmf"
        )
        read_rmf(tmp_path / "x.rmf")


def _diagonal(edges: np.ndarray) -> Response:
    n = edges.size - 1
    return Response(
        energy_lo=edges[:-1],
        energy_hi=edges[1:],
        matrix=sparse.identity(n, format="csr"),
        channel=np.arange(n),
        e_min=edges[:-1],
        e_max=edges[1:],
        first_channel=0,
        instrument="EPN",
        filter="Thin1",
    )


def test_diagonal_response_folds_to_arf_times_model_times_exposure():
    edges = np.array([1.0, 2.0, 3.0, 4.0])
    response = _diagonal(edges)
    arf = EffectiveArea(edges[:-1], edges[1:], np.array([100.0, 200.0, 300.0]))
    data = ppsfit.prepare(_spectrum(3, 1.0, exposure=1000.0), arf, response, band=(0.5, 10.0))
    rate = ppsfit.model_rate("powerlaw", (2.0, 0.0, np.log10(0.01)), data)
    # Midpoints 1.5, 2.5, 3.5 keV, widths 1 keV: 0.01 E^-2 ph/cm2/s/keV x area; unabsorbed.
    by_hand = np.array([100 * 0.01 / 1.5**2, 200 * 0.01 / 2.5**2, 300 * 0.01 / 3.5**2])
    np.testing.assert_allclose(rate, by_hand, rtol=1e-12)
    np.testing.assert_allclose(rate * 1000.0, [444.444444, 320.0, 244.897959], rtol=1e-6)  # counts in 1 ks
    # Absorption by N_H = 1e22 multiplies each bin by exp(-1e22 sigma(E)), sigma of the five-band fit.
    absorbed = ppsfit.model_rate("powerlaw", (2.0, 1.0, np.log10(0.01)), data)
    sigma = cross_section(np.array([1.5, 2.5, 3.5]))
    np.testing.assert_allclose(absorbed, by_hand * np.exp(-1e22 * sigma), rtol=1e-12)
    # Blackbody: XSPEC bbody, 8.0525 E^2 / (kT^4 (e^(E/kT) - 1)) at kT = 1 keV, norm 1.
    bb = ppsfit.model_rate("bbody", (1.0, 0.0, 0.0), data)
    np.testing.assert_allclose(
        bb, 8.0525 * np.array([1.5, 2.5, 3.5]) ** 2 / np.expm1([1.5, 2.5, 3.5]) * [100, 200, 300]
    )


def test_wstat_is_the_profile_poisson_likelihood():
    """W equals -2 ln L maximised over each channel's background rate (numerically), minus the saturated model."""
    t_s, t_b = 1000.0, 5000.0
    cases = [(7, 12, 0.004), (0, 3, 0.002), (4, 0, 0.001), (4, 0, 0.01), (0, 0, 0.003), (25, 40, 0.02)]

    def by_maximisation(s, b, m):
        def nll(f):
            mu_s, mu_b = t_s * (m + f), t_b * f
            return mu_s - s * np.log(mu_s) + mu_b - (b * np.log(mu_b) if b else 0.0)

        best = optimize.minimize_scalar(nll, bounds=(1e-12, 1.0), method="bounded", options={"xatol": 1e-14}).fun
        sat = sum(x - x * np.log(x) for x in (s, b) if x > 0)
        return 2.0 * (best - sat)

    for s, b, m in cases:
        w = ppsfit.wstat(np.array([s]), np.array([b]), t_s, t_b, np.array([m]))
        assert w == pytest.approx(by_maximisation(s, b, m), abs=1e-4), (s, b, m)
    # No background: Cash's C, 2 sum(t m - S ln(t m) + S ln S - S); S = 0 gives 2 t m.
    assert ppsfit.wstat(np.array([0.0]), None, 100.0, np.inf, np.array([0.03])) == pytest.approx(6.0)
    c = ppsfit.wstat(np.array([5.0]), None, 100.0, np.inf, np.array([0.04]))
    assert c == pytest.approx(2 * (4.0 - 5 * np.log(4.0) + 5 * np.log(5.0) - 5.0))


def test_demo_spectra_fitted_jointly_give_back_their_true_spectrum(tmp_path):
    """The demo's PPS products (pn, MOS1, MOS2) drawn from Gamma 1.6 and N_H 8e21 through its canned responses."""
    from data_loaders.products import ProductStore, write_detection_products
    from data_loaders.products.errors import ProductUnavailable
    from data_loaders.products.rmf import write_canned_responses

    write_detection_products(
        tmp_path, obs_id="0886010101", src_num=3, ra=1.0, dec=2.0, rate=0.3, exposure=30_000, mjd_start=58000.0,
        photon_index=1.6, nh=0.8, seed=11,
    )  # fmt: skip
    store = ProductStore(tmp_path)
    # Without canned responses: one sentence per camera, no fit.
    missing, notes = ppsfit.fit_detection(store, "0886010101", 3, tmp_path / "responses", "powerlaw")
    assert isinstance(missing, ProductUnavailable) and "no folder of canned responses" in missing.reason
    folder = tmp_path / "responses"
    write_canned_responses(folder)
    fitted, notes = ppsfit.fit_detection(store, "0886010101", 3, folder, "powerlaw")
    assert notes == [] and fitted.responses == ("epn_e3_ff20_sdY9.rmf", "m1_e19_im_pall_o.rmf", "m2_e19_im_pall_o.rmf")
    pl = fitted.result
    assert pl.cameras == ("PN", "M1", "M2") and pl.converged
    for value, lo, hi, true in zip(pl.values[:2], pl.lower[:2], pl.upper[:2], (1.6, 0.8), strict=True):
        assert lo - 2.5 * (hi - lo) / 2 < true < hi + 2.5 * (hi - lo) / 2, (value, lo, hi, true)
    assert 0 < pl.flux_lower < pl.flux < pl.flux_upper
    # The same files give the cached result back; a blackbody fits this power law far worse.
    assert ppsfit.fit_detection(store, "0886010101", 3, folder, "powerlaw")[0] is fitted
    bb = ppsfit.fit_detection(store, "0886010101", 3, folder, "bbody")[0].result
    assert bb.stat > pl.stat + 25
    # A response found by instrument and channels when RESPFILE names a file the folder lacks.
    (folder / "epn_e3_ff20_sdY9.rmf").rename(folder / "pn_other_name.rmf")
    assert find_response(folder, "epn_e3_ff20_sdY9.rmf", "EPN", "Medium", 4096).name == "pn_other_name.rmf"
    assert "no canned response for EPN" in find_response(folder, "x.rmf", "EPN", "Medium", 2400)


@pytest.mark.slow
def test_68_percent_intervals_cover_the_truth_60_to_76_percent_of_the_time():
    """Issue 20 item 5: 150 simulated pn spectra (absorbed power law through a canned response), fitted."""
    from tests.benchmarks.bench_ppsfit import coverage

    gamma, nh, _norm = coverage(150)  # asserts 60-76% for Gamma and N_H itself
    assert 0.60 <= gamma <= 0.76 and 0.60 <= nh <= 0.76, (gamma, nh)
