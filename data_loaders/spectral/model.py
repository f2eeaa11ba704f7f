"""Forward model of the five catalogue band fluxes of an absorbed power law.

A source of photon spectrum N * E^-Gamma * exp(-N_H sigma(E)) (ph cm^-2 s^-1 keV^-1, N at
1 keV) gives camera c the count rate C_cb = N * integral over band b of A_c(E) * spectrum dE.
The 4XMM pipeline turned that rate into a flux with the ECF of one fixed spectrum,
F_cb = C_cb / ECF_cb, and averaged the cameras into the EPIC band flux. So the catalogue band
flux of this source is not its energy flux but

    F_b = N * sum_c w_cb * (integral_b A_c S dE) / ECF_cb          (:func:`catalogue_flux`)

with w_cb the cameras' weights (:func:`responses.epic_weights`). The five-band fit compares
the catalogue values with this, which undoes the fixed-spectrum conversion, as the
XMM2ATHENA five-band fits do (Viitanen et al. 2025, A&A 704, A16). The demo generator makes
its band fluxes through the same functions. Cross-sections: :mod:`.absorption`; responses:
:mod:`.responses`.
"""

from __future__ import annotations

import numpy as np

from data_loaders.spectral import responses
from data_loaders.spectral.absorption import cross_section

_CHUNK = 20_000


def _per_band(gamma: np.ndarray, lognh: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum over grid nodes of weights[k, node] * E^-Gamma exp(-N_H sigma) dE, per band: (n, k, 5)."""
    e, de, band = responses.energy_grid()
    sigma = cross_section(e)
    loge = np.log(e)
    gamma = np.atleast_1d(np.asarray(gamma, dtype=np.float64))
    nh = 10.0 ** np.atleast_1d(np.asarray(lognh, dtype=np.float64))
    gamma, nh = np.broadcast_arrays(gamma, nh)
    # Sum the nodes of each band with one matrix product: (nodes, k*5) of weights per band.
    k = weights.shape[0]
    per = np.zeros((e.size, k, 5))
    per[np.arange(e.size), :, band] = (weights * de).T
    per_band = per.reshape(e.size, k * 5)
    out = np.empty((gamma.size, k * 5))
    for s in range(0, gamma.size, _CHUNK):
        g, n = gamma[s : s + _CHUNK], nh[s : s + _CHUNK]
        spectrum = np.exp(-g[:, None] * loge[None, :] - n[:, None] * sigma[None, :])
        out[s : s + _CHUNK] = spectrum @ per_band
    return out.reshape(gamma.size, k, 5)


def count_rates(gamma: np.ndarray, lognh: np.ndarray) -> np.ndarray:
    """Count rate per unit normalisation of each camera (PN, M1, M2) in each band: (n, 3, 5), ct/s."""
    return _per_band(gamma, lognh, responses.effective_area())


def energy_flux(gamma: np.ndarray, lognh: np.ndarray) -> np.ndarray:
    """Observed (absorbed) energy flux per unit normalisation in each band: (n, 5), erg cm^-2 s^-1."""
    e, _, _ = responses.energy_grid()
    return _per_band(gamma, lognh, (e * responses.KEV_TO_ERG)[None, :])[:, 0, :]


def catalogue_flux(gamma: np.ndarray, lognh: np.ndarray) -> np.ndarray:
    """The catalogue's EPIC band flux per unit normalisation (n, 5): rates through the fixed ECFs, camera-weighted."""
    rates = count_rates(gamma, lognh)
    return (rates / responses.catalogue_ecf()[None] * responses.epic_weights()[None]).sum(1)
