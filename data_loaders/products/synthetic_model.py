"""Crude but realistic-looking EPIC physics for the synthetic products: effective areas, spectra, backgrounds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_loaders.schema import BANDS, BASIC_BANDS


@dataclass(frozen=True)
class CameraModel:
    """What differs between EPIC cameras in the synthetic products."""

    camera: str
    instrume: str
    lightcurve_expid: str
    spectrum_expid: str
    nchannels: int
    rate_factor: float  # count rate relative to pn for one source (MOS collect ~1/3)
    peak_area: float  # cm², on-axis, near 1.5 keV
    low_cut: float  # keV where the filter/detector cut-off halves the area
    high_cut: float  # keV where the mirror/detector fall-off halves the area
    high_slope: float
    respfile: str
    filter: str


CAMERAS = {
    "PN": CameraModel("PN", "EPN", "X000", "S003", 4096, 1.0, 1350.0, 0.42, 6.0, 2.3, "epn_e3_ff20_sdY9.rmf", "Medium"),
    "M1": CameraModel(
        "M1", "EMOS1", "S001", "S001", 2400, 0.33, 520.0, 0.55, 4.6, 2.8, "m1_e19_im_pall_o.rmf", "Medium"
    ),
    "M2": CameraModel(
        "M2", "EMOS2", "S002", "S002", 2400, 0.34, 530.0, 0.55, 4.6, 2.8, "m2_e19_im_pall_o.rmf", "Medium"
    ),
}

#: Absorption edges (keV, transmission above the edge): O K in the filter, Si K in the
#: detector, Au M in the mirror coating. They give the ARF its familiar notches.
_EDGES = ((0.532, 0.86), (1.839, 0.90), (2.21, 0.92))
#: Fraction of the source's photons inside the extraction circle (folded into the ARF).
ENCIRCLED_ENERGY = 0.85
#: ARF energy grid: 0.15-15 keV in 10 eV bins.
ARF_EDGES_KEV = np.round(np.arange(0.15, 15.0 + 1e-9, 0.01), 5)
#: Background count rate (count/s, 0.2-12 keV) per sky pixel² of extraction area, pn;
#: MOS scale it by their rate_factor.
BACKGROUND_PER_AREA = 4.0e-8
#: The catalogue's total band.
TOTAL_BAND = BANDS[8]


def effective_area(camera: str, energy_kev: np.ndarray, psf_fraction: float = 1.0) -> np.ndarray:
    """On-axis effective area (cm²) of an EPIC camera; peaks near 1.5 keV like the real curves."""
    model = CAMERAS[camera]
    energy = np.asarray(energy_kev, dtype=float)
    low = 1.0 / (1.0 + (model.low_cut / energy) ** 3)
    high = 1.0 / (1.0 + (energy / model.high_cut) ** model.high_slope)
    edges = np.ones_like(energy)
    for edge, transmission in _EDGES:
        edges = np.where(energy >= edge, edges * transmission, edges)
    return model.peak_area * low * high * edges * psf_fraction


def photon_spectrum(energy_kev: np.ndarray, photon_index: float, nh: float) -> np.ndarray:
    """Absorbed power law, unnormalised (photon/keV): E^-Γ · exp(−N_H σ(E)), N_H in 1e22 cm⁻².

    σ(E) ≈ 2.4e-22 cm² · E^-2.5 is a one-line stand-in for the Morrison & McCammon curve.
    """
    energy = np.asarray(energy_kev, dtype=float)
    tau = 2.4 * nh * energy**-2.5
    return energy**-photon_index * np.exp(-np.minimum(tau, 700.0))


def source_counts_density(camera: str, energy_kev: np.ndarray, photon_index: float, nh: float) -> np.ndarray:
    """Unnormalised counts/keV seen by ``camera`` from the absorbed power law."""
    return photon_spectrum(energy_kev, photon_index, nh) * effective_area(camera, energy_kev)


def background_density(camera: str, energy_kev: np.ndarray) -> np.ndarray:
    """Unnormalised background counts/keV: soft sky, flat particle continuum and fluorescence lines."""
    energy = np.asarray(energy_kev, dtype=float)
    sky = 0.6 * energy**-1.5 * effective_area(camera, energy) / CAMERAS[camera].peak_area
    particle = 0.08 * np.ones_like(energy)
    lines = [(1.487, 0.3)]  # Al K alpha
    if camera == "PN":
        lines += [(8.04, 0.5), (8.9, 0.15), (7.47, 0.2)]  # Cu K alpha/beta, Ni K alpha
    else:
        lines += [(1.74, 0.25)]  # Si K alpha
    for centre, strength in lines:
        line = np.exp(-0.5 * ((energy - centre) / 0.06) ** 2)
        particle = particle + strength * line
    return sky + particle


def band_fractions(density) -> dict[int, float]:
    """Fraction of 0.2-12 keV counts in bands 1..5 for a counts/keV function of energy."""
    counts = {}
    for band in BASIC_BANDS:
        lo, hi = BANDS[band]
        grid = np.linspace(lo, hi, 400)
        counts[band] = float(np.trapezoid(density(grid), grid))
    total = sum(counts.values())
    return {band: value / total for band, value in counts.items()}
