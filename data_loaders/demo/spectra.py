"""Absorbed power-law band fractions and EPIC count-rate conversion factors (ECFs)."""

from __future__ import annotations

import numpy as np

from data_loaders.schema import BANDS, BASIC_BANDS

#: Canonical catalogue ECFs (counts per 1e-11... expressed in ct cm^2 / erg), one spectrum for
#: every source like the SSC (power law, Gamma = 1.42, NH = 1.7e20): band -> (pn, MOS).
CANON_ECF = {
    1: (9.525e11, 1.655e11),
    2: (8.121e11, 1.896e11),
    3: (5.867e11, 2.046e11),
    4: (1.953e11, 0.744e11),
    5: (0.578e11, 0.148e11),
}
#: Background counts rate inside a detection cell, ct/s, 0.2-12 keV, per camera (pn, M1, M2).
BKG_RATE = np.array([4.0e-3, 1.2e-3, 1.2e-3])
#: Fraction of the background counts in each basic band.
BKG_BAND_FRAC = np.array([0.18, 0.14, 0.18, 0.25, 0.25])

_GAMMA = np.linspace(0.0, 5.0, 51)
_LOGNH = np.linspace(19.0, 24.0, 51)


def _effective_area(energy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rough pn and MOS effective areas (cm^2) versus energy (keV)."""
    le = np.log(energy / 1.5)
    pn = 1300.0 * np.exp(-(le**2) / (2 * np.where(le < 0, 0.8, 1.3) ** 2))
    mos = 520.0 * np.exp(-(le**2) / (2 * np.where(le < 0, 0.65, 0.85) ** 2))
    return pn, mos


def _build_grid() -> tuple[np.ndarray, np.ndarray]:
    """Energy-flux fractions (G, N, 5) and true ECFs (G, N, 2 cameras, 5) on the grid."""
    edges = [BANDS[b] for b in BASIC_BANDS]
    fracs = np.empty((_GAMMA.size, _LOGNH.size, 5))
    ecfs = np.empty((_GAMMA.size, _LOGNH.size, 2, 5))
    for j, (lo, hi) in enumerate(edges):
        e = np.geomspace(lo, hi, 80)
        de = np.gradient(e)
        sigma = 2.4e-22 * e ** (-8.0 / 3.0)
        absorb = np.exp(-np.power(10.0, _LOGNH)[:, None] * sigma[None, :])  # (N, E)
        phot = e[None, None, :] ** (-_GAMMA[:, None, None]) * absorb[None]  # (G, N, E)
        eflux = np.maximum((phot * e * de).sum(-1) * 1.602e-9, 1e-300)
        pn, mos = _effective_area(e)
        fracs[:, :, j] = eflux
        ecfs[:, :, 0, j] = (phot * pn * de).sum(-1) / eflux
        ecfs[:, :, 1, j] = (phot * mos * de).sum(-1) / eflux
    fracs /= fracs.sum(-1, keepdims=True)
    return fracs, ecfs


_FRACS, _ECFS = _build_grid()


def spectral_lookup(gamma: np.ndarray, lognh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Band energy-flux fractions (n, 5) and true ECFs (n, 2, 5) for each (Gamma, log NH)."""
    gi = np.clip((gamma - _GAMMA[0]) / (_GAMMA[1] - _GAMMA[0]), 0, _GAMMA.size - 1.001)
    ni = np.clip((lognh - _LOGNH[0]) / (_LOGNH[1] - _LOGNH[0]), 0, _LOGNH.size - 1.001)
    g0, n0 = gi.astype(np.int64), ni.astype(np.int64)
    tg, tn = gi - g0, ni - n0

    def interp(tab: np.ndarray) -> np.ndarray:
        shape = (-1,) + (1,) * (tab.ndim - 2)
        a, b = tg.reshape(shape), tn.reshape(shape)
        return (
            (1 - a) * (1 - b) * tab[g0, n0]
            + a * (1 - b) * tab[g0 + 1, n0]
            + (1 - a) * b * tab[g0, n0 + 1]
            + a * b * tab[g0 + 1, n0 + 1]
        )

    fr = interp(_FRACS)
    return fr / fr.sum(-1, keepdims=True), interp(_ECFS)


def canonical_ecf() -> np.ndarray:
    """Catalogue ECFs as an array (3 cameras pn, M1, M2, 5 bands), ct cm^2 / erg."""
    pn = np.array([CANON_ECF[b][0] for b in BASIC_BANDS])
    mos = np.array([CANON_ECF[b][1] for b in BASIC_BANDS])
    return np.stack([pn, mos, mos])


def _calibrate() -> None:
    """Scale the rough areas so the canonical spectrum reproduces the catalogue ECFs."""
    _, ref = spectral_lookup(np.array([1.42]), np.array([20.23]))
    target = canonical_ecf()[:2]
    _ECFS[...] *= (target / ref[0])[None, None]


_calibrate()
