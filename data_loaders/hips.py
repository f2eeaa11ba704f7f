"""HiPS folders (IVOA HiPS 1.0): read one to draw under the sky, and write the demo's exposure map as one.

A HiPS is a ``properties`` file and tiles ``Norder{k}/Dir{d}/Npix{i}.{png,jpg,fits}``, each tile
one HEALPix cell of order ``k`` (NESTED, in the frame ``hips_frame``) holding
``hips_tile_width``² pixels of order ``k + log2(width)``. Inside a tile the pixel of NESTED
sub-index ``s`` sits at column ``x`` (the even bits of ``s``) and row ``y`` (its odd bits),
HEALPix's own ``xyf2nest`` layout; FITS tiles store rows bottom-up, PNG and JPEG top-down.

:func:`sky_image` samples the tiles at the centre of each pixel of a sky canvas (any
projection of :mod:`data_loaders.projection`, either frame): nearest HEALPix pixel, at the
tile order whose pixels are about one screen pixel, never finer than the HiPS's deepest order.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd

from data_loaders import hips_service, projection
from data_loaders.coverage import _radius, from_icrs, to_icrs
from data_loaders.hips_service import HipsError

#: Keys the HiPS 1.0 standard requires in ``properties`` (section 4.4).
REQUIRED_KEYS = (
    "creator_did",
    "obs_title",
    "dataproduct_type",
    "hips_version",
    "hips_release_date",
    "hips_status",
    "hips_tile_format",
    "hips_order",
    "hips_frame",
)
FRAMES = {"equatorial": "icrs", "galactic": "galactic"}
#: Angular size (deg) of a HEALPix pixel of order 0; order m pixels are this / 2**m.
_PIXEL0_DEG = float(np.degrees(np.sqrt(4 * np.pi / 12)))
DEMO_TILE_WIDTH = 64
DEMO_ORDER = 5  # tiles ~1.8 deg across, pixels (order 11) ~1.7' across
_TILE_NAME = re.compile(r"Norder(?P<order>\d{1,2})/Dir\d{1,12}/Npix(?P<npix>\d{1,15})\.(?P<ext>png|jpg|fits)")


def parse_properties(text: str, where: str, required=REQUIRED_KEYS) -> dict[str, str]:
    """The ``properties`` text of a HiPS as a dict (HipsError: a ``required`` key missing, or an unknown frame)."""
    props = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    missing = [k for k in required if k not in props]
    if missing:
        raise HipsError(f"The HiPS properties in {where} lack {', '.join(missing)} (required by HiPS 1.0).")
    if props["hips_frame"] not in FRAMES:
        raise HipsError(f"The HiPS in {where} is in frame {props['hips_frame']!r}; expected equatorial or galactic.")
    return props


def read_properties(folder: Path | str) -> dict[str, str]:
    """The ``properties`` of a HiPS folder as a dict (HipsError when missing or lacking a required key)."""
    path = Path(folder) / "properties"
    if not path.is_file():
        raise HipsError(f"{folder} is not a HiPS folder: it has no 'properties' file.")
    return parse_properties(path.read_text(encoding="utf-8", errors="replace"), str(folder))


def tile_path(order: int, npix: int, ext: str) -> str:
    """The tile's path inside a HiPS folder, e.g. ``Norder6/Dir20000/Npix24185.png``."""
    return f"Norder{order}/Dir{(npix // 10000) * 10000}/Npix{npix}.{ext}"


#: Keys a HiPS *service*'s properties must have to be drawn (services in the wild often lack the others).
SERVICE_KEYS = ("hips_tile_format", "hips_order", "hips_frame")


def _spread(v: np.ndarray) -> np.ndarray:
    """Interleave zeros into the bits of ``v`` (bit i -> bit 2i)."""
    out = np.zeros_like(v)
    for bit in range(16):
        out |= ((v >> bit) & 1) << (2 * bit)
    return out


def _compact(s: np.ndarray) -> np.ndarray:
    """The even bits of ``s`` packed together (the inverse of :func:`_spread`)."""
    out = np.zeros_like(s)
    for bit in range(16):
        out |= ((s >> (2 * bit)) & 1) << bit
    return out


def tile_xy(sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(column, row from the bottom) inside a tile of the pixel with NESTED sub-index ``sub``."""
    sub = np.asarray(sub, dtype=np.int64)
    return _compact(sub), _compact(sub >> 1)


@functools.lru_cache(maxsize=8)
def _sub_index(width: int) -> np.ndarray:
    """(row from the bottom, column) -> NESTED sub-index, for a tile ``width`` pixels wide."""
    x = np.arange(width, dtype=np.int64)
    return _spread(x)[None, :] | (_spread(x)[:, None] << 1)


class Hips:
    """A HiPS opened for drawing: its properties, orders and a small per-process tile cache.

    ``source`` is a folder, or the base URL of a HiPS service (:mod:`data_loaders.hips_service`)
    whose files are fetched on the server and kept in ``cache_dir`` (at most ``cache_bytes``);
    ``fresh`` asks the service for its properties even when they are cached.
    """

    def __init__(
        self,
        source: Path | str,
        cache_dir: Path | str | None = None,
        cache_bytes: int = hips_service.DEFAULT_CACHE_BYTES,
        fresh: bool = False,
    ):
        self.service: hips_service.HipsService | None = None
        if hips_service.is_url(source):
            url = hips_service.check_url(str(source))
            if cache_dir is None:
                raise HipsError(f"No cache folder was given for the HiPS service {url}.")
            key = hashlib.sha256(url.encode()).hexdigest()[:16]  # one folder per service
            self.service = hips_service.HipsService(url, Path(cache_dir) / key, cache_bytes)
            self.source = url
            if fresh:
                (self.service.cache_dir / "properties").unlink(missing_ok=True)
            text = self.service.get("properties")
            if text is None:
                raise HipsError(self.service.problem or f"The HiPS service {url} has no 'properties' file.")
            self.properties = parse_properties(text.decode("utf-8", "replace"), url, SERVICE_KEYS)
        else:
            self.folder = Path(source).resolve()
            self.source = str(self.folder)
            self.properties = read_properties(self.folder)
        p = self.properties
        self.frame = FRAMES[p["hips_frame"]]
        self.order = int(p["hips_order"])
        self.order_min = int(p.get("hips_order_min", 0))
        self.width = int(p.get("hips_tile_width", 512))
        self.shift = int(round(np.log2(self.width)))
        formats = p["hips_tile_format"].lower().split()
        # Colour tiles draw as they are; FITS tiles through the properties' pixel cut.
        colour = [("jpg" if f == "jpeg" else f) for f in formats if f in ("png", "jpeg", "jpg")]
        if not colour and "fits" not in formats:
            fmt = p["hips_tile_format"]
            raise HipsError(f"The HiPS in {source} has tiles in {fmt!r}; png, jpeg or fits expected.")
        self.ext: str = colour[0] if colour else "fits"
        self.formats = {*colour, *(["fits"] if "fits" in formats else [])}
        cut = p.get("hips_pixel_cut", "").split()
        self.cut = (float(cut[0]), float(cut[1])) if len(cut) == 2 else None
        self.title = p.get("obs_title", self.source)
        self.tile = functools.lru_cache(maxsize=256)(self._read_tile)

    @property
    def problem(self) -> str | None:
        """One sentence while the HiPS service fails (tiles are then left out), else None."""
        return self.service.problem if self.service is not None else None

    def has_tile(self, order: int, npix: int, ext: str) -> bool:
        """Whether (order, npix, ext) can name a tile of this HiPS (orders 0..hips_order, its formats)."""
        return 0 <= order <= self.order and 0 <= npix < 12 * 4**order and ext in self.formats

    def file(self, name: str) -> bytes | None:
        """The bytes of ``properties`` or of a tile path this HiPS can have (None when absent or unreachable).

        Names are checked against :func:`tile_path` of the parsed numbers, so no name reaches outside the HiPS.
        """
        if name == "properties":
            ext = None
        else:
            m = _TILE_NAME.fullmatch(name)
            if m is None:
                return None
            order, npix, ext = int(m["order"]), int(m["npix"]), m["ext"]
            if not self.has_tile(order, npix, ext) or tile_path(order, npix, ext) != name:
                return None
        if self.service is not None:
            return self.service.get(name, ext)
        path = self.folder / name
        return path.read_bytes() if path.is_file() else None

    def _read_tile(self, order: int, npix: int) -> np.ndarray | None:
        """Bottom-up RGBA uint8 pixels of one tile (FITS: grey through the cut), None when the tile is absent."""
        body = self.file(tile_path(order, npix, self.ext))
        if body is None:
            return None
        if self.ext == "fits":
            from astropy.io import fits

            with fits.open(io.BytesIO(body)) as hdul:
                data = np.asarray(hdul[0].data, dtype=np.float64)
            lo, hi = self.cut or (np.nanmin(data), np.nanmax(data))
            grey = np.clip((data - lo) / ((hi - lo) or 1.0), 0, 1)
            rgba = np.empty(data.shape + (4,), dtype=np.uint8)
            rgba[..., :3] = (grey * 255)[..., None].astype(np.uint8)
            rgba[..., 3] = np.where(np.isfinite(data) & (data > lo), 255, 0)
            return rgba
        from PIL import Image

        with Image.open(io.BytesIO(body)) as img:
            return np.flipud(np.asarray(img.convert("RGBA")))

    def tiles(self, order: int, npixes) -> list[np.ndarray | None]:
        """:meth:`tile` of each of ``npixes``; a service's missing tiles are fetched a few at a time in parallel."""
        npixes = [int(n) for n in npixes]
        if self.service is None or len(npixes) < 2:
            return [self.tile(order, n) for n in npixes]
        with ThreadPoolExecutor(max_workers=min(8, len(npixes)), thread_name_prefix="hips-fetch") as pool:
            return list(pool.map(lambda n: self.tile(order, n), npixes))

    def draw_order(self, pixel_deg: float) -> int:
        """The tile order whose pixels are about ``pixel_deg`` across (clipped to the HiPS's orders)."""
        if not np.isfinite(pixel_deg) or pixel_deg <= 0:
            return self.order
        pixel_order = int(np.ceil(np.log2(_PIXEL0_DEG / pixel_deg)))
        return int(np.clip(pixel_order - self.shift, self.order_min, self.order))

    def sky_image(self, frame: str, proj: str, x_range, y_range, width: int, height: int) -> np.ndarray:
        """Bottom-up RGBA (height, width, 4) uint8 image of the HiPS over a canvas; transparent where no tile."""
        from astropy_healpix import lonlat_to_healpix

        (x0, x1), (y0, y1) = x_range, y_range
        gx, gy = np.meshgrid(
            x0 + (np.arange(width) + 0.5) * (x1 - x0) / width, y0 + (np.arange(height) + 0.5) * (y1 - y0) / height
        )
        lon, lat = projection.inverse(gx.ravel(), gy.ravel(), proj)
        out = np.zeros((lon.size, 4), dtype=np.uint8)
        ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
        if ok.size:
            lon, lat = from_icrs(*to_icrs(lon[ok], lat[ok], frame), self.frame)
            order = self.draw_order(abs(x1 - x0) / width)

            ipix = np.asarray(
                lonlat_to_healpix(lon * u.deg, lat * u.deg, 2 ** (order + self.shift), order="nested"), dtype=np.int64
            )
            tiles, sub = ipix >> (2 * self.shift), ipix & ((1 << (2 * self.shift)) - 1)
            col, row = tile_xy(sub)
            unique = np.unique(tiles)
            for npix, data in zip(unique, self.tiles(order, unique), strict=True):
                if data is not None:
                    hit = tiles == npix
                    out[ok[hit]] = data[row[hit], col[hit]]
        return out.reshape(height, width, 4)


@functools.lru_cache(maxsize=4)
def open_hips(source: str, cache_dir: str | None = None, cache_bytes: int = hips_service.DEFAULT_CACHE_BYTES) -> Hips:
    """The HiPS in folder or at service URL ``source``, opened once per process (HipsError, one sentence, when it
    is not one or cannot be reached)."""
    return Hips(source, cache_dir, cache_bytes)


# --- the demo's own HiPS: pn exposure of the observations ------------------------------------------
def _unit(ra, dec) -> np.ndarray:
    r, d = np.radians(ra), np.radians(dec)
    return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])


def exposure_pixels(observations: pd.DataFrame, order: int) -> tuple[np.ndarray, np.ndarray]:
    """(NESTED ipix, pn exposure ks) at ``order``, ICRS: each pixel the summed pn on-time of the fields
    whose disc holds the pixel's centre (pixels with none are left out).

    Candidates are the footprint MOC's cells; the field discs around each cell centre are
    found with one KD-tree pair search (chord distance), so it scales with the covered area.
    """
    from astropy_healpix import HEALPix
    from scipy.spatial import cKDTree

    from data_loaders.coverage import footprint_moc

    obs = observations[np.isfinite(observations["RA_PNT"]) & np.isfinite(observations["DEC_PNT"])]
    ks = np.nan_to_num(obs["PN_ONTIME"].to_numpy(np.float64)) / 1e3
    obs, ks = obs[ks > 0], ks[ks > 0]
    if obs.empty:
        return np.empty(0, np.int64), np.empty(0)
    moc = footprint_moc(obs, order=order)
    ipix = np.asarray(moc.flatten(), dtype=np.int64)
    plon, plat = HEALPix(nside=2**order, order="nested").healpix_to_lonlat(ipix)
    pixels = _unit(plon.deg, plat.deg)
    fields = _unit(obs["RA_PNT"].to_numpy(np.float64), obs["DEC_PNT"].to_numpy(np.float64))
    radius = _radius(obs)
    chord = 2 * np.sin(np.radians(radius) / 2)
    pairs = cKDTree(pixels).sparse_distance_matrix(cKDTree(fields), float(chord.max()), output_type="ndarray")
    keep = pairs["v"] <= chord[pairs["j"]]
    value = np.bincount(pairs["i"][keep], weights=ks[pairs["j"][keep]], minlength=ipix.size)
    has = value > 0
    return ipix[has], value[has]


def exposure_level(value_ks, top_ks: float) -> np.ndarray:
    """The grey level (0-255) of a demo tile pixel of ``value_ks`` in a HiPS whose pixel cut is ``0 top_ks``."""
    return np.clip(np.rint(255.0 * np.asarray(value_ks, dtype=np.float64) / top_ks), 0, 255).astype(np.uint8)


def write_exposure_hips(
    observations: pd.DataFrame,
    folder: Path,
    order: int = DEMO_ORDER,
    width: int = DEMO_TILE_WIDTH,
    title: str = "XMM-Newton pn exposure (demo)",
) -> Path:
    """Write the observations' pn exposure map as a HiPS of PNG tiles, orders 0..``order``; returns the folder.

    A pixel's grey level is its exposure scaled to 0-255 over ``hips_pixel_cut`` (0 to the
    map's 95th percentile, ks; :func:`exposure_level`, deeper pixels saturate), opaque where a field covers it and
    transparent elsewhere. A parent pixel is the mean of its four children (uncovered
    children count as 0).
    """
    from PIL import Image

    folder = Path(folder)
    shift = int(round(np.log2(width)))
    ipix, value = exposure_pixels(observations, order + shift)
    sub_index = _sub_index(width)
    # The cut's top at the 95th percentile: a single field reads mid-grey, deep overlaps saturate.
    top = float(f"{np.percentile(value, 95):.6g}") if value.size else 1.0  # as the properties say it
    for k in range(order, -1, -1):
        tiles = ipix >> (2 * shift)
        for npix in np.unique(tiles):
            hit = tiles == npix
            flat = np.zeros((width * width, 4), dtype=np.uint8)
            sub = ipix[hit] & ((1 << (2 * shift)) - 1)
            flat[sub, :3] = exposure_level(value[hit], top)[:, None]
            flat[sub, 3] = 255
            path = folder / tile_path(k, int(npix), "png")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.flipud(flat[sub_index])).save(path)  # PNG rows run top-down
        ipix, inverse = np.unique(ipix >> 2, return_inverse=True)  # one order up: mean of 4 children
        value = np.bincount(inverse, weights=value) / 4.0
    props = {
        "creator_did": "ivo://xmm-explorer/demo/pn-exposure",
        "obs_title": title,
        "obs_description": "Sum of the pn on-time (ks) of the observations whose field holds each pixel.",
        "dataproduct_type": "image",
        "hips_version": "1.4",
        "hips_release_date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "hips_status": "private master unclonable",
        "hips_tile_format": "png",
        "hips_tile_width": str(width),
        "hips_order": str(order),
        "hips_order_min": "0",
        "hips_frame": "equatorial",
        "hips_pixel_cut": f"0 {top:.6g}",
        "hips_initial_fov": "2",
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "properties").write_text("".join(f"{k:20s} = {v}\n" for k, v in props.items()), encoding="utf-8")
    return folder
