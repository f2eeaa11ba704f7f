"""A multi-resolution HEALPix density pyramid of a release: zoomed-out sky views without the rows.

For each level (detections, sources) ``pyramid-<level>.parquet`` beside the release's Parquet
holds, for every HEALPix order 0..``MAX_ORDER`` (nested), the non-empty cells with the number of
rows ``N`` and, for each colouring column the Explore page averages, the sum of its finite values
``S_<col>`` and their number ``N_<col>``. Orders are coarsened from the finest by ``pix >> 2``
(nested indices keep their order), so every order adds up exactly.

The layout follows HATS (the LSDB catalogue format): HEALPix nested cells of the ICRS position,
one histogram per order like HATS's ``skymap.fits``/``point_map.fits``, and partitions pruned by
their HEALPix range (:mod:`data_loaders.dask_catalogue` reads it from the row-group statistics
of the ``HPX`` column). HATS's maps are dense count-only FITS arrays; ours are sparse Parquet
with sums, so the mean colourings render from the pyramid too (see docs/ARCHITECTURE.md).

A view renders from the pyramid (:meth:`Pyramid.grid`) when the coarsest order whose cells are
at most ``1/CELLS_PER_PIXEL`` of a screen pixel exists: every cell's rows are drawn at the cell's
centre, so the image equals the rows' image with each row moved to its cell centre (less than a
quarter of a pixel); zoomed further in, the rows are drawn. The file carries a fingerprint of the
Parquet it was built from (size and modification time of each file): a rewritten catalogue makes
it stale, :func:`load` returns None and the catalogue builds it again.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_loaders import projection
from data_loaders.catalogue import log10_positive, lonlat_columns
from data_loaders.process_cache import ProcessCache

#: Finest order of the counts: cells of 1.7' (nside 2048).
MAX_ORDER = 11
#: Finest order of the colouring sums (6.9' cells): at most 3.1M cells whatever the rows, so
#: the sums stay small; finer views coloured by a mean draw the rows.
SUM_ORDER = 9
#: The pyramid draws a view when its cells are at most this fraction of a screen pixel.
CELLS_PER_PIXEL = 2
#: The page's default sky (Hammer-Aitoff, ICRS): the cell centres of orders up to SUM_ORDER are
#: stored projected (``X``, ``Y``), so the first zoomed-out view reads them instead of projecting.
DEFAULT_SKY = ("hammer", "icrs")
VERSION = 2
_META_KEY = b"xmm_explorer_pyramid"
_SKY_DEG2 = 4 * np.pi * (180 / np.pi) ** 2


def path_of(release_path: Path, level: str) -> Path:
    return Path(release_path) / f"pyramid-{level}.parquet"


def level_files(release_path: Path) -> dict[str, list[Path]]:
    """The Parquet files of each level of a release."""
    from data_loaders import schema

    path = Path(release_path)
    return {
        "detections": sorted((path / schema.DETECTIONS_DIR).glob("*.parquet")),
        "sources": [path / schema.SOURCES_FILE],
    }


def build_all(release_path: Path) -> None:
    """Write both levels' pyramids of a release (the partitioned writer calls it)."""
    for level, files in level_files(release_path).items():
        if files and all(f.exists() for f in files):
            build(release_path, level, files)


def fingerprint(files: Iterable[Path]) -> list[list]:
    """(name, size, mtime_ns) of the Parquet files a level is read from: a rewrite changes it."""
    out = []
    for f in sorted(Path(p) for p in files):
        st = os.stat(f)
        out.append([f.name, st.st_size, st.st_mtime_ns])
    return out


def mean_columns(names: Sequence[str]) -> list[str]:
    """The columns whose mean colours the sky, among a level's Parquet columns ``names``.

    Log fluxes of every band (``LOG10_<flux>``), the hardness ratios 2 and 3, the variability
    flag and the luminosity: what the Explore page's colourings average.
    """
    have = set(names)
    out = [f"LOG10_{c}" for c in names if re.fullmatch(r"(SC_)?EP_\d_FLUX", c)]
    out += [c for c in ("EP_HR2", "EP_HR3", "SC_HR2", "SC_HR3", "VAR_FLAG", "SC_VAR_FLAG", "LOG_LX") if c in have]
    return out


def cell_size_deg(order: int) -> float:
    return float(np.sqrt(_SKY_DEG2 / (12 * 4**order)))


def _cells(pix: np.ndarray, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """Rows with sorted ``pix`` summed per cell: PIX, N, S_<col>, N_<col>."""
    if pix.size == 0:
        return pd.DataFrame({"PIX": np.zeros(0, np.int64), "N": np.zeros(0, np.int64)})
    starts = np.flatnonzero(np.r_[True, pix[1:] != pix[:-1]])
    out = {"PIX": pix[starts], "N": np.diff(np.r_[starts, pix.size]).astype(np.int64)}
    for c, v in values.items():
        finite = np.isfinite(v)
        out[f"S_{c}"] = np.add.reduceat(np.where(finite, v, 0.0), starts)
        out[f"N_{c}"] = np.add.reduceat(finite.astype(np.int64), starts)
    return pd.DataFrame(out)


def _reduce(df: pd.DataFrame) -> pd.DataFrame:
    """Cells of a frame sorted by PIX (possibly repeated) summed per PIX."""
    pix = df["PIX"].to_numpy()
    if pix.size == 0 or np.all(pix[1:] != pix[:-1]):
        return df.reset_index(drop=True)
    starts = np.flatnonzero(np.r_[True, pix[1:] != pix[:-1]])
    return pd.DataFrame({c: pix[starts] if c == "PIX" else np.add.reduceat(df[c].to_numpy(), starts) for c in df})


def table_cells(table: pa.Table, level: str, means: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of some rows (an Arrow table with the position and ``means``' columns).

    (counts at MAX_ORDER, counts and sums at SUM_ORDER).
    """
    import astropy.units as u
    from astropy_healpix import HEALPix

    lon_c, lat_c = lonlat_columns(level, "icrs")
    lon = table.column(lon_c).to_numpy(zero_copy_only=False).astype(np.float64)
    lat = table.column(lat_c).to_numpy(zero_copy_only=False).astype(np.float64)
    good = np.isfinite(lon) & np.isfinite(lat)
    hp = HEALPix(nside=2**MAX_ORDER, order="nested")
    pix = np.asarray(hp.lonlat_to_healpix(lon[good] * u.deg, lat[good] * u.deg), dtype=np.int64)
    order = np.argsort(pix, kind="stable")
    values = {}
    for c in means:
        raw = table.column(c[6:] if c.startswith("LOG10_") else c)
        v = raw.to_numpy(zero_copy_only=False).astype(np.float32)
        if c.startswith("LOG10_"):
            v = log10_positive(v)
        values[c] = v[good][order].astype(np.float64)
    pix = pix[order]
    return _cells(pix, {}), _cells(pix >> (2 * (MAX_ORDER - SUM_ORDER)), values)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"PIX": np.zeros(0, np.int64), "N": np.zeros(0, np.int64)})


def combine(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Finest-order cells of several row sets (each sorted by PIX) as one."""
    df = pd.concat([p for p in parts if len(p)] or [_empty()], ignore_index=True)
    df = df.sort_values("PIX", kind="stable") if not df["PIX"].is_monotonic_increasing else df
    return _reduce(df.fillna(0))


def write(path: Path, finest: pd.DataFrame, sums: pd.DataFrame, fp: list, means: Sequence[str]) -> Path:
    """Every order, in one Parquet file (row groups of one order each), atomically.

    ``finest``: counts at MAX_ORDER; ``sums``: counts and sums at SUM_ORDER.
    """
    tables = []
    cells = finest
    for order in range(MAX_ORDER, -1, -1):
        if order == SUM_ORDER:
            cells = sums
        t = pa.Table.from_pandas(cells, preserve_index=False)
        if order <= SUM_ORDER:
            x, y = project_cells(t.column("PIX").to_numpy(), order, *DEFAULT_SKY)
            t = t.append_column("X", pa.array(x)).append_column("Y", pa.array(y))
        tables.append(t.append_column("ORDER", pa.array(np.full(len(cells), order, np.int8))))
        if order:
            coarse = cells.copy()
            coarse["PIX"] = coarse["PIX"].to_numpy() >> 2
            cells = _reduce(coarse)
    schema = tables[-1].schema
    tables = [t if t.schema.equals(schema) else _widen(t, schema) for t in tables]
    meta = {
        "version": VERSION,
        "max_order": MAX_ORDER,
        "sum_order": SUM_ORDER,
        "fingerprint": fp,
        "means": list(means),
    }
    schema = schema.with_metadata({_META_KEY: json.dumps(meta).encode()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
        for t in reversed(tables):  # order 0 first; a row group holds one order only
            w.write_table(t.cast(schema))
    os.replace(tmp, path)
    return path


def _widen(t: pa.Table, schema: pa.Schema) -> pa.Table:
    """A counts-only order with the sums' columns, all null."""
    cols = [t.column(f.name) if f.name in t.column_names else pa.nulls(len(t), f.type) for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


def build(
    release_path: Path,
    level: str,
    files: Sequence[Path],
    cells_of: Callable[[list], list[pd.DataFrame]] | None = None,
) -> Path:
    """Write the pyramid of a level from its Parquet ``files``, one row group at a time.

    ``cells_of(tasks)`` may compute the per-row-group cells elsewhere (a Dask cluster): it gets
    ``(path, row_group, level, columns, means)`` tuples and returns :func:`row_group_cells` of each.
    """
    names = pq.read_schema(files[0]).names
    means = mean_columns(names)
    read = list(
        dict.fromkeys([*lonlat_columns(level, "icrs"), *(c[6:] if c.startswith("LOG10_") else c for c in means)])
    )
    fp = fingerprint(files)
    tasks = [(str(f), g, level, read, means) for f in files for g in range(pq.ParquetFile(f).metadata.num_row_groups)]
    if cells_of is None:  # in this process: add up as we go, so memory grows with the cells, not the rows
        finest, sums = _empty(), _empty()
        for i in range(0, len(tasks), 32):
            parts = [row_group_cells(*t) for t in tasks[i : i + 32]]
            finest = combine([finest, *(p[0] for p in parts)])
            sums = combine([sums, *(p[1] for p in parts)])
    else:
        parts = cells_of(tasks)
        finest, sums = combine(p[0] for p in parts), combine(p[1] for p in parts)
    return write(path_of(release_path, level), finest, sums, fp, means)


def row_group_cells(
    path: str, row_group: int, level: str, columns: list[str], means: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of one row group of a Parquet file (see :func:`table_cells`)."""
    return table_cells(pq.ParquetFile(path).read_row_group(row_group, columns=columns), level, means)


class Pyramid:
    """The pyramid of one level, read an order (and a column) at a time and kept in memory."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.max_order = int(meta["max_order"])
        self.sum_order = int(meta["sum_order"])
        self.means = tuple(meta["means"])
        self._cells: dict[tuple[int, str], np.ndarray] = {}
        self._xy: dict[tuple[int, str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def order_for(self, x_range, width: int) -> int | None:
        """The coarsest order whose cells are at most 1/CELLS_PER_PIXEL of a pixel; None if too fine."""
        pixel = abs(float(x_range[1]) - float(x_range[0])) / max(int(width), 1)
        for order in range(self.max_order + 1):
            if cell_size_deg(order) * CELLS_PER_PIXEL <= pixel:
                return order
        return None

    def column(self, order: int, name: str) -> np.ndarray:
        key = (order, name)
        with self._lock:
            if key not in self._cells:
                t = pq.read_table(self.path, columns=[name], filters=[("ORDER", "==", order)])
                self._cells[key] = t.column(0).to_numpy()
            return self._cells[key]

    def xy(self, order: int, proj: str, frame: str) -> tuple[np.ndarray, np.ndarray]:
        """Projected centres (float32, like the rows' sky columns) of the order's cells."""
        key = (order, proj, frame)
        with self._lock:
            have = self._xy.get(key)
        if have is not None:
            return have
        if (proj, frame) == DEFAULT_SKY and order <= self.sum_order:
            out = (self.column(order, "X"), self.column(order, "Y"))
        else:
            out = project_cells(self.column(order, "PIX"), order, proj, frame)
        with self._lock:
            self._xy[key] = out
        return out

    def can(self, how: str, column: str | None, order: int) -> bool:
        """Whether the order's cells answer this aggregation."""
        return how == "count" or (how == "mean" and column in self.means and order <= self.sum_order)

    def _in_view(self, order: int, proj: str, frame: str, x_range, y_range) -> np.ndarray | None:
        """Indices of the order's cells inside the view's HPX pixels (None: every cell, cheaper)."""
        from data_loaders.ingest import HPX_NSIDE

        base = int(np.log2(HPX_NSIDE))
        if order < base:
            return None
        pixels = view_pixels(proj, frame, x_range, y_range)
        if pixels.size > 0.5 * 12 * HPX_NSIDE**2:
            return None
        # Runs of consecutive pixels are one slice of the sorted cells each.
        breaks = np.flatnonzero(np.diff(pixels) != 1) + 1
        firsts, lasts = pixels[np.r_[0, breaks]], pixels[np.r_[breaks - 1, pixels.size - 1]]
        shift = 2 * (order - base)
        pix = self.column(order, "PIX")
        lo = np.searchsorted(pix, firsts << shift, side="left")
        hi = np.searchsorted(pix, (lasts + 1) << shift, side="left")
        if pixels.size == 0:
            return np.zeros(0, np.int64)
        lengths = hi - lo
        return np.repeat(lo - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())

    def grid(self, order: int, proj: str, frame: str, spec: tuple) -> np.ndarray:
        """The grid of ``spec`` (see :func:`data_loaders.grid.partial_grid`) drawn from the order's cells."""
        import datashader as ds

        from data_loaders import grid as grids

        x_range, y_range, width, height, how, column, _n = spec
        x, y = self.xy(order, proj, frame)
        cells = {"x": x, "y": y, "N": self.column(order, "N")}
        if how == "mean":
            cells |= {"S": self.column(order, f"S_{column}"), "M": self.column(order, f"N_{column}")}
        take = self._in_view(order, proj, frame, x_range, y_range)
        if take is not None:
            cells = {k: v[take] for k, v in cells.items()}
        cvs = grids.canvas(x_range, y_range, width, height)
        frame_ = pd.DataFrame(cells, copy=False)
        if how == "count":
            return np.nan_to_num(cvs.points(frame_, "x", "y", agg=ds.sum("N")).values).astype(np.uint32)
        total = cvs.points(frame_, "x", "y", agg=ds.sum("S")).values
        n = cvs.points(frame_, "x", "y", agg=ds.sum("M")).values
        return grids.finish("mean", (np.nan_to_num(total), n))


def project_cells(pix: np.ndarray, order: int, proj: str, frame: str) -> tuple[np.ndarray, np.ndarray]:
    """Projected centres (float32, like the rows' sky columns) of nested cells of ``order``."""
    from astropy_healpix import healpix_to_lonlat

    lon, lat = healpix_to_lonlat(pix, 2**order, order="nested")
    lon, lat = lon.to_value("deg"), lat.to_value("deg")
    if frame == "galactic":
        lon, lat = icrs_to_galactic(lon, lat)
    x, y = projection.forward(lon, lat, proj)
    return x.astype(np.float32), y.astype(np.float32)


def icrs_to_galactic(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    g = SkyCoord(ra=lon * u.deg, dec=lat * u.deg, frame="icrs").galactic
    return g.l.deg, g.b.deg


def load(release_path: Path, level: str, files: Sequence[Path]) -> Pyramid | None:
    """The level's pyramid if it exists and was built from these very files, else None."""
    path = path_of(release_path, level)
    if not path.exists():
        return None
    try:
        meta = json.loads(pq.read_schema(path).metadata[_META_KEY])
    except (KeyError, TypeError, ValueError, OSError, pa.ArrowException):
        return None
    if meta.get("version") != VERSION or meta.get("fingerprint") != fingerprint(files):
        return None
    if meta.get("max_order") != MAX_ORDER or meta.get("sum_order") != SUM_ORDER:
        return None
    return Pyramid(path, meta)


_BOXES: ProcessCache[np.ndarray] = ProcessCache("pyramid-pixel-boxes", max_items=8)


def _pixel_boxes(proj: str, frame: str) -> np.ndarray:
    """(npix, 4) projected bounding boxes (x0, x1, y0, y1) of the HPX (nside 64, nested) pixels."""
    return _BOXES.get((proj, frame), lambda: _compute_pixel_boxes(proj, frame))


def _compute_pixel_boxes(proj: str, frame: str) -> np.ndarray:
    from astropy_healpix import HEALPix

    from data_loaders.ingest import HPX_NSIDE

    hp = HEALPix(nside=HPX_NSIDE, order="nested")
    pix = np.arange(hp.npix)
    blon, blat = hp.boundaries_lonlat(pix, step=4)
    clon, clat = hp.healpix_to_lonlat(pix)
    lon = np.c_[blon.to_value("deg"), clon.to_value("deg")]
    lat = np.c_[blat.to_value("deg"), clat.to_value("deg")]
    if frame == "galactic":
        lon, lat = (a.reshape(lon.shape) for a in icrs_to_galactic(lon.ravel(), lat.ravel()))
    x, y = (a.reshape(lon.shape) for a in projection.forward(lon.ravel(), lat.ravel(), proj))
    boxes = np.c_[x.min(1), x.max(1), y.min(1), y.max(1)]
    # A pixel on the projection's edge (longitude 180) is drawn on both sides: any x.
    wrap = (lon.max(1) - lon.min(1)) > 90
    boxes[wrap, 0], boxes[wrap, 1] = -np.inf, np.inf
    return boxes


def view_pixels(proj: str, frame: str, x_range, y_range) -> np.ndarray:
    """Sorted HPX (nside 64, nested) pixels that may show in a projected view (a superset)."""
    b = _pixel_boxes(proj, frame)
    (x0, x1), (y0, y1) = sorted(map(float, x_range)), sorted(map(float, y_range))
    # Pixels are not boxes: pad by a pixel's size so curved edges are never missed.
    pad = 2.0
    hit = (b[:, 1] >= x0 - pad) & (b[:, 0] <= x1 + pad) & (b[:, 3] >= y0 - pad) & (b[:, 2] <= y1 + pad)
    return np.flatnonzero(hit).astype(np.int64)
