"""EPIC responses for the five-band fit: catalogue ECFs and approximate on-axis effective areas.

This is the one module to replace when real (canned) EPIC responses are installed: everything
else reads :func:`effective_area` and :data:`CATALOGUE_ECF` only.

* **Catalogue ECFs** (``CATALOGUE_ECF``): the energy conversion factors with which the 4XMM
  pipeline turned each camera's band count rate into a flux, computed for one fixed spectrum
  (power law of photon index 1.42 absorbed by N_H = 1.7e20 cm^-2) for the Thin filter
  (4XMM-DR14 user guide, "Energy conversion factors"), in 1e11 ct cm^2 erg^-1. The same values
  make the demo generator's fluxes.
* **Effective areas** (``effective_area``): *an approximation*, not a calibration file. The
  on-axis pn and MOS (one camera) areas with the Thin filter are read at a handful of energies
  off the XMM-Newton Users Handbook's effective-area figure (sect. 3.2.2.1, "on-axis effective
  area of all XMM-Newton X-ray telescopes, EPIC and RGS") and interpolated in log-log. Within
  each catalogue band the curve is then scaled by one factor so that the catalogue's fixed
  spectrum gives back the catalogue ECF exactly (:func:`band_calibration`): the band totals are
  therefore the catalogue's own, and the handbook curve only sets the shape inside each band,
  which is what the fit needs to tell one spectrum from another. Differences between filters
  enter only through that within-band shape and are not modelled.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from data_loaders.schema import BANDS, BASIC_BANDS

#: The fixed spectrum of the catalogue's ECFs: photon index and N_H (cm^-2).
CANONICAL_GAMMA = 1.42
CANONICAL_NH = 1.7e20
#: Catalogue ECFs, 1e11 ct cm^2 / erg, Thin filter: camera -> bands 1..5.
CATALOGUE_ECF = {
    "PN": (9.525, 8.121, 5.867, 1.953, 0.578),
    "M1": (1.655, 1.896, 2.046, 0.744, 0.148),
    "M2": (1.655, 1.896, 2.046, 0.744, 0.148),
}
ECF_UNIT = 1e11  # ct cm^2 / erg
KEV_TO_ERG = 1.602176634e-9

# Approximate on-axis effective area (cm^2), Thin filter, read off the Users Handbook figure.
_AREA_ENERGY = np.array(
    [0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 1.8, 2.0, 2.3, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0]
)
_AREA = {
    "PN": np.array(
        [30, 110, 420, 560, 650, 880, 1100, 1230, 1200, 1080, 790, 810, 760, 700, 640, 550, 380, 260, 180, 80]
    ),
    "M1": np.array([8, 30, 110, 190, 250, 350, 420, 480, 450, 400, 300, 310, 300, 280, 240, 180, 120, 80, 55, 20]),
    "M2": np.array([8, 30, 110, 190, 250, 350, 420, 480, 450, 400, 300, 310, 300, 280, 240, 180, 120, 80, 55, 20]),
}
CAMERAS = tuple(CATALOGUE_ECF)
#: Energy nodes per band of the integration grid (log-spaced midpoints).
NODES_PER_BAND = 64


@lru_cache(maxsize=1)
def energy_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integration grid over the five bands: energies (keV), widths (keV), band index 0..4 of each node."""
    energies, widths, band = [], [], []
    for j, b in enumerate(BASIC_BANDS):
        lo, hi = BANDS[b]
        edges = np.geomspace(lo, hi, NODES_PER_BAND + 1)
        energies.append(np.sqrt(edges[:-1] * edges[1:]))
        widths.append(np.diff(edges))
        band.append(np.full(NODES_PER_BAND, j))
    out = np.concatenate(energies), np.concatenate(widths), np.concatenate(band)
    for a in out:
        a.setflags(write=False)
    return out


def _handbook_area(camera: str, energy: np.ndarray) -> np.ndarray:
    return np.exp(np.interp(np.log(energy), np.log(_AREA_ENERGY), np.log(_AREA[camera].astype(float))))


def catalogue_ecf() -> np.ndarray:
    """Catalogue ECFs as an array (3 cameras PN, M1, M2; 5 bands), ct cm^2 / erg."""
    return np.array([CATALOGUE_ECF[c] for c in CAMERAS]) * ECF_UNIT


@lru_cache(maxsize=1)
def band_calibration() -> np.ndarray:
    """Per camera and band, the factor that makes the handbook curve reproduce the catalogue ECF."""
    from data_loaders.spectral.absorption import transmission

    e, de, band = energy_grid()
    photons = e**-CANONICAL_GAMMA * transmission(e, CANONICAL_NH) * de
    eflux = np.bincount(band, photons * e * KEV_TO_ERG, minlength=5)
    out = np.empty((len(CAMERAS), 5))
    for c, cam in enumerate(CAMERAS):
        rate = np.bincount(band, photons * _handbook_area(cam, e), minlength=5)
        out[c] = catalogue_ecf()[c] / (rate / eflux)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def effective_area() -> np.ndarray:
    """Effective area (cm^2) of each camera (PN, M1, M2) on the :func:`energy_grid` nodes, shape (3, n_nodes)."""
    e, _, band = energy_grid()
    out = np.stack([_handbook_area(cam, e) for cam in CAMERAS]) * band_calibration()[:, band]
    out.setflags(write=False)
    return out


def epic_weights() -> np.ndarray:
    """How the catalogue's EPIC band flux weighs the cameras, (3, 5), summing to 1 per band.

    The EPIC flux is the error-weighted mean of the camera fluxes; for a source-dominated
    detection with equal exposures the weight of a camera is proportional to its ECF (its
    counts per unit flux), which is what the fit assumes when it has no per-camera exposures.
    """
    ecf = catalogue_ecf()
    return ecf / ecf.sum(0, keepdims=True)
