"""HEALPix probability sky maps (gravitational-wave alerts): credible regions, sources inside, XMM coverage.

Reads the FITS layouts LIGO/Virgo/KAGRA alerts publish (the GCN/ligo.skymap conventions):

* **flat maps**: a binary table with a ``PROB`` column (probability per pixel, summing to 1), all
  ``12 NSIDE²`` pixels in the order the ``ORDERING`` keyword gives (``NESTED`` or ``RING``);
  ``NSIDE`` is a power of two (taken from the row count when the keyword is absent). Rows holding
  a vector of pixels (``TFORM = '1024E'``) are read in row order.
* **multi-order maps** (``ORDERING = 'NUNIQ'``): a ``UNIQ`` column (``4·4^order + nested index``)
  and ``PROBDENSITY`` in sr⁻¹ (the probability of a cell is its density times its area).

A map is held as multi-order cells (UNIQ, density per steradian) whatever its layout, so flat
NESTED, flat RING and multi-order files of one map give the same region. The credible region at
level ``p`` is the smallest region holding ``p``: cells sorted by density (highest first) are
taken until their cumulative probability reaches ``p`` (the cell that crosses it is included).

Bad maps raise :class:`SkyMapError` with one sentence. No UI imports here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.io import fits
from mocpy import MOC

from data_loaders.errors import XmmExplorerError
from data_loaders.process_cache import ProcessCache

#: Deepest HEALPix order a map may use (NSIDE 2^29, the UNIQ limit of mocpy).
MAX_ORDER = 29
FULL_SKY_SR = 4 * np.pi
SR_TO_DEG2 = (180 / np.pi) ** 2
#: Probabilities must sum to 1 within this (maps are normalised to float precision).
SUM_TOLERANCE = 0.01
#: Files of the operator's sky-map folder: NAME.fits, NAME.fits.gz, NAME.multiorder.fits.
SUFFIXES = (".multiorder.fits", ".fits.gz", ".fits")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


class SkyMapError(XmmExplorerError):
    """A sky map cannot be read or used; the message is one sentence."""


@dataclass(frozen=True)
class SkyMap:
    """A probability map as multi-order cells: ``uniq`` (NUNIQ) and ``density`` (sr⁻¹)."""

    name: str
    uniq: np.ndarray
    density: np.ndarray
    layout: str  # "NESTED", "RING" or "NUNIQ" (as read)

    @property
    def order(self) -> np.ndarray:
        return (np.floor(np.log2(self.uniq // 4) / 2)).astype(np.int64)

    @property
    def ipix(self) -> np.ndarray:
        return self.uniq - 4 * 4**self.order

    @property
    def area_sr(self) -> np.ndarray:
        return FULL_SKY_SR / (12 * 4.0**self.order)

    @property
    def prob(self) -> np.ndarray:
        return self.density * self.area_sr

    @property
    def max_order(self) -> int:
        return int(self.order.max())

    def credible(self, level: float) -> np.ndarray:
        """Boolean mask of the cells of the smallest region holding probability ``level``."""
        level = _level(level)
        order = np.lexsort((self.uniq, -self.density))  # densest first; ties in a fixed order
        cum = np.cumsum(self.prob[order])
        n = min(int(np.searchsorted(cum, level * cum[-1])) + 1, len(order))
        keep = np.zeros(len(self.uniq), dtype=bool)
        keep[order[:n]] = True
        return keep

    def credible_moc(self, level: float) -> MOC:
        """The credible region at ``level`` as a MOC (at the map's own resolution)."""
        keep = self.credible(level)
        return MOC.from_healpix_cells(self.ipix[keep], self.order[keep], max_depth=self.max_order)

    def area_deg2(self, level: float) -> float:
        """Area of the credible region at ``level`` in deg² (sum of its cells)."""
        return float(self.area_sr[self.credible(level)].sum() * SR_TO_DEG2)

    def density_at(self, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
        """Probability density (sr⁻¹) at each position (NaN for an invalid position)."""
        return self._at(self.density, ra_deg, dec_deg)

    def level_at(self, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
        """The smallest credible level whose region holds each position (0..1; NaN for an invalid position)."""
        order = np.lexsort((self.uniq, -self.density))
        cum = np.empty(len(order))
        cum[order] = np.cumsum(self.prob[order])
        return self._at(cum / cum.max(), ra_deg, dec_deg)

    def _at(self, values: np.ndarray, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
        from astropy_healpix import HEALPix

        ra = np.asarray(ra_deg, dtype=np.float64)
        dec = np.asarray(dec_deg, dtype=np.float64)
        ok = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
        top = self.max_order
        deep = HEALPix(nside=2**top, order="nested").lonlat_to_healpix(
            np.where(ok, ra, 0) * u.deg, np.where(ok, dec, 0) * u.deg
        )
        shift = 2 * (top - self.order)
        start = self.ipix << shift  # each cell as a range of deepest-order pixels
        sort = np.argsort(start)
        i = np.clip(np.searchsorted(start[sort], deep, side="right") - 1, 0, len(sort) - 1)
        cell = sort[i]
        inside = deep < start[cell] + (np.int64(1) << shift[cell])
        return np.where(ok & inside, values[cell], np.nan)


def _level(level: float) -> float:
    level = float(level)
    if not 0 < level < 1:
        raise SkyMapError(f"The credible level {level:g} must be between 0 and 1 (e.g. 0.9).")
    return level


def _order_of_nside(nside: int, where: str) -> int:
    order = int(nside).bit_length() - 1
    if nside < 1 or 2**order != nside or order > MAX_ORDER:
        raise SkyMapError(f"{where} has NSIDE {nside}, which is not a power of two up to 2^{MAX_ORDER}.")
    return order


def _table_hdu(hdul: fits.HDUList, name: str) -> fits.BinTableHDU:
    for hdu in hdul[1:]:
        if isinstance(hdu, fits.BinTableHDU):
            cols = {c.upper() for c in hdu.columns.names}
            if "PROB" in cols or "UNIQ" in cols:
                return hdu
    raise SkyMapError(f"{name} is not a HEALPix probability map: no table with a PROB or UNIQ column.")


def read_skymap(path: Path | str, name: str | None = None) -> SkyMap:
    """Read a flat (NESTED/RING) or multi-order (NUNIQ) HEALPix probability map."""
    path = Path(path)
    label = path.name
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = _table_hdu(hdul, label)
            cols = {c.upper(): c for c in hdu.columns.names}
            reader = _multiorder if "UNIQ" in cols else _flat
            skymap = reader(hdu.data, cols, hdu.header, label)
    except SkyMapError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise SkyMapError(f"{label} is not a readable FITS sky map ({type(exc).__name__}: {exc}).") from None
    total = float(skymap.prob.sum())
    if not np.isfinite(total) or abs(total - 1) > SUM_TOLERANCE:
        raise SkyMapError(f"{label}: the probabilities sum to {total:.4g}, not 1; this is not a normalised sky map.")
    if (skymap.density < 0).any():
        raise SkyMapError(f"{label} has negative probabilities.")
    return SkyMap(name or map_name(path), skymap.uniq, skymap.density, skymap.layout)


def _flat(data, cols: dict, header: fits.Header, label: str) -> SkyMap:
    prob = np.asarray(data[cols["PROB"]], dtype=np.float64).ravel()
    npix = prob.size
    nside = header.get("NSIDE")
    if nside is None:
        nside = int(round(np.sqrt(npix / 12)))
    try:
        nside = int(nside)
    except (TypeError, ValueError):
        raise SkyMapError(f"{label} has an NSIDE keyword {nside!r} that is not a whole number.") from None
    order = _order_of_nside(nside, label)
    if npix != 12 * nside**2:
        raise SkyMapError(f"{label} has {npix:,} pixels, but NSIDE {nside} needs 12·NSIDE² = {12 * nside**2:,}.")
    ordering = str(header.get("ORDERING", "")).strip().upper()
    if ordering not in ("NESTED", "RING"):
        raise SkyMapError(f"{label} has ORDERING {ordering or 'missing'}; a flat map must say NESTED or RING.")
    if ordering == "RING":
        from astropy_healpix import HEALPix

        prob = prob[HEALPix(nside=nside).nested_to_ring(np.arange(npix))]  # value of each nested pixel
    prob = np.nan_to_num(prob, nan=0.0)
    area = FULL_SKY_SR / npix
    uniq = 4 * 4**order + np.arange(npix, dtype=np.int64)
    return SkyMap(label, uniq, prob / area, ordering)


def _multiorder(data, cols: dict, header: fits.Header, label: str) -> SkyMap:
    uniq = np.asarray(data[cols["UNIQ"]]).astype(np.int64).ravel()
    if "PROBDENSITY" in cols:
        density = np.asarray(data[cols["PROBDENSITY"]], dtype=np.float64).ravel()
        unit = str(header.get(f"TUNIT{list(cols).index('PROBDENSITY') + 1}", "sr-1")).strip().lower()
        if unit in ("deg-2", "1/deg2", "deg**-2", "deg^-2"):
            density = density * SR_TO_DEG2
        elif unit not in ("sr-1", "1/sr", "sr**-1", "sr^-1", ""):
            raise SkyMapError(f"{label} gives PROBDENSITY in {unit!r}; expected sr-1.")
    elif "PROB" in cols:
        density = None
    else:
        raise SkyMapError(f"{label} has a UNIQ column but no PROBDENSITY (sr-1) column.")
    if uniq.size == 0 or (uniq < 4).any():
        raise SkyMapError(f"{label} has UNIQ values below 4, which are not HEALPix cells.")
    order = (np.floor(np.log2(uniq // 4) / 2)).astype(np.int64)
    if order.max() > MAX_ORDER:
        raise SkyMapError(f"{label} has cells deeper than order {MAX_ORDER}.")
    if density is None:  # PROB per cell in a NUNIQ table
        density = np.asarray(data[cols["PROB"]], dtype=np.float64).ravel() / (FULL_SKY_SR / (12 * 4.0**order))
    return SkyMap(label, uniq, np.nan_to_num(density, nan=0.0), "NUNIQ")


# --- writing (the demo and the tests) ---------------------------------------------------------
def _header(extra: dict) -> fits.Header:
    h = fits.Header()
    h["PIXTYPE"] = ("HEALPIX", "HEALPIX pixelisation")
    h["COORDSYS"] = ("C", "Ecliptic, Galactic or Celestial (equatorial)")
    for k, v in extra.items():
        h[k] = v
    return h


def write_flat(prob_nested: np.ndarray, path: Path, ordering: str = "NESTED", object_name: str = "") -> Path:
    """Write a flat map (probability per pixel given in NESTED order) as ``ordering`` (NESTED/RING)."""
    prob = np.asarray(prob_nested, dtype=np.float64)
    nside = int(round(np.sqrt(prob.size / 12)))
    if ordering == "RING":
        from astropy_healpix import HEALPix

        prob = prob[HEALPix(nside=nside).ring_to_nested(np.arange(prob.size))]
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column(name="PROB", format="D", unit="pix-1", array=prob)],
        header=_header({"ORDERING": ordering, "NSIDE": nside, "INDXSCHM": "IMPLICIT", "OBJECT": object_name}),
    )
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return Path(path)


def to_multiorder(prob_nested: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(UNIQ, PROBDENSITY sr⁻¹) of a flat NESTED map, merging each 4 siblings of equal density into their parent."""
    prob = np.asarray(prob_nested, dtype=np.float64)
    order = int(round(np.log2(np.sqrt(prob.size / 12))))
    ipix, dens = np.arange(prob.size, dtype=np.int64), prob / (FULL_SKY_SR / prob.size)
    done_u, done_d = [], []
    for o in range(order, 0, -1):
        parent, start, count = np.unique(ipix >> 2, return_index=True, return_counts=True)
        same = np.logical_and.reduceat(dens == dens[np.repeat(start, count)], start)
        merge = (count == 4) & same
        rows = np.repeat(merge, count)
        done_u.append(4 * 4**o + ipix[~rows])
        done_d.append(dens[~rows])
        ipix, dens = parent[merge], dens[start[merge]]
        if not ipix.size:
            break
    else:
        done_u.append(4 + ipix)  # order 0
        done_d.append(dens)
    uniq, density = np.concatenate(done_u), np.concatenate(done_d)
    keep = np.argsort(uniq)
    return uniq[keep], density[keep]


def write_multiorder(prob_nested: np.ndarray, path: Path, object_name: str = "") -> Path:
    """Write a flat NESTED map as a multi-order (NUNIQ) map, as LIGO/Virgo/KAGRA alerts publish them."""
    uniq, density = to_multiorder(prob_nested)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="UNIQ", format="K", array=uniq),
            fits.Column(name="PROBDENSITY", format="D", unit="sr-1", array=density),
        ],
        header=_header({"ORDERING": "NUNIQ", "INDXSCHM": "EXPLICIT", "MOCORDER": int(order_of(uniq).max()),
                        "OBJECT": object_name}),
    )  # fmt: skip
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return Path(path)


def order_of(uniq: np.ndarray) -> np.ndarray:
    return (np.floor(np.log2(np.asarray(uniq) // 4) / 2)).astype(np.int64)


def banana_map(
    ra_a: float,
    dec_a: float,
    ra_b: float,
    dec_b: float,
    nside: int = 128,
    radius_deg: float = 20.0,
    width_deg: float = 2.5,
    spread_deg: float = 30.0,
) -> np.ndarray:
    """A synthetic gravitational-wave-like map (probability per NESTED pixel): an arc through two positions.

    The arc is part of a ring of ``radius_deg`` around a centre set perpendicular to the A-B great
    circle, Gaussian across (``width_deg``) and along (``spread_deg`` of position angle); density
    below 1e-6 of the peak is set to zero (as real maps are, to a good approximation), so the
    multi-order form merges the empty sky into large cells.
    """  # fmt: skip
    from astropy.coordinates import SkyCoord
    from astropy_healpix import HEALPix

    a, b = SkyCoord(ra_a * u.deg, dec_a * u.deg), SkyCoord(ra_b * u.deg, dec_b * u.deg)
    mid = a.directional_offset_by(a.position_angle(b), a.separation(b) / 2)
    centre = mid.directional_offset_by(mid.position_angle(b) + 90 * u.deg, radius_deg * u.deg)
    hp = HEALPix(nside=nside, order="nested")
    lon, lat = hp.healpix_to_lonlat(np.arange(hp.npix))
    pix = SkyCoord(lon, lat)
    across = (pix.separation(centre).deg - radius_deg) / width_deg
    pa = (pix.position_angle(centre) - mid.position_angle(centre)).wrap_at(180 * u.deg).deg
    dens = np.exp(-0.5 * across**2 - 0.5 * (pa / spread_deg) ** 2)
    dens[dens < 1e-6 * dens.max()] = 0.0
    return dens / dens.sum()


# --- the operator's folder of maps --------------------------------------------------------------
def map_name(path: Path) -> str:
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def list_maps(folder: Path) -> dict[str, Path]:
    """Maps in a folder by name (file name without .fits/.fits.gz/.multiorder.fits)."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and any(p.name.lower().endswith(s) for s in SUFFIXES) and NAME_RE.match(map_name(p)):
            out.setdefault(map_name(p), p)
    return out


def find_map(folder: Path, name: str) -> Path:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SkyMapError(f"{str(name)[:40]!r} is not a sky-map name (letters, digits, _ . + - only).")
    maps = list_maps(folder)
    if name not in maps:
        known = ", ".join(sorted(maps)[:10]) or "none"
        raise SkyMapError(f"No sky map named '{name}' in {folder} (maps there: {known}).")
    return maps[name]


_REGIONS: ProcessCache[MOC] = ProcessCache("credible regions", max_items=16)
_CONTOURS: ProcessCache[dict[float, list[np.ndarray]]] = ProcessCache("credible contours", max_items=8)


def credible_region(folder: Path, name: str, level: float) -> MOC:
    """The MOC of map ``name``'s credible region at ``level`` (cached while the file is unchanged)."""
    path = find_map(folder, name)
    key = (str(path), path.stat().st_mtime, _level(level))
    return _REGIONS.get(key, lambda: read_skymap(path).credible_moc(key[2]), paths=[path])


def contours(
    skymap: SkyMap, levels=(0.5, 0.9), proj: str = "hammer", frame: str = "icrs", nx: int = 1440
) -> dict[float, list[np.ndarray]]:
    """Credible-region outlines as projected (x, y) polylines (deg, as the sky plot draws), per level.

    The credible level of each point of a grid over the projected sky (``nx`` across: 0.25° on the
    whole sky) is contoured with contourpy; ``frame`` is the sky plot's (icrs or galactic).
    """
    import contourpy

    from data_loaders import projection

    ox, oy = projection.outline(proj)
    xs = np.linspace(np.nanmin(ox), np.nanmax(ox), nx)
    ys = np.linspace(np.nanmin(oy), np.nanmax(oy), max(nx // 2, 2))
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = projection.inverse(gx.ravel(), gy.ravel(), proj)
    if frame == "galactic":
        from astropy.coordinates import SkyCoord

        ok = np.isfinite(lon)
        icrs = SkyCoord(l=np.where(ok, lon, 0) * u.deg, b=np.where(ok, lat, 0) * u.deg, frame="galactic").icrs
        lon, lat = np.where(ok, icrs.ra.deg, np.nan), np.where(ok, icrs.dec.deg, np.nan)
    z = skymap.level_at(lon, lat).reshape(gx.shape)
    gen = contourpy.contour_generator(xs, ys, np.where(np.isfinite(z), z, 1.0))
    return {float(lv): [np.asarray(line) for line in gen.lines(_level(lv)) if len(line) > 1] for lv in levels}


def region_contours(folder: Path, name: str, proj: str, frame: str) -> dict[float, list[np.ndarray]]:
    """50% and 90% outlines of map ``name`` of the folder (cached while the file is unchanged)."""
    path = find_map(folder, name)
    key = (str(path), path.stat().st_mtime, proj, frame)
    return _CONTOURS.get(key, lambda: contours(read_skymap(path), (0.5, 0.9), proj, frame), paths=[path])


# --- the report of `xmm-explorer skymap` ----------------------------------------------------------
@dataclass
class RegionReport:
    name: str
    level: float
    area_deg2: float
    n_sources: int
    covered_fraction: float | None  # None: the release has no coverage MOC
    sources: pd.DataFrame  # SRCID, IAUNAME, SC_RA, SC_DEC, PROBDENSITY (sr-1), PROBDENSITY_DEG2

    def summary(self, release: str) -> str:
        cov = (
            "XMM-Newton coverage unknown (the release has no observation table)"
            if self.covered_fraction is None
            else f"{self.covered_fraction:.2%} of it observed by XMM-Newton"
        )
        return (
            f"{self.name}: {self.level:.0%} credible region {self.area_deg2:,.1f} deg2, {cov}; "
            f"{self.n_sources:,} {release} source{'s' if self.n_sources != 1 else ''} inside."
        )


def region_report(skymap: SkyMap, level: float, release_dir: Path | None) -> RegionReport:
    """Area, catalogue sources inside and XMM-covered fraction of a map's credible region."""
    from data_loaders import coverage
    from data_loaders.schema import SOURCES_FILE

    moc = skymap.credible_moc(level)
    area = skymap.area_deg2(level)
    sources = pd.DataFrame(columns=["SRCID", "SC_RA", "SC_DEC"])
    covered = None
    if release_dir is not None:
        release_dir = Path(release_dir)
        path = release_dir / SOURCES_FILE
        if not path.exists():
            raise SkyMapError(f"Release {release_dir.name} has no sources table.")
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        sources = pd.read_parquet(path, columns=[c for c in ("SRCID", "IAUNAME", "SC_RA", "SC_DEC") if c in names])
        if (release_dir / coverage.OBSERVATIONS_FILE).exists():
            foot = coverage.footprint_moc(release_dir)
            covered = float(moc.intersection(foot).sky_fraction / moc.sky_fraction) if moc.sky_fraction else 0.0
    ra = sources["SC_RA"].to_numpy(np.float64, na_value=np.nan)
    dec = sources["SC_DEC"].to_numpy(np.float64, na_value=np.nan)
    ok = np.isfinite(ra) & np.isfinite(dec)
    inside = np.zeros(len(sources), dtype=bool)
    if ok.any():
        inside[ok] = moc.contains_lonlat(ra[ok] * u.deg, dec[ok] * u.deg)
    found = sources.loc[inside].copy()
    found["PROBDENSITY"] = skymap.density_at(ra[inside], dec[inside])
    found["PROBDENSITY_DEG2"] = found["PROBDENSITY"] / SR_TO_DEG2
    found = found.sort_values("PROBDENSITY", ascending=False, kind="stable").reset_index(drop=True)
    return RegionReport(skymap.name, _level(level), area, len(found), covered, found)


#: The demo's synthetic event: an arc through M31 and M33 (both demo fields).
DEMO_EVENT = "S-DEMO"
DEMO_ENDS = ((10.68, 41.27), (23.46, 30.66))


def write_demo_maps(folder: Path, nside: int = 128) -> dict[str, Path]:
    """The demo's synthetic map in the three layouts alerts use: flat NESTED, flat RING and multi-order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (ra_a, dec_a), (ra_b, dec_b) = DEMO_ENDS
    prob = banana_map(ra_a, dec_a, ra_b, dec_b, nside=nside)
    return {
        "NESTED": write_flat(prob, folder / f"{DEMO_EVENT}-nested.fits", "NESTED", DEMO_EVENT),
        "RING": write_flat(prob, folder / f"{DEMO_EVENT}-ring.fits", "RING", DEMO_EVENT),
        "NUNIQ": write_multiorder(prob, folder / f"{DEMO_EVENT}.multiorder.fits", DEMO_EVENT),
    }
