"""Write a detection's synthetic source products into the archive layout, reproducibly."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from data_loaders.products.fitsfile import write_ftz
from data_loaders.products.names import (
    SPECTRUM_ORDER,
    TOTAL_BAND_ORDER,
    product_dir,
    product_name,
)
from data_loaders.products.synthetic_detection import SyntheticDetection
from data_loaders.products.synthetic_lightcurve import lightcurve_hduls
from data_loaders.products.synthetic_model import CAMERAS
from data_loaders.products.synthetic_spectrum import arf_hdul, spectrum_hdul


def write_detection_products(
    root: str | Path,
    *,
    obs_id: str,
    src_num: int,
    ra: float,
    dec: float,
    rate: float,
    exposure: float,
    mjd_start: float,
    cameras: Iterable[str] = ("PN", "M1", "M2"),
    variable: bool = False,
    fvar: float = 0.0,
    photon_index: float = 1.9,
    nh: float = 0.03,
    seed: int = 0,
) -> list[Path]:
    """Write lightcurve, spectrum, background spectrum and ARF per camera under ``<root>/<OBS_ID>/pps``.

    pn gets a merged lightcurve (``X000``, no statistics in its header) and one per exposure
    (``S003``, and ``U004`` past 60 ks) carrying them, as the pipeline writes; MOS one
    single-exposure lightcurve each. All cameras' lightcurves follow one source model.

    ``rate`` is the pn 0.2-12 keV count rate (count/s; MOS get about a third of it),
    ``exposure`` the on-time (s), ``mjd_start`` the observation start (MJD, TT), ``fvar``
    the r.m.s. fractional amplitude given to a ``variable`` source, ``nh`` the absorbing
    column (1e22 cm⁻²). Files are gzip-compressed FITS with no dates of writing and gzip
    mtime 0, so the same inputs give the same bytes; each is written aside and renamed,
    so concurrent writers of one detection leave complete, identical files.
    Returns the written paths, sorted.
    """
    cameras = tuple(cameras)
    unknown = [c for c in cameras if c not in CAMERAS]
    if unknown:
        raise ValueError(f"unknown camera(s) {', '.join(unknown)}; use PN, M1, M2")
    if not rate >= 0:
        raise ValueError(f"rate must be a non-negative count rate, got {rate}")
    if not exposure > 0:
        raise ValueError(f"exposure must be positive seconds, got {exposure}")
    det = SyntheticDetection(
        obs_id=str(obs_id),
        src_num=int(src_num),
        ra=float(ra),
        dec=float(dec),
        rate=float(rate),
        exposure=float(exposure),
        mjd_start=float(mjd_start),
        variable=bool(variable),
        fvar=float(fvar),
        photon_index=float(photon_index),
        nh=float(nh),
        seed=int(seed),
    )
    directory = product_dir(root, det.obs_id)
    written = []
    for camera in cameras:
        model = CAMERAS[camera]

        def path(expid: str, ptype: str, order: str, camera: str = camera) -> Path:
            return directory / product_name(det.obs_id, camera, expid, ptype, det.src_num, order)

        spec = model.spectrum_expid
        for expid, hdul in lightcurve_hduls(det, camera).items():
            written.append(write_ftz(hdul, path(expid, "SRCTSR", TOTAL_BAND_ORDER)))
        written += [
            write_ftz(spectrum_hdul(det, camera, "source"), path(spec, "SRSPEC", SPECTRUM_ORDER)),
            write_ftz(spectrum_hdul(det, camera, "background"), path(spec, "BGSPEC", SPECTRUM_ORDER)),
            write_ftz(arf_hdul(det, camera), path(spec, "SRCARF", SPECTRUM_ORDER)),
        ]
    return sorted(written)
