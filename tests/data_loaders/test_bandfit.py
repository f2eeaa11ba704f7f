"""The five-band absorbed power-law fit: cross-sections, the band-flux model by hand, recovery and coverage."""

from __future__ import annotations

import numpy as np
import pytest

from data_loaders.schema import BANDS, BASIC_BANDS
from data_loaders.spectral import bandfit, model, responses
from data_loaders.spectral.absorption import WILMS_LOG_ABUNDANCE, cross_section, element_cross_section

EDGES = np.array([BANDS[b] for b in BASIC_BANDS])
NO_NH = -10.0  # log10 N_H: no absorption at all


def hydrogen_cross_section(e_kev: np.ndarray) -> np.ndarray:
    """Exact non-relativistic photoionisation cross-section of atomic hydrogen (Stobbe 1930), cm^2."""
    ionisation = 13.6057e-3
    eps = np.sqrt(e_kev / ionisation - 1)
    return 6.304e-18 * (ionisation / e_kev) ** 4 * np.exp(4 - 4 * np.arctan(eps) / eps) / (1 - np.exp(-2 * np.pi / eps))


def test_hydrogen_cross_section_from_xraydb_matches_the_exact_formula():
    e = np.array([0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
    np.testing.assert_allclose(element_cross_section("H", e), hydrogen_cross_section(e), rtol=0.02)


def test_ism_cross_section_sums_the_wilms_abundances():
    e = np.array([0.3, 1.0, 3.0])
    by_hand = sum(10 ** (a - 12) * element_cross_section(el, e) for el, a in WILMS_LOG_ABUNDANCE.items())
    np.testing.assert_allclose(cross_section(e), by_hand)
    # Oxygen's K edge (0.538 keV) is the biggest step of the soft band; metals dominate above it.
    assert cross_section(np.array([0.545]))[0] > 1.25 * cross_section(np.array([0.530]))[0]
    assert 1.2e-22 < cross_section(np.array([1.0]))[0] < 2.6e-22  # Wilms ISM, ~25% below Morrison & McCammon


@pytest.mark.parametrize("gamma", [1.0, 2.0])
def test_unabsorbed_energy_flux_by_hand(gamma):
    # integral of E * E^-gamma over a band: hi - lo for gamma = 1, ln(hi/lo) for gamma = 2 (keV^2 -> erg).
    by_hand = (EDGES[:, 1] - EDGES[:, 0]) if gamma == 1.0 else np.log(EDGES[:, 1] / EDGES[:, 0])
    got = model.energy_flux(np.array([gamma]), np.array([NO_NH]))[0]
    np.testing.assert_allclose(got, by_hand * responses.KEV_TO_ERG, rtol=2e-4)


def test_catalogue_flux_of_the_canonical_spectrum_is_its_energy_flux():
    # The catalogue's ECFs were made for this spectrum: undoing them must give its energy flux back.
    g, n = np.array([responses.CANONICAL_GAMMA]), np.log10([responses.CANONICAL_NH])
    np.testing.assert_allclose(model.catalogue_flux(g, n), model.energy_flux(g, n), rtol=1e-10)


def test_catalogue_flux_is_counts_through_the_fixed_ecfs():
    g, n = np.array([2.5]), np.array([21.7])
    rates = model.count_rates(g, n)[0]  # (3 cameras, 5 bands)
    by_hand = sum(responses.epic_weights()[c] * rates[c] / responses.catalogue_ecf()[c] for c in range(3))
    np.testing.assert_allclose(model.catalogue_flux(g, n)[0], by_hand)
    # A soft absorbed spectrum's catalogue band-1 flux is not its energy flux: the ECF assumed another shape.
    assert not np.allclose(model.catalogue_flux(g, n), model.energy_flux(g, n), rtol=0.05, atol=0)


def test_effective_area_reproduces_the_catalogue_ecfs():
    e, de, band = responses.energy_grid()
    phot = e**-responses.CANONICAL_GAMMA * np.exp(-responses.CANONICAL_NH * cross_section(e)) * de
    eflux = np.bincount(band, phot * e * responses.KEV_TO_ERG)
    for c in range(3):
        ecf = np.bincount(band, phot * responses.effective_area()[c]) / eflux
        np.testing.assert_allclose(ecf, responses.catalogue_ecf()[c], rtol=1e-10)


def _simulate(gamma, lognh, norm, exposure=3e4, seed=0, noise=True):
    """Band fluxes and errors of sources seen for ``exposure`` s, Gaussian errors from expected counts."""
    k = model.catalogue_flux(gamma, lognh) * norm[:, None]
    ecf = 6e11 * exposure
    sigma = np.sqrt(k * ecf + 10.0) / ecf
    flux = k + (np.random.default_rng(seed).normal(size=k.shape) * sigma if noise else 0.0)
    return flux, sigma


def test_noiseless_fluxes_give_back_the_spectrum():
    gamma = np.array([1.0, 1.73, 1.9, 2.42, 3.1, 0.4])
    lognh = np.array([20.5, 21.33, 22.71, 19.9, 20.2, 23.4])
    flux, sigma = _simulate(gamma, lognh, np.full(6, 2e-4), noise=False)
    fit = bandfit.fit_band_fluxes(flux, sigma)
    assert (fit.flag == bandfit.GOOD).all()
    np.testing.assert_allclose(fit.gamma, gamma, atol=0.02)
    constrained_nh = lognh > 21  # below ~1e21 the soft band barely tells N_H apart
    np.testing.assert_allclose(np.log10(fit.nh[constrained_nh]) + 22, lognh[constrained_nh], atol=0.03)
    np.testing.assert_allclose(fit.stat, 0.0, atol=0.05)
    np.testing.assert_allclose(fit.norm, 2e-4, rtol=0.05)
    assert (fit.dof == 2).all()
    assert ((fit.gamma_err_lo > 0) & (fit.gamma_err_hi > 0)).all()


def test_intervals_cover_the_truth_about_68_percent_of_the_time():
    rng = np.random.default_rng(11)
    n = 600
    gamma = rng.normal(1.9, 0.2, n)
    lognh = rng.uniform(20.0, 23.0, n)
    flux, sigma = _simulate(gamma, lognh, 10 ** rng.uniform(-4.5, -3.5, n), seed=12)
    fit = bandfit.fit_band_fluxes(flux, sigma)
    ok = fit.flag == bandfit.GOOD
    assert ok.mean() > 0.9
    g_in = (gamma >= fit.gamma - fit.gamma_err_lo) & (gamma <= fit.gamma + fit.gamma_err_hi)
    nh = 10 ** (lognh - 22)
    n_in = (nh >= fit.nh - fit.nh_err_lo) & (nh <= fit.nh + fit.nh_err_hi)
    assert 0.60 <= g_in[ok].mean() <= 0.76
    assert 0.60 <= n_in[ok].mean() <= 0.76
    # chi^2 at the best fit follows its dof (5 bands - 3 parameters) on average.
    assert 1.6 < fit.stat[ok].mean() < 2.4


def test_flags_for_too_few_bands_no_signal_and_degenerate_fits():
    flux, sigma = _simulate(np.array([1.9, 1.9, 1.9, 1.9]), np.array([21.0] * 4), np.array([3e-4, 3e-4, 0.0, 3e-4]))
    flux[0, :3] = np.nan  # two usable bands left
    flux[2] = -np.abs(sigma[2])  # nothing positive
    flux[3] = model.catalogue_flux(np.array([1.9]), np.array([21.0]))[0] * 3e-4
    sigma[3] = 20 * flux[3]  # errors twenty times the fluxes: any spectrum fits
    fit = bandfit.fit_band_fluxes(flux, sigma)
    assert fit.flag[0] == bandfit.FEW_BANDS and np.isnan(fit.gamma[0]) and fit.dof[0] == -1
    assert fit.flag[1] == bandfit.GOOD
    assert fit.flag[2] == bandfit.NO_SIGNAL
    assert fit.flag[3] == bandfit.DEGENERATE
    cols = fit.columns()
    assert set(cols) == {c for c in cols if c.startswith("PL_")} and cols["PL_FIT_FLAG"].dtype == np.uint8


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        bandfit.fit_band_fluxes(np.ones((3, 4)), np.ones((3, 4)))
    empty = bandfit.fit_band_fluxes(np.zeros((0, 5)), np.zeros((0, 5)))
    assert empty.gamma.size == 0
