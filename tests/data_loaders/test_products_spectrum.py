"""Spectra: net-rate arithmetic, grouping, energy axis, effective-area correction."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from data_loaders.products import (
    ProductError,
    read_arf,
    read_spectrum,
    write_detection_products,
)


def _spectrum_file(path, counts, *, exposure, backscal, specdelt=5.0, extra=()):
    counts = np.asarray(counts)
    columns = [
        fits.Column("CHANNEL", "I", array=np.arange(len(counts))),
        fits.Column("COUNTS", "J", array=counts),
        *extra,
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    hdu.header["EXPOSURE"] = exposure
    hdu.header["BACKSCAL"] = backscal
    hdu.header["AREASCAL"] = 1.0
    hdu.header["INSTRUME"] = "EPN"
    if specdelt is not None:
        hdu.header["SPECDELT"] = specdelt
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def _arf_file(path, lo, hi, area):
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=hi),
            fits.Column("SPECRESP", "E", unit="cm**2", array=area),
        ],
        name="SPECRESP",
    )
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


@pytest.fixture
def pair(tmp_path):
    src = _spectrum_file(tmp_path / "src.fits", [10, 20, 0, 5], exposure=1000.0, backscal=100.0)
    bkg = _spectrum_file(tmp_path / "bkg.fits", [40, 0, 8, 100], exposure=2000.0, backscal=400.0)
    return src, bkg


def test_net_rate_against_hand_computation(pair):
    spectrum = read_spectrum(*pair)
    # background counts count for 1/2000 s * 100/400 = 1/8000 per source-region second
    assert spectrum.background_scale == pytest.approx(1000 / 2000 * 100 / 400)
    rate, error = spectrum.net_rate()
    np.testing.assert_allclose(rate, [0.010 - 40 / 8000, 0.020, -8 / 8000, 0.005 - 100 / 8000])
    np.testing.assert_allclose(
        error, np.sqrt([10 / 1e6 + 40 / 8000**2, 20 / 1e6, 8 / 8000**2, 5 / 1e6 + 100 / 8000**2])
    )
    per_kev = spectrum.net_rate_per_kev()
    assert per_kev.unit == "count/s/keV"
    np.testing.assert_allclose(per_kev.value, rate / 0.005)  # 5 eV channels
    np.testing.assert_allclose(per_kev.error, error / 0.005)


def test_energy_axis_from_specdelt(pair, tmp_path):
    spectrum = read_spectrum(pair[0])
    np.testing.assert_allclose(spectrum.energy_lo, [0.0, 0.005, 0.010, 0.015])
    np.testing.assert_allclose(spectrum.energy_hi, [0.005, 0.010, 0.015, 0.020])
    assert spectrum.energy_source == "SPECDELT"
    wide = read_spectrum(_spectrum_file(tmp_path / "w.fits", [1, 2], exposure=1.0, backscal=1.0, specdelt=10.0))
    np.testing.assert_allclose(wide.energy_hi, [0.010, 0.020])
    bare = read_spectrum(_spectrum_file(tmp_path / "b.fits", [1, 2], exposure=1.0, backscal=1.0, specdelt=None))
    assert bare.energy_source.startswith("default 5 eV")
    np.testing.assert_allclose(bare.energy_lo, [0.0, 0.005])


def test_energy_axis_from_a_response_when_it_exists(pair, tmp_path):
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "J", array=[0, 1, 2, 3]),
            fits.Column("E_MIN", "E", unit="keV", array=[0.1, 0.2, 0.4, 0.8]),
            fits.Column("E_MAX", "E", unit="keV", array=[0.2, 0.4, 0.8, 1.6]),
        ],
        name="EBOUNDS",
    )
    rmf = tmp_path / "epn.rmf"
    fits.HDUList([fits.PrimaryHDU(), ebounds]).writeto(rmf)
    spectrum = read_spectrum(pair[0], response=rmf)
    np.testing.assert_allclose(spectrum.energy_lo, [0.1, 0.2, 0.4, 0.8], rtol=1e-6)
    assert spectrum.energy_source == "EBOUNDS of epn.rmf"
    # A canned response name that is not shipped falls back to SPECDELT.
    fallback = read_spectrum(pair[0], response=tmp_path / "epn_e3_ff20_sdY9.rmf")
    assert fallback.energy_source == "SPECDELT"


def test_effective_area_correction(pair, tmp_path):
    arf = _arf_file(tmp_path / "arf.fits", [0.0, 0.01], [0.01, 0.02], [100.0, 300.0])
    spectrum = read_spectrum(*pair, arf=arf)
    # channel centres 2.5, 7.5, 12.5, 17.5 eV; ARF tabulated at 5 and 15 eV centres
    np.testing.assert_allclose(spectrum.effective_area, [100.0, 150.0, 250.0, 300.0])
    photons = spectrum.net_rate_per_kev(effective_area=True)
    counts = spectrum.net_rate_per_kev()
    assert photons.unit == "photon/cm**2/s/keV"
    np.testing.assert_allclose(photons.value, counts.value / spectrum.effective_area)
    with pytest.raises(ProductError, match="no effective area"):
        read_spectrum(pair[0]).net_rate_per_kev(effective_area=True)


def test_background_must_match_channels(pair, tmp_path):
    short = _spectrum_file(tmp_path / "short.fits", [1, 2], exposure=1.0, backscal=1.0)
    with pytest.raises(ProductError, match="short.fits has 2 channels but src.fits has 4"):
        read_spectrum(pair[0], background=short)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    paths = write_detection_products(
        root, obs_id="0886010101", src_num=12, ra=10.0, dec=-5.0, rate=0.5, exposure=40_000, mjd_start=58000.0, seed=3
    )
    return {p.name[11:23]: p for p in paths}  # e.g. "PNS003SRSPEC"


def _synthetic_spectrum(files, camera):
    prefix = {"PN": "PNS003", "M1": "M1S001", "M2": "M2S002"}[camera]
    return read_spectrum(files[prefix + "SRSPEC"], background=files[prefix + "BGSPEC"], arf=files[prefix + "SRCARF"])


def test_synthetic_spectrum_recovers_the_source_rate(synthetic):
    pn = _synthetic_spectrum(synthetic, "PN")
    assert len(pn.channel) == 4096 and pn.camera == "PN"
    assert pn.background_backscal > pn.backscal
    assert pn.respfile.endswith(".rmf")
    assert pn.ancrfile == synthetic["PNS003SRCARF"].name
    assert pn.backfile == synthetic["PNS003BGSPEC"].name
    rate, _ = pn.net_rate()
    band = (pn.energy_lo >= 0.2) & (pn.energy_hi <= 12.0)
    assert rate[band].sum() == pytest.approx(0.5, rel=0.05)
    mos = _synthetic_spectrum(synthetic, "M1")
    assert len(mos.channel) == 2400 and mos.energy_hi[-1] == pytest.approx(12.0)
    # The count spectrum peaks where ARF x E^-1.9 x exp(-3e20 sigma(E)) does (0.47 keV, by hand on a
    # fine grid with the Wilms cross-sections): the demo folds the source through ARF and canned RMF.
    grouped = pn.group_min_counts(50).net_rate_per_kev()
    assert 0.35 < grouped.energy[np.nanargmax(grouped.value)] < 0.6


def test_grouping_keeps_counts_and_reaches_the_minimum(synthetic):
    spectrum = _synthetic_spectrum(synthetic, "PN")
    grouped = spectrum.group_min_counts(25)
    assert grouped.counts.sum() == spectrum.counts.sum()
    assert grouped.background_counts.sum() == spectrum.background_counts.sum()
    assert (grouped.counts >= 25).all()
    assert len(grouped.counts) < len(spectrum.counts)
    np.testing.assert_allclose(grouped.energy_hi[:-1], grouped.energy_lo[1:])
    assert grouped.energy_lo[0] == 0.0 and grouped.energy_hi[-1] == spectrum.energy_hi[-1]
    # Net rates add up the same before and after grouping.
    assert grouped.net_rate()[0].sum() == pytest.approx(spectrum.net_rate()[0].sum())
    photons = grouped.net_rate_per_kev(effective_area=True)
    assert np.isfinite(photons.value[(photons.energy > 0.5) & (photons.energy < 10)]).all()


def test_grouping_small_spectrum_by_hand(pair):
    grouped = read_spectrum(*pair).group_min_counts(15)
    # counts [10, 20, 0, 5]: [10, 20] -> 30, remainder [0, 5] < 15 joins it
    assert grouped.counts.tolist() == [35.0]
    assert grouped.channel.tolist() == [0]
    assert grouped.background_counts.tolist() == [148.0]
    regrouped = read_spectrum(*pair).group_min_counts(10)
    assert regrouped.counts.tolist() == [10.0, 25.0]
    with pytest.raises(ValueError, match="at least 1"):
        read_spectrum(pair[0]).group_min_counts(0)


def test_synthetic_arf_shape(synthetic):
    arf = read_arf(synthetic["PNS003SRCARF"])
    peak = arf.energy[np.argmax(arf.area)]
    assert 1.0 < peak < 2.0
    assert 600 < arf.area.max() < 1500
    assert arf.at(np.array([0.2]))[0] < arf.area.max() / 3
    assert arf.at(np.array([10.0]))[0] < arf.area.max() / 2
    assert arf.at(np.array([0.05, 20.0])).tolist() == [0.0, 0.0]
    mos = read_arf(synthetic["M1S001SRCARF"])
    assert mos.area.max() < arf.area.max() / 2
