"""Absorbed power-law band fractions and EPIC count-rate conversion factors (ECFs) of demo sources.

The demo makes its band counts and fluxes through the same forward model the five-band fit
inverts (:mod:`data_loaders.spectral.model`: Wilms ISM absorption, the approximate EPIC areas
of :mod:`data_loaders.spectral.responses`, the catalogue's fixed-spectrum ECFs), so fitting the
generated band fluxes is a check of the fit against a known truth.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from data_loaders.spectral import model, responses

#: Background counts rate inside a detection cell, ct/s, 0.2-12 keV, per camera (pn, M1, M2).
BKG_RATE = np.array([4.0e-3, 1.2e-3, 1.2e-3])
#: Fraction of the background counts in each basic band.
BKG_BAND_FRAC = np.array([0.18, 0.14, 0.18, 0.25, 0.25])


_GAMMA = np.round(np.arange(-1.5, 6.0 + 1e-9, 0.05), 6)
_LOGNH = np.round(np.arange(18.5, 24.6 + 1e-9, 0.05), 6)


@lru_cache(maxsize=1)
def _table() -> np.ndarray:
    """log of the energy flux (5) and the pn and MOS count rates (2 x 5) per unit normalisation, (G, N, 15)."""
    g, n = np.meshgrid(_GAMMA, _LOGNH, indexing="ij")
    eflux = model.energy_flux(g.ravel(), n.ravel())
    rates = model.count_rates(g.ravel(), n.ravel())[:, :2, :].reshape(-1, 10)
    # Logarithms: absorption makes the soft bands fall exponentially with N_H.
    both = np.maximum(np.concatenate([eflux, rates], axis=1), np.finfo(np.float64).tiny)
    return np.log(both).reshape(_GAMMA.size, _LOGNH.size, 15)


def spectral_lookup(gamma: np.ndarray, lognh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Band energy-flux fractions (n, 5) and true ECFs (n, 2 cameras pn/MOS, 5) for each (Gamma, log NH).

    A source of 0.2-12 keV (absorbed) energy flux S gives camera c ``S * frac[b] * ecf[c, b]``
    counts per second in band b. The model is tabulated every 0.05 in Gamma and log N_H and
    interpolated bilinearly in log (the demo makes millions of sources; errors about 1% at most).
    """
    tab = _table()
    gi = np.clip((np.asarray(gamma) - _GAMMA[0]) / 0.05, 0, _GAMMA.size - 1.001)
    ni = np.clip((np.asarray(lognh) - _LOGNH[0]) / 0.05, 0, _LOGNH.size - 1.001)
    g0, n0 = gi.astype(np.int64), ni.astype(np.int64)
    a, b = (gi - g0)[:, None], (ni - n0)[:, None]
    logs = (1 - a) * ((1 - b) * tab[g0, n0] + b * tab[g0, n0 + 1]) + a * (
        (1 - b) * tab[g0 + 1, n0] + b * tab[g0 + 1, n0 + 1]
    )
    eflux = np.exp(logs[:, :5])
    # ECF = rate / energy flux: a difference of logarithms.
    ecf = np.exp(logs[:, 5:].reshape(-1, 2, 5) - logs[:, None, :5])
    return eflux / eflux.sum(-1, keepdims=True), ecf


def canonical_ecf() -> np.ndarray:
    """Catalogue ECFs as an array (3 cameras pn, M1, M2, 5 bands), ct cm^2 / erg."""
    return responses.catalogue_ecf()
