"""Synthetic EPIC spectra (``SRSPEC``, ``BGSPEC``) and effective areas (``SRCARF``) in the PPS layouts."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from astropy.io import fits

from data_loaders.products.names import product_name
from data_loaders.products.rmf import canned_matrix
from data_loaders.products.spectrum import group_starts
from data_loaders.products.synthetic_detection import SyntheticDetection
from data_loaders.products.synthetic_model import (
    ARF_EDGES_KEV,
    BACKGROUND_PER_AREA,
    CAMERAS,
    ENCIRCLED_ENERGY,
    TOTAL_BAND,
    background_density,
    effective_area,
)
from data_loaders.spectral.ppsfit import photon_flux

SPECDELT_EV = 5.0
#: Crude energy resolution: one Gaussian of this sigma (channels) for every energy.
_RESOLUTION_CHANNELS = 14
_SPECTRUM_GROUP_MIN = 25


def _channel_energy(nchannels: int) -> np.ndarray:
    """Channel centre energies (keV): channel × SPECDELT eV is the channel's lower edge."""
    return (np.arange(nchannels) + 0.5) * SPECDELT_EV / 1000.0


def _fold(density: np.ndarray, total: float, energy: np.ndarray) -> np.ndarray:
    """Expected counts per channel: ``density`` scaled so that 0.2-12 keV holds ``total``, blurred."""
    inside = (energy >= TOTAL_BAND[0]) & (energy <= TOTAL_BAND[1])
    per_channel = density * SPECDELT_EV / 1000.0
    norm = per_channel[inside].sum()
    expected = per_channel * (total / norm if norm > 0 else 0.0)
    half = 4 * _RESOLUTION_CHANNELS
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / _RESOLUTION_CHANNELS) ** 2)
    return np.convolve(expected, kernel / kernel.sum(), mode="same")


@lru_cache(maxsize=4)
def _source_rate_per_norm(camera: str, photon_index: float, nh: float) -> np.ndarray:
    """Source count rate per channel of a unit-normalisation absorbed power law, through the ARF and canned RMF.

    The same folding the PPS spectral fit inverts (:mod:`data_loaders.spectral.ppsfit`): Wilms
    ISM absorption with xraydb cross-sections, the demo ARF (PSF fraction included), and the
    demo's canned redistribution matrix of the camera (:mod:`data_loaders.products.rmf`).
    """
    model = CAMERAS[camera]
    edges, matrix = canned_matrix(model.instrume, model.nchannels)
    lo, hi = edges[:-1], edges[1:]
    area = effective_area(camera, 0.5 * (lo + hi), psf_fraction=ENCIRCLED_ENERGY)
    rate = matrix.T @ (area * photon_flux("powerlaw", (photon_index, nh, 0.0), lo, hi))
    rate.setflags(write=False)
    return rate


def source_norm(det: SyntheticDetection) -> float:
    """Power-law normalisation (ph/cm2/s/keV at 1 keV) giving pn ``det.rate`` count/s in 0.2-12 keV."""
    energy = _channel_energy(CAMERAS["PN"].nchannels)
    inside = (energy >= TOTAL_BAND[0]) & (energy <= TOTAL_BAND[1])
    per_norm = float(_source_rate_per_norm("PN", det.photon_index, det.nh)[inside].sum())
    return det.rate / per_norm if per_norm > 0 else 0.0


def _expected_counts(det: SyntheticDetection, camera: str) -> tuple[np.ndarray, np.ndarray]:
    """Expected source-region and background-region counts per channel.

    The source is one physical spectrum for every camera (the normalisation that gives pn its
    rate), drawn through each camera's ARF and canned response.
    """
    model = CAMERAS[camera]
    energy = _channel_energy(model.nchannels)
    band = (energy > 0.1) & (energy < 15.0)
    exposure = det.exposure_of(camera)
    source = _source_rate_per_norm(camera, det.photon_index, det.nh) * source_norm(det) * exposure
    bkg_total = BACKGROUND_PER_AREA * det.backscal * model.rate_factor * exposure
    background_in_source = _fold(np.where(band, background_density(camera, energy), 0.0), bkg_total, energy)
    area_ratio = det.backscal_background / det.backscal
    return source + background_in_source, background_in_source * area_ratio


def _spectrum_header(hdu: fits.BinTableHDU, det: SyntheticDetection, camera: str, kind: str) -> None:
    model = CAMERAS[camera]
    expid = model.spectrum_expid
    is_source = kind == "source"
    cards = [
        ("HDUCLASS", "OGIP", "format conforms to OGIP standard"),
        ("HDUCLAS1", "SPECTRUM", "PHA dataset"),
        ("HDUVERS", "1.2.1", ""),
        ("HDUCLAS2", "TOTAL" if is_source else "BKG", ""),
        ("HDUCLAS3", "COUNT", "PHA data stored as counts"),
        ("CHANTYPE", "PI", "channels are energy-corrected (PI)"),
        ("DETCHANS", model.nchannels, "total number of detector channels"),
        ("TLMIN1", 0, ""),
        ("TLMAX1", model.nchannels - 1, ""),
        ("SPECDELT", SPECDELT_EV, "[eV] channel width in PI units"),
        ("SPECPIX", 0, "channel of the reference energy"),
        ("SPECVAL", 0.0, "[eV] energy at SPECPIX"),
        ("POISSERR", True, "Poissonian errors apply"),
        ("SYS_ERR", 0.0, ""),
        ("EXPOSURE", det.exposure_of(camera), "[s] exposure time"),
        (
            "BACKSCAL",
            det.backscal if is_source else det.backscal_background,
            "[pixel**2] extraction area (0.05 arcsec pixels)",
        ),
        ("AREASCAL", 1.0, "area scaling factor"),
        ("CORRFILE", "none", ""),
        ("CORRSCAL", 1.0, ""),
        ("RESPFILE", model.respfile if is_source else "none", "canned response, not shipped"),
        (
            "ANCRFILE",
            product_name(det.obs_id, camera, expid, "SRCARF", det.src_num) if is_source else "none",
            "effective area",
        ),
        (
            "BACKFILE",
            product_name(det.obs_id, camera, expid, "BGSPEC", det.src_num) if is_source else "none",
            "background spectrum",
        ),
        *det.common_cards(camera),
    ]
    for key, value, comment in cards:
        hdu.header[key] = (value, comment)


def spectrum_hdul(det: SyntheticDetection, camera: str, kind: str) -> fits.HDUList:
    """``SRSPEC`` (``kind='source'``) or ``BGSPEC`` (``kind='background'``) of ``camera``."""
    model = CAMERAS[camera]
    expected_src, expected_bkg = _expected_counts(det, camera)
    channel = np.arange(model.nchannels, dtype=np.int16)
    if kind == "source":
        counts = det.rng(camera, "spectrum").poisson(expected_src).astype(np.int32)
        grouping = np.full(model.nchannels, -1, dtype=np.int16)
        grouping[group_starts(counts.astype(float), _SPECTRUM_GROUP_MIN)] = 1
        columns = [
            fits.Column("CHANNEL", "I", array=channel),
            fits.Column("COUNTS", "J", unit="count", array=counts),
            fits.Column("GROUPING", "I", array=grouping),
            fits.Column("QUALITY", "I", array=np.zeros(model.nchannels, dtype=np.int16)),
        ]
    else:
        counts = det.rng(camera, "background").poisson(expected_bkg).astype(np.int32)
        columns = [
            fits.Column("CHANNEL", "I", array=channel),
            fits.Column("COUNTS", "J", unit="count", array=counts),
        ]
    hdu = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    _spectrum_header(hdu, det, camera, kind)
    return fits.HDUList(
        [
            det.primary_hdu(camera),
            hdu,
            det.region_hdu("REGION", kind),
        ]
    )


def arf_hdul(det: SyntheticDetection, camera: str) -> fits.HDUList:
    """``SRCARF``: effective area (cm²) on 10 eV bins, including the extraction circle's PSF fraction."""
    lo, hi = ARF_EDGES_KEV[:-1], ARF_EDGES_KEV[1:]
    area = effective_area(camera, 0.5 * (lo + hi), psf_fraction=ENCIRCLED_ENERGY)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column("ENERG_LO", "E", unit="keV", array=lo),
            fits.Column("ENERG_HI", "E", unit="keV", array=hi),
            fits.Column("SPECRESP", "E", unit="cm**2", array=np.round(area, 3)),
        ],
        name="SPECRESP",
    )
    for key, value, comment in [
        ("HDUCLASS", "OGIP", "format conforms to OGIP standard"),
        ("HDUCLAS1", "RESPONSE", ""),
        ("HDUCLAS2", "SPECRESP", "effective area"),
        ("HDUVERS", "1.1.0", ""),
        ("RESPFILE", CAMERAS[camera].respfile, "response this area goes with"),
        *det.common_cards(camera),
    ]:
        hdu.header[key] = (value, comment)
    return fits.HDUList([det.primary_hdu(camera), hdu])
