"""Interstellar photoabsorption cross-section per hydrogen atom, offline from xraydb.

sigma_ISM(E) = sum over elements Z of A_Z * sigma_Z(E), where

* A_Z are the interstellar abundances (number relative to H) of Wilms, Allen & McCray
  (2000, ApJ 542, 914; their Table 2, the ``wilm`` table of XSPEC's ``tbabs``);
* sigma_Z(E) are the atomic photoelectric cross-sections of Elam, Ravel & Sieber
  (2002, Radiat. Phys. Chem. 63, 121) as shipped in the xraydb package's own SQLite file
  (``xraydb.mu_elam(..., kind='photo')``, cm^2/g, times the atomic mass).

Nothing is fetched at run time: xraydb carries its database inside the wheel. The model is
gas-phase atoms only: ``tbabs``' molecular hydrogen and grain shielding are left out (they
change the cross-section by a few per cent in the XMM band, Wilms et al. 2000, Sect. 2).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: ISM abundances by number relative to H, 12 + log10(A_Z) (Wilms, Allen & McCray 2000, Table 2).
WILMS_LOG_ABUNDANCE = {
    "H": 12.00,
    "He": 10.99,
    "C": 8.38,
    "N": 7.88,
    "O": 8.69,
    "Ne": 7.94,
    "Na": 6.16,
    "Mg": 7.40,
    "Al": 6.33,
    "Si": 7.27,
    "P": 5.42,
    "S": 7.09,
    "Cl": 5.12,
    "Ar": 6.41,
    "Ca": 6.20,
    "Ti": 4.81,
    "Cr": 5.51,
    "Mn": 5.34,
    "Fe": 7.43,
    "Co": 4.92,
    "Ni": 6.05,
}
_AMU_G = 1.66053906660e-24  # g per atomic mass unit (CODATA 2018)


def element_cross_section(element: str, energy_kev: np.ndarray) -> np.ndarray:
    """Photoelectric cross-section per atom (cm^2) of one element (Elam et al. tables in xraydb)."""
    import xraydb

    e_ev = np.asarray(energy_kev, dtype=np.float64) * 1e3
    per_gram = np.asarray(xraydb.mu_elam(element, e_ev, kind="photo"), dtype=np.float64)
    return per_gram * xraydb.atomic_mass(element) * _AMU_G


@lru_cache(maxsize=8)
def _cross_section_cached(energies_kev: tuple[float, ...]) -> np.ndarray:
    energy = np.asarray(energies_kev, dtype=np.float64)
    total = np.zeros(energy.size)
    for element, log_a in WILMS_LOG_ABUNDANCE.items():
        total += 10.0 ** (log_a - 12.0) * element_cross_section(element, energy)
    total.setflags(write=False)
    return total


def cross_section(energy_kev: np.ndarray) -> np.ndarray:
    """Photoabsorption cross-section per H atom (cm^2) of the ISM at ``energy_kev`` (keV, 0.1-20)."""
    energy = np.asarray(energy_kev, dtype=np.float64)
    return _cross_section_cached(tuple(energy.ravel().tolist())).reshape(energy.shape)


def transmission(energy_kev: np.ndarray, nh_cm2: float | np.ndarray) -> np.ndarray:
    """exp(-N_H sigma(E)): the fraction of photons of energy E that pass a column N_H (cm^-2)."""
    return np.exp(-np.multiply.outer(np.asarray(nh_cm2, dtype=np.float64), cross_section(energy_kev)))
