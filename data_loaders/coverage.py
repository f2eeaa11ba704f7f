"""Sky coverage of a release: footprint MOC, "was this position observed?", flux upper limits.

Needs the release's observation table (``observations.parquet`` in the release directory,
put there by :func:`attach_observations`): ``OBS_ID``, ``RA_PNT``, ``DEC_PNT`` (deg),
``MJD_START``, ``MJD_STOP`` (MJD), ``PN_ONTIME``, ``M1_ONTIME``, ``M2_ONTIME`` (s, NaN when the
camera was off) and optionally ``FIELD_RADIUS`` (deg, default 15').

Upper-limit method (:func:`flux_upper_limit`), a sensitivity estimate, not a measurement:

1. Off-axis angle θ from the pointing; vignetting ``v = 1 - 0.45 (θ/15')²`` (EPIC at ~1.5 keV).
2. Aperture of radius ``r = 15" (1 + 0.5 (θ/15')²)`` (the PSF widens off axis) holding
   ``EEF = 0.7`` of the source counts; expected background counts
   ``B = Σ_cam b_cam t_cam π r²`` with ``b`` = 2e-3 (pn), 6e-4 (each MOS) ct/s/arcmin²
   (0.2-12 keV, quiescent particle + cosmic background, not vignetted: conservative).
3. Counts limit at ``sigma`` (default 3): Gehrels (1986, eq. 9) upper bound for ``B``
   observed counts, minus ``B``, divided by the EEF.
4. Flux: counts / Σ_cam (t_cam · v · ECF_cam), with 0.2-12 keV ECFs for an absorbed power law
   Γ = 1.7, NH = 3e20 cm⁻² (the band ECFs of the 4XMM catalogue, thin filter, weighted by the
   spectrum's energy-flux fractions per band).

More exposure gives a lower limit (background-limited: ∝ t^-1/2; source-limited: ∝ 1/t), a
larger off-axis angle a higher one; both are tested.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
import pandas as pd

from data_loaders import projection, schema
from data_loaders.errors import CatalogueError
from data_loaders.ingest import record_added_table

if TYPE_CHECKING:
    from mocpy import MOC

OBSERVATIONS_FILE = "observations.parquet"
OBSERVATION_COLUMNS = ("OBS_ID", "RA_PNT", "DEC_PNT", "MJD_START", "MJD_STOP", "PN_ONTIME", "M1_ONTIME", "M2_ONTIME")
FIELD_RADIUS_DEG = 0.25
#: MOC order of the footprint: order 14 cells are 12.9" across, so a 15' disc is within ~3 % of its area.
DEFAULT_ORDER = 14
FULL_SKY_DEG2 = 4 * np.pi * (180 / np.pi) ** 2

CAMERAS = ("PN", "M1", "M2")
#: Background surface brightness, ct/s/arcmin², 0.2-12 keV, per camera.
BACKGROUND = np.array([2.0e-3, 6.0e-4, 6.0e-4])
APERTURE_ARCSEC = 15.0
EEF = 0.7
#: 4XMM band ECFs (thin filter), ct cm² / erg, bands 1-5: (pn, MOS).
BAND_ECF = np.array(
    [[9.525e11, 1.655e11], [8.121e11, 1.896e11], [5.867e11, 2.046e11], [1.953e11, 0.744e11], [0.578e11, 0.148e11]]
)
UL_GAMMA, UL_NH = 1.7, 3e20


def _band_fractions(gamma: float = UL_GAMMA, nh: float = UL_NH) -> np.ndarray:
    """Energy-flux fraction of an absorbed power law in each of the 5 basic bands (sums to 1)."""
    out = []
    for b in schema.BASIC_BANDS:
        lo, hi = schema.BANDS[b]
        e = np.geomspace(lo, hi, 200)
        absorb = np.exp(-nh * 2.4e-22 * e ** (-8.0 / 3.0))  # Morrison & McCammon-like cross-section
        out.append(np.trapezoid(e ** (1 - gamma) * absorb, e))
    frac = np.array(out)
    return frac / frac.sum()


#: Counts per erg/cm² in 0.2-12 keV for the upper-limit spectrum: (pn, MOS1, MOS2).
ECF_TOTAL = (_band_fractions()[:, None] * BAND_ECF).sum(0)[[0, 1, 1]]


# --- the observation table ----------------------------------------------------------------------
def attach_observations(release_dir: Path, path: Path) -> Path:
    """Copy an observation table into a release directory as ``observations.parquet``.

    Also records it in ``release.json`` (when the release has one) and caches the footprint MOC.
    """
    release_dir, path = Path(release_dir), Path(path)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{path.name} is not a readable Parquet observation table ({exc}).") from exc
    missing = [c for c in OBSERVATION_COLUMNS if c not in frame]
    if missing:
        raise CatalogueError(f"{path.name} is not an observation table: missing column(s) {', '.join(missing)}.")
    target = release_dir / OBSERVATIONS_FILE
    shutil.copyfile(path, target)
    write_moc(footprint_moc(frame), release_dir / _moc_file(DEFAULT_ORDER))
    record_added_table(release_dir, "observations")
    return target


def load_observations(release_dir: Path) -> pd.DataFrame:
    """The observation table of an ingested release (CatalogueError if none was attached)."""
    p = Path(release_dir) / OBSERVATIONS_FILE
    if not p.exists():
        raise CatalogueError(
            f"Release {Path(release_dir).name} has no observation table; attach one with "
            f"`xmm-explorer coverage --release {Path(release_dir).name} --observations FILE`."
        )
    return pd.read_parquet(p)


def _obs(observations: pd.DataFrame | Path | str) -> pd.DataFrame:
    return observations if isinstance(observations, pd.DataFrame) else load_observations(Path(observations))


def _radius(obs: pd.DataFrame) -> np.ndarray:
    if "FIELD_RADIUS" in obs:
        return np.nan_to_num(obs["FIELD_RADIUS"].to_numpy(np.float64), nan=FIELD_RADIUS_DEG)
    return np.full(len(obs), FIELD_RADIUS_DEG)


# --- footprint ----------------------------------------------------------------------------------
def _moc_file(order: int) -> str:
    return f"footprint_moc_o{order}.fits"


def footprint_moc(observations: pd.DataFrame | Path | str, order: int = DEFAULT_ORDER) -> MOC:
    """Union of the observations' field discs as a MOC (cached in the release directory)."""
    from mocpy import MOC  # imported when used: it pulls in matplotlib (~0.5 s for every command)

    if not isinstance(observations, pd.DataFrame):
        cached = Path(observations) / _moc_file(order)
        if cached.exists():
            return MOC.from_fits(cached)
    obs = _obs(observations)
    ra, dec = obs["RA_PNT"].to_numpy(np.float64), obs["DEC_PNT"].to_numpy(np.float64)
    ok = np.isfinite(ra) & np.isfinite(dec)
    if not ok.any():
        return MOC.new_empty(order)
    return MOC.from_cones(
        lon=ra[ok] * u.deg,
        lat=dec[ok] * u.deg,
        radius=_radius(obs)[ok] * u.deg,
        max_depth=order,
        union_strategy="large_cones",
    )


def footprint_area_deg2(moc: MOC) -> float:
    """Sky area of a MOC in square degrees."""
    return float(moc.sky_fraction * FULL_SKY_DEG2)


def write_moc(moc: MOC, path: Path) -> Path:
    """Save a MOC as IVOA FITS, or JSON when ``path`` ends in .json."""
    path = Path(path)
    moc.save(path, format="json" if path.suffix.lower() == ".json" else "fits", overwrite=True)
    return path


def footprint_pixels(observations: pd.DataFrame | Path | str, order: int = 9) -> np.ndarray:
    """Nested HEALPix indices at ``order`` touched by the footprint (a mask to datashade)."""
    return np.asarray(footprint_moc(observations).degrade_to_order(order).flatten(), dtype=np.int64)


def footprint_polygons(
    observations: pd.DataFrame | Path | str, proj: str = "hammer", lon0: float = 0.0, n: int = 48
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Outline of every field as projected (x, y) polylines (deg, ICRS), split where they wrap."""
    from astropy.coordinates import SkyCoord

    obs = _obs(observations)
    ra0, dec0, r = obs["RA_PNT"].to_numpy(np.float64), obs["DEC_PNT"].to_numpy(np.float64), _radius(obs)
    ok = np.isfinite(ra0) & np.isfinite(dec0)
    ra0, dec0, r = ra0[ok], dec0[ok], r[ok]
    pa = np.tile(np.linspace(0, 360, n), ra0.size) * u.deg
    rim = SkyCoord(np.repeat(ra0, n) * u.deg, np.repeat(dec0, n) * u.deg).directional_offset_by(
        pa, np.repeat(r, n) * u.deg
    )
    xs, ys = projection.forward(rim.ra.deg, rim.dec.deg, proj, lon0)
    out = []
    for x, y in zip(xs.reshape(-1, n), ys.reshape(-1, n), strict=True):
        cuts = np.flatnonzero(np.abs(np.diff(x)) > 90) + 1  # a circle crossing the map edge
        out += [(a, b) for a, b in zip(np.split(x, cuts), np.split(y, cuts), strict=True) if a.size > 1]
    return out


#: HEALPix cell size (deg) at order 0 is about 58.6°; at order k it is that over 2**k.
_CELL0_DEG = float(np.degrees(np.sqrt(4 * np.pi / 12)))


#: The finest order drawn: order 20 cells are 0.2" across.
MAX_RASTER_ORDER = 19


def raster_order(pixel_deg: float, max_order: int = DEFAULT_ORDER) -> int:
    """The MOC order whose cells are about one screen pixel (``pixel_deg`` of sky) across, or larger.

    Cells at least a pixel wide keep every field visible at any zoom (a field smaller than a
    pixel still covers one); finer than ``max_order`` adds nothing.
    """
    if not np.isfinite(pixel_deg) or pixel_deg <= 0:
        return max_order
    return int(np.clip(np.floor(np.log2(_CELL0_DEG / pixel_deg)), 0, max_order))


@functools.lru_cache(maxsize=1)
def _galactic_to_icrs() -> np.ndarray:
    """The rotation matrix taking galactic unit vectors to ICRS ones (astropy's, built once)."""
    from astropy.coordinates import SkyCoord

    axes = SkyCoord(l=[0, 90, 0] * u.deg, b=[0, 0, 90] * u.deg, frame="galactic").icrs.cartesian
    return np.column_stack([axes.x.value, axes.y.value, axes.z.value]).T


def _rotated(lon, lat, frame: str, inverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) deg turned galactic -> ICRS (``inverse``: ICRS -> galactic) when ``frame`` is galactic."""
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if frame == "icrs":
        return lon, lat
    if frame != "galactic":
        raise ValueError(f"Unknown frame {frame!r}; expected 'icrs' or 'galactic'.")
    lo, la = np.radians(lon), np.radians(lat)
    xyz = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
    matrix = _galactic_to_icrs()
    x, y, z = np.tensordot(matrix.T if inverse else matrix, xyz, axes=1)
    return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))


def to_icrs(lon, lat, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) deg of positions given in ``frame`` ('icrs' or 'galactic'); a fixed rotation, NaN stays NaN."""
    return _rotated(lon, lat, frame, inverse=False)


def from_icrs(ra, dec, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) deg in ``frame`` of ICRS positions; the inverse of :func:`to_icrs`."""
    return _rotated(ra, dec, frame, inverse=True)


def view_region(proj: str, frame: str, x_range, y_range, order: int, n: int = 24) -> MOC | None:
    """A MOC (ICRS) holding the part of the sky a zoomed view shows; None when the view is most of the sky.

    A cone around the view's centre through the farthest of ``n`` x ``n`` sample points.
    """
    from mocpy import MOC  # imported when used: it pulls in matplotlib (~0.5 s for every command)

    (x0, x1), (y0, y1) = x_range, y_range
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    lon, lat = projection.inverse(gx.ravel(), gy.ravel(), proj)
    clon, clat = projection.inverse(np.array([(x0 + x1) / 2]), np.array([(y0 + y1) / 2]), proj)
    if not (np.isfinite(lon).all() and np.isfinite(clon[0])):
        return None  # the view reaches the edge of the projected sky
    # Sample points a cell apart at most: pad by the sampling step and a cell.
    radius = np.nanmax(projection.separation_deg(lon, lat, clon[0], clat[0])) * (1 + 2.0 / n)
    radius += _CELL0_DEG / 2**order
    if radius > 60:
        return None
    ra, dec = to_icrs(clon, clat, frame)
    return MOC.from_cone(lon=ra[0] * u.deg, lat=dec[0] * u.deg, radius=radius * u.deg, max_depth=order)


def footprint_cells(moc: MOC, order: int, region: MOC | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) deg of the centres of the HEALPix cells at ``order`` that touch ``moc`` (and ``region``).

    Finer than the MOC's own order, its cells are split into their children at ``order``.
    """
    from astropy_healpix import healpix_to_lonlat

    base = min(order, moc.max_order)
    coarse = moc if base == moc.max_order else moc.degrade_to_order(base)
    if region is not None:
        coarse = coarse.intersection(region)
        if coarse.max_order > base:
            coarse = coarse.degrade_to_order(base)
    if coarse.empty():
        return np.empty(0), np.empty(0)
    ipix = np.asarray(coarse.flatten(), dtype=np.int64)  # at coarse.max_order <= base
    split = order - coarse.max_order
    if split > 0:
        ipix = (ipix[:, None] * 4**split + np.arange(4**split, dtype=np.int64)).ravel()
    lon, lat = healpix_to_lonlat(ipix, 2**order, order="nested")
    return lon.deg, lat.deg


def _edges(inside: np.ndarray) -> np.ndarray:
    """uint8 image: 0 outside, 1 inside, 2 on the edge of ``inside`` (the canvas border is no edge)."""
    pad = np.pad(inside, 1, mode="edge")
    edge = inside & ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    out = inside.astype(np.uint8)
    out[edge] = 2
    return out


def raster(x: np.ndarray, y: np.ndarray, x_range, y_range, width: int, height: int) -> np.ndarray:
    """Bottom-up boolean image: which pixels of a ``width`` x ``height`` canvas hold at least one point."""
    (x0, x1), (y0, y1) = x_range, y_range
    with np.errstate(invalid="ignore"):
        ix = np.floor((x - x0) / (x1 - x0) * width)
        iy = np.floor((y - y0) / (y1 - y0) * height)
    ok = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    flat = iy[ok].astype(np.int64) * width + ix[ok].astype(np.int64)
    return np.bincount(flat, minlength=width * height).reshape(height, width) > 0


#: Views narrower than this (deg) with no region (over the sky's edge) are drawn by pixel lookup.
REGION_FREE_MAX_DEG = 60.0
#: Views fewer MOC cells wide than this are drawn by looking up pixel centres (cell centres are too sparse).
SMALL_VIEW_PIXELS = 64


def _pixel_lookup(moc: MOC, frame: str, proj: str, x_range, y_range, width: int, height: int) -> np.ndarray:
    """Bottom-up boolean image: which pixel centres of the canvas lie in ``moc``."""
    (x0, x1), (y0, y1) = x_range, y_range
    gx, gy = np.meshgrid(
        x0 + (np.arange(width) + 0.5) * (x1 - x0) / width, y0 + (np.arange(height) + 0.5) * (y1 - y0) / height
    )
    lon, lat = projection.inverse(gx.ravel(), gy.ravel(), proj)
    ok = np.isfinite(lon) & np.isfinite(lat)
    inside = np.zeros(lon.size, dtype=bool)
    if ok.any():
        ra, dec = to_icrs(lon[ok], lat[ok], frame)
        inside[ok] = moc.contains_lonlat(ra * u.deg, dec * u.deg)
    return inside.reshape(height, width)


def footprint_raster(
    moc: MOC, frame: str, proj: str, x_range, y_range, width: int, height: int
) -> tuple[np.ndarray, int]:
    """The footprint drawn on a ``width`` x ``height`` sky canvas: (bottom-up uint8 image, MOC order used).

    0 outside, 1 inside, 2 on the footprint's edge. The MOC's HEALPix cells at an order finer
    than a pixel (:func:`raster_order` + 1) have their centres projected with
    :func:`projection.forward` and counted per pixel: the cost depends on the area covered in
    the view, not on the number of fields, and a zoomed-in view is drawn at a finer order
    (only the cells in view). Zoomed in beyond the MOC's own cells, the image has one pixel
    per cell, enlarged to about the canvas (each pixel a block) so its edges stay thin;
    it may then be a few pixels smaller than the canvas.
    """
    width, height = max(int(width), 2), max(int(height), 2)
    view_w = abs(x_range[1] - x_range[0])
    finest = _CELL0_DEG / 2**moc.max_order
    sample = max(view_w / width, finest)
    order = min(raster_order(sample, MAX_RASTER_ORDER) + 1, moc.max_order + 1)
    w = max(2, min(width, int(round(view_w / sample))))
    h = max(2, min(height, int(round(height * w / width))))
    region = None if w < SMALL_VIEW_PIXELS else view_region(proj, frame, x_range, y_range, min(order, moc.max_order))
    if w < SMALL_VIEW_PIXELS:  # a view a few cells wide: look up each pixel's centre in the MOC
        w = min(width, SMALL_VIEW_PIXELS)
        h = max(2, min(height, int(round(height * w / width))))
        inside = _pixel_lookup(moc, frame, proj, x_range, y_range, w, h)
    elif region is None and view_w < REGION_FREE_MAX_DEG:
        # A small view over the edge of the projected sky has no region: cells of the whole MOC at
        # this fine order would be hundreds of millions (the 1M demo's process grew past 20 GB).
        inside = _pixel_lookup(moc, frame, proj, x_range, y_range, w, h)
    else:
        ra, dec = footprint_cells(moc, order, region)
        lon, lat = from_icrs(ra, dec, frame)
        x, y = projection.forward(lon, lat, proj)
        inside = raster(x, y, x_range, y_range, w, h)
    block = min(width // w, height // h)
    if block > 1:
        inside = inside.repeat(block, axis=0).repeat(block, axis=1)
    return _edges(inside), order


# --- was this position observed? ------------------------------------------------------------------
def observations_covering(observations: pd.DataFrame | Path | str, ra: float, dec: float) -> pd.DataFrame:
    """Observations whose field contains (ra, dec) (deg), oldest first.

    Columns: OBS_ID, MJD_START, MJD_STOP (MJD), PN_ONTIME, M1_ONTIME, M2_ONTIME (s), OFFAX
    (arcmin, distance from the pointing).
    """
    obs = _obs(observations)
    sep = projection.separation_deg(obs["RA_PNT"], obs["DEC_PNT"], ra, dec)
    hit = sep <= _radius(obs)
    out = obs.loc[hit, list(OBSERVATION_COLUMNS[:1] + OBSERVATION_COLUMNS[3:])].copy()
    out["OFFAX"] = sep[hit] * 60.0
    return out.sort_values("MJD_START", kind="stable").reset_index(drop=True)


def gehrels_upper(n: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    """Gehrels (1986) eq. 9: upper confidence bound on a Poisson mean for ``n`` observed counts."""
    n1 = np.asarray(n, dtype=np.float64) + 1.0
    return n1 * (1.0 - 1.0 / (9.0 * n1) + sigma / (3.0 * np.sqrt(n1))) ** 3


def flux_upper_limit(
    pn_time, m1_time, m2_time, offax_arcmin, sigma: float = 3.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flux limit erg/cm²/s 0.2-12 keV, source-counts limit, expected background counts); vectorised.

    Exposures in s (NaN or 0: camera off), off-axis angle in arcmin. See the module docstring.
    """
    t = np.nan_to_num(np.column_stack([np.atleast_1d(np.asarray(v, np.float64)) for v in (pn_time, m1_time, m2_time)]))
    theta = np.atleast_1d(np.asarray(offax_arcmin, np.float64))
    vign = np.clip(1.0 - 0.45 * (theta / 15.0) ** 2, 0.05, 1.0)
    r_arcmin = APERTURE_ARCSEC * (1.0 + 0.5 * (theta / 15.0) ** 2) / 60.0
    bkg = (t * BACKGROUND).sum(1) * np.pi * r_arcmin**2
    counts = (gehrels_upper(bkg, sigma) - bkg) / EEF
    with np.errstate(divide="ignore", invalid="ignore"):
        flux = counts / ((t * ECF_TOTAL).sum(1) * vign)
    flux = np.where((t > 0).any(1), flux, np.nan)
    return flux, counts, bkg


def upper_limit(observations: pd.DataFrame | Path | str, ra: float, dec: float, sigma: float = 3.0) -> pd.DataFrame:
    """Estimated ``sigma`` flux upper limit at (ra, dec) in each covering observation.

    Columns of :func:`observations_covering` plus BKG_COUNTS, COUNTS_UL (ct) and FLUX_UL
    (erg/cm²/s, 0.2-12 keV, Γ = 1.7, NH = 3e20).
    """
    cov = observations_covering(observations, ra, dec)
    flux, counts, bkg = flux_upper_limit(cov["PN_ONTIME"], cov["M1_ONTIME"], cov["M2_ONTIME"], cov["OFFAX"], sigma)
    return cov.assign(BKG_COUNTS=bkg, COUNTS_UL=counts, FLUX_UL=flux)
