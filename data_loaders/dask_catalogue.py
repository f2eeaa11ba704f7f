"""A release on Dask: the catalogue interface of :class:`~data_loaders.catalogue.Catalogue` for
catalogues that do not fit one process (10^8 detections and beyond).

Nothing is loaded at construction: the release's Parquet file is cut into *pieces* of whole
row groups (``partition_rows`` rows each), and since ingest and the partitioned demo writer
order rows by HEALPix (``HPX``, nside 64, nested), every piece covers a known HPX range (from
the row-group statistics). A piece is one Dask partition; its reader converts Arrow columns to
the same numpy dtypes as the pandas catalogue (float32 measurements, float64 positions, no
Arrow-backed numbers, which datashader rejects) and adds projected sky columns on the fly.

- :meth:`frame` is a Dask DataFrame of a level (``detections`` or ``sources``).
- :meth:`aggregate` runs datashader on the Dask frame with the selection evaluated lazily inside
  each partition; the plotting columns (``SKY_X_<proj>_<frame>``, ``SKY_Y_...`` and the
  selection's columns) are persisted on the cluster when a client is given, so a re-render
  reads no Parquet.
- :meth:`cone` reads only the row groups whose HPX range meets the cone's HEALPix pixels.
- :meth:`count`, :meth:`histogram`, :meth:`iter_chunks` (streamed exports) and :meth:`nearest`.

Selections are the objects of :mod:`app.selection` (anything with ``evaluate(frame)``,
``columns()`` and ``kind``); ``None`` means every row.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_loaders import projection, schema
from data_loaders.catalogue import LEVELS, SOURCE_LEVEL_COLUMNS, ReleaseDirectory, _numpy_frame
from data_loaders.errors import CatalogueError
from data_loaders.ingest import HPX_COLUMN, HPX_NSIDE

#: Rows per Dask partition (whole row groups of ~100k rows): few, large tasks keep the
#: per-task overhead (and the per-partition aggregate arrays datashader combines) small.
PARTITION_ROWS = 2_000_000
CLASS_COLUMNS = ("CLASS", "CLASS_PROB")


def sky_column(axis: str, proj: str, frame: str) -> str:
    """Projected-coordinate column name, the same as ``app.state.sky_column`` (``SKY_X_hammer_icrs``)."""
    return f"SKY_{axis.upper()}_{proj}_{frame}"


def _lonlat_columns(level: str, frame: str) -> tuple[str, str]:
    if frame == "galactic":
        return "LII", "BII"
    return ("SC_RA", "SC_DEC") if level == "sources" else ("RA", "DEC")


@dataclass(frozen=True)
class Piece:
    """Consecutive row groups of one Parquet file; ``hpx_min``/``hpx_max`` from their statistics."""

    path: str
    row_groups: tuple[int, ...]
    n_rows: int
    hpx_min: int
    hpx_max: int


def _pieces(path: Path, partition_rows: int) -> list[Piece]:
    pf = pq.ParquetFile(path)
    md = pf.metadata
    names = pf.schema_arrow.names
    hpx_idx = names.index(HPX_COLUMN) if HPX_COLUMN in names else None
    out: list[Piece] = []
    groups: list[int] = []
    n = 0
    lo, hi = np.iinfo(np.int64).max, -1

    def flush() -> None:
        if groups:
            out.append(Piece(str(path), tuple(groups), n, int(lo), int(hi)))

    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        stats = rg.column(hpx_idx).statistics if hpx_idx is not None else None
        if stats is not None and stats.has_min_max:
            g_lo, g_hi = stats.min, stats.max
        else:  # no statistics: the piece may hold any pixel
            g_lo, g_hi = -1, np.iinfo(np.int64).max
        if groups and n + rg.num_rows > partition_rows:
            flush()
            groups, n, lo, hi = [], 0, np.iinfo(np.int64).max, -1
        groups.append(g)
        n += rg.num_rows
        lo, hi = min(lo, g_lo), max(hi, g_hi)
    flush()
    return out


def _class_lookup(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(sorted SRCID, predicted class, max probability) from classifications.parquet, if any."""
    p = path / schema.CLASSIFICATIONS_FILE
    if not p.exists():
        return None
    cls = pd.read_parquet(p)
    probs = cls[[f"PbaC{i}" for i in range(len(schema.CLASS_NAMES))]].to_numpy(np.float32)
    srcid = cls["SRCID"].to_numpy(np.int64)
    order = np.argsort(srcid)
    return srcid[order], cls["prediction"].to_numpy(np.int8)[order], probs[order].max(axis=1)


def _add_classes(df: pd.DataFrame, lookup) -> None:
    """CLASS / CLASS_PROB exactly as ``Catalogue._add_class_columns`` computes them."""
    df["CLASS"] = np.full(len(df), -1, dtype=np.int8)
    df["CLASS_PROB"] = np.full(len(df), np.nan, dtype=np.float32)
    if lookup is None or len(df) == 0 or lookup[0].size == 0:
        return
    srcid, pred, prob = lookup
    ids = df["SRCID"].to_numpy(np.int64)
    pos = np.clip(np.searchsorted(srcid, ids), 0, len(srcid) - 1)
    hit = srcid[pos] == ids
    df.loc[hit, "CLASS"] = pred[pos[hit]]
    df.loc[hit, "CLASS_PROB"] = prob[pos[hit]]


def _read_piece(
    piece: Piece,
    *,
    level: str,
    columns: tuple[str, ...],
    sky: tuple[tuple[str, str], ...],
    lookup=None,
) -> pd.DataFrame:
    """One partition: the piece's row groups as numpy-typed pandas, plus class and sky columns."""
    want_classes = any(c in CLASS_COLUMNS for c in columns)
    read = [c for c in columns if c not in CLASS_COLUMNS and not c.startswith("SKY_")]
    if want_classes and "SRCID" not in read:
        read.append("SRCID")
    for frame, _proj in sky:
        read += [c for c in _lonlat_columns(level, frame) if c not in read]
    table = pq.ParquetFile(piece.path).read_row_groups(list(piece.row_groups), columns=read)
    df = _numpy_frame(table)
    if want_classes:
        _add_classes(df, lookup)
    for frame, proj in sky:
        lon, lat = (df[c].to_numpy(np.float64) for c in _lonlat_columns(level, frame))
        x, y = projection.forward(lon, lat, proj)
        df[sky_column("x", proj, frame)] = x.astype(np.float32)
        df[sky_column("y", proj, frame)] = y.astype(np.float32)
    return df[list(columns)]


def _is_all(selection) -> bool:
    return selection is None or getattr(selection, "kind", "") == "all"


def _sky_needs(columns: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """(frame, proj) pairs of the SKY_ columns among ``columns``."""
    out = []
    for c in columns:
        if c.startswith("SKY_"):
            _, _axis, proj, frame = c.split("_", 3)
            if (frame, proj) not in out:
                out.append((frame, proj))
    return tuple(out)


def _hist_part(part: pd.DataFrame, column: str, edges: np.ndarray, selection) -> np.ndarray:
    values = part[column].to_numpy(np.float64, na_value=np.nan)
    if not _is_all(selection):
        values = values[np.asarray(selection.evaluate(part), dtype=bool)]
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    return counts


class DaskCatalogue(ReleaseDirectory):
    """One ingested release (``data_dir/releases/NAME``) as Dask DataFrames.

    Parameters
    ----------
    release_path : Path
        The release directory (``release.json``, ``detections.parquet/``, ``sources.parquet``).
    client : distributed.Client, optional
        Where to compute; plotting columns are persisted on it. Without one, Dask's default
        scheduler (threads, or a client made current elsewhere) runs each query from Parquet.
    partition_rows : int
        Target rows per Dask partition (whole row groups).

    Attributes
    ----------
    name, title, synthetic, meta, path, all_columns
        As on :class:`~data_loaders.catalogue.Catalogue`.
    row_groups_read : int
        Row groups read by :meth:`cone` so far (tests check the pruning with it).
    """

    is_dask = True

    def __init__(self, release_path: Path, client=None, partition_rows: int = PARTITION_ROWS):
        super().__init__(release_path)
        self.client = client
        det_files = sorted((self.path / schema.DETECTIONS_DIR).glob("*.parquet"))
        if not det_files:
            raise CatalogueError(f"{self.path} has no detection Parquet files.")
        self._files = {"detections": det_files, "sources": [self.path / schema.SOURCES_FILE]}
        self.all_columns = pq.read_schema(det_files[0]).names
        self._pieces = {
            level: [p for f in files for p in _pieces(f, partition_rows)] for level, files in self._files.items()
        }
        src_names = pq.read_schema(self._files["sources"][0]).names
        self._level_columns = {
            "detections": tuple(c for c in (*schema.EXPLORE_COLUMNS, HPX_COLUMN) if c in self.all_columns)
            + CLASS_COLUMNS,
            "sources": tuple(c for c in SOURCE_LEVEL_COLUMNS if c in src_names) + CLASS_COLUMNS,
        }
        self._lookup = _class_lookup(self.path)
        self._metas: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = {}
        self._plot: dict[tuple[str, tuple[str, ...]], dd.DataFrame] = {}
        self._lock = threading.Lock()
        self.row_groups_read = 0

    def __repr__(self) -> str:
        return f"DaskCatalogue({self.name!r}, {self.n_rows('detections'):,} detections, {self.npartitions} partitions)"

    # --- frames ------------------------------------------------------------------------------
    @property
    def npartitions(self) -> int:
        return len(self._pieces["detections"])

    def n_rows(self, level: str = "detections") -> int:
        self._check_level(level)
        return sum(p.n_rows for p in self._pieces[level])

    def columns(self, level: str = "detections") -> tuple[str, ...]:
        """Columns :meth:`frame` offers for ``level`` (plus any ``SKY_X/Y_<proj>_<frame>``)."""
        self._check_level(level)
        return self._level_columns[level]

    @staticmethod
    def _check_level(level: str) -> None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, not {level!r}")

    def frame(
        self, level: str = "detections", columns: Sequence[str] | None = None, pieces: list[Piece] | None = None
    ) -> dd.DataFrame:
        """A lazy Dask DataFrame of ``level`` with ``columns`` (default: every Explore column).

        Column names ``SKY_X_<proj>_<frame>`` / ``SKY_Y_...`` are computed per partition with
        :func:`projection.forward` (float32). Numbers are numpy dtypes, never Arrow-backed.
        """
        self._check_level(level)
        cols = tuple(dict.fromkeys(columns if columns is not None else self._level_columns[level]))
        known = set(self._level_columns[level])
        unknown = [c for c in cols if c not in known and not c.startswith("SKY_")]
        if unknown:
            raise CatalogueError(f"Release {self.name} has no column(s) {', '.join(unknown)} at the {level} level.")
        sky = _sky_needs(cols)
        for frame, proj in sky:
            if frame not in ("icrs", "galactic") or proj not in projection.PROJECTIONS:
                raise CatalogueError(f"Unknown sky column for frame {frame!r} and projection {proj!r}.")
        pieces = self._pieces[level] if pieces is None else pieces
        reader = functools.partial(_read_piece, level=level, columns=cols, sky=sky, lookup=self._lookup)
        key = (level, cols)
        if key not in self._metas:
            first = self._pieces[level][0]
            self._metas[key] = reader(Piece(first.path, first.row_groups[:1], 0, first.hpx_min, first.hpx_max)).iloc[:0]
        meta = self._metas[key]
        if not pieces:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_map(reader, pieces, meta=meta, enforce_metadata=False)

    def plot_frame(self, level: str, columns: Sequence[str]) -> dd.DataFrame:
        """The frame with ``columns``, persisted on the client (if any) and reused across renders.

        One persisted frame per level holds the union of the columns asked for so far, so a
        new filter column costs one Parquet read and memory grows only with what is used.
        """
        with self._lock:
            held = next((k for k in self._plot if k[0] == level), None)
            want = tuple(dict.fromkeys([*(held[1] if held else ()), *columns]))
            if held is not None and set(columns) <= set(held[1]):
                return self._plot[held]
            df = self.frame(level, want)
            if self.client is not None:
                df = self.client.persist(df)
                from distributed import wait

                wait(df)
            if held is not None:
                del self._plot[held]
            self._plot[(level, want)] = df
            return df

    # --- queries -----------------------------------------------------------------------------
    def _selected(self, level: str, selection, extra: Sequence[str] = (), persist: bool = True) -> dd.DataFrame:
        cols = [*(() if _is_all(selection) else selection.columns()), *extra]
        if not cols:
            cols = ["SRCID"]
        df = self.plot_frame(level, cols) if persist else self.frame(level, cols)
        if not _is_all(selection):
            df = df[selection.evaluate(df)]
        return df

    def count(self, selection=None, level: str = "detections") -> int:
        """Rows of ``level`` the selection keeps (``None``: all of them, from the metadata)."""
        if _is_all(selection):
            return self.n_rows(level)
        if getattr(selection, "kind", "") == "cone" and (selection.ra_col, selection.dec_col) == _lonlat_columns(
            level, "icrs"
        ):
            return len(self.cone(selection.ra, selection.dec, selection.radius_deg, ["SRCID"], level=level))
        df = self.frame(level, selection.columns())
        return int(selection.evaluate(df).sum().compute())

    def aggregate(
        self,
        selection,
        proj: str = "hammer",
        frame: str = "icrs",
        x_range: tuple[float, float] | None = None,
        y_range: tuple[float, float] | None = None,
        width: int = 1000,
        height: int = 500,
        how: str = "count",
        column: str | None = None,
        level: str = "detections",
    ):
        """Datashader aggregate (xarray.DataArray) of the selected rows on a width x height canvas.

        ``how``: 'count', or 'mean' / 'max' / 'min' of ``column`` (e.g. ``EP_HR2``). The ranges
        are in projected degrees (default: the whole sky). Same grid as ``app.plots.sky.aggregate``.
        """
        xcol, ycol = sky_column("x", proj, frame), sky_column("y", proj, frame)
        if x_range is None or y_range is None:
            ox, oy = projection.outline(proj)
            x_range = x_range or (float(np.nanmin(ox)) * 1.02, float(np.nanmax(ox)) * 1.02)
            y_range = y_range or (float(np.nanmin(oy)) * 1.02, float(np.nanmax(oy)) * 1.02)
        if how not in ("count", "mean", "max", "min"):
            raise ValueError(f"unknown aggregation {how!r}; expected count, mean, max or min")
        if how != "count" and column is None:
            raise ValueError(f"how={how!r} needs a column")
        cols = [xcol, ycol, *([column] if column else []), *(() if _is_all(selection) else selection.columns())]
        df = self.plot_frame(level, cols)
        return aggregate_frame(
            df, xcol, ycol, x_range, y_range, width, height, how=how, column=column, selection=selection
        )

    def histogram(
        self, column: str, bins: int | Sequence[float] = 50, selection=None, level: str = "detections"
    ) -> tuple[np.ndarray, np.ndarray]:
        """(counts, edges) of the finite values of ``column`` among the selected rows.

        ``bins`` is a number of equal bins over the column's finite range, or explicit edges.
        """
        cols = [column, *(() if _is_all(selection) else selection.columns())]
        df = self.frame(level, cols)
        if np.ndim(bins) == 0:
            values = df[column].replace([np.inf, -np.inf], np.nan)
            lo, hi = dask.compute(values.min(), values.max())
            lo, hi = (0.0, 1.0) if not (np.isfinite(lo) and np.isfinite(hi)) else (float(lo), float(hi))
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, int(bins) + 1)
        else:
            edges = np.asarray(bins, dtype=np.float64)
        parts = [dask.delayed(_hist_part)(p, column, edges, selection) for p in df.to_delayed()]
        counts = np.sum(dask.compute(*parts), axis=0) if parts else np.zeros(edges.size - 1, np.int64)
        return np.asarray(counts, dtype=np.int64), edges

    def iter_chunks(
        self, selection=None, columns: Sequence[str] | None = None, level: str = "detections"
    ) -> Iterator[pd.DataFrame]:
        """The selected rows as pandas chunks (one per non-empty partition, in HEALPix order).

        Feed to ``data_loaders.export.export_table`` for a streamed export; at most one
        partition is in this process at a time.
        """
        cols = list(columns or self._level_columns[level])
        need = [*cols, *(c for c in (() if _is_all(selection) else selection.columns()) if c not in cols)]
        df = self.frame(level, need)
        if not _is_all(selection):
            df = df[selection.evaluate(df)]
        for part in df.to_delayed():
            chunk = part.compute()
            if len(chunk):
                yield chunk[cols].reset_index(drop=True)

    # --- cones -------------------------------------------------------------------------------
    def cone_pixels(self, ra: float, dec: float, radius_deg: float) -> np.ndarray:
        """Sorted HPX (nside 64, nested) pixels that meet the cone."""
        import astropy.units as u
        from astropy.coordinates import Latitude, Longitude
        from astropy_healpix import HEALPix

        hp = HEALPix(nside=HPX_NSIDE, order="nested")
        # Pad by a pixel's size: cone_search_lonlat tests pixel centres/corners approximately.
        pad = hp.pixel_resolution.to_value(u.deg)
        pix = hp.cone_search_lonlat(
            Longitude(ra * u.deg), Latitude(dec * u.deg), radius=min(radius_deg + pad, 180.0) * u.deg
        )
        return np.unique(np.asarray(pix, dtype=np.int64))

    def cone_pieces(self, ra: float, dec: float, radius_deg: float, level: str = "detections") -> list[Piece]:
        """The pieces (row-group runs) whose HPX range meets the cone, split to single row groups."""
        pix = self.cone_pixels(ra, dec, radius_deg)
        out = []
        for piece in self._pieces[level]:
            if not _meets(pix, piece.hpx_min, piece.hpx_max):
                continue
            md = pq.ParquetFile(piece.path).metadata
            names = md.schema.to_arrow_schema().names
            k = names.index(HPX_COLUMN) if HPX_COLUMN in names else None
            for g in piece.row_groups:
                stats = md.row_group(g).column(k).statistics if k is not None else None
                lo, hi = (
                    (stats.min, stats.max)
                    if stats is not None and stats.has_min_max
                    else (piece.hpx_min, piece.hpx_max)
                )
                if _meets(pix, lo, hi):
                    out.append(Piece(piece.path, (g,), md.row_group(g).num_rows, int(lo), int(hi)))
        return out

    def cone(
        self,
        ra: float,
        dec: float,
        radius_deg: float,
        columns: Sequence[str] | None = None,
        level: str = "detections",
    ) -> pd.DataFrame:
        """Rows within ``radius_deg`` (great circle) of (ra, dec) ICRS, as pandas, in HPX order.

        Reads only row groups whose HPX statistics meet the cone's pixels, filters them on the
        pixel set with pyarrow, then on the exact distance.
        """
        if not 0 < radius_deg <= 180:
            raise ValueError("radius_deg must be in (0, 180]")
        self._check_level(level)
        cols = list(columns or self._level_columns[level])
        ra_col, dec_col = _lonlat_columns(level, "icrs")
        pieces = self.cone_pieces(ra, dec, radius_deg, level)
        self.row_groups_read += len(pieces)
        if not pieces:
            return self.frame(level, cols)._meta.copy()
        pix = pa.array(self.cone_pixels(ra, dec, radius_deg))
        read = list(dict.fromkeys([*cols, ra_col, dec_col, HPX_COLUMN]))
        frames = []
        by_file: dict[str, list[int]] = {}
        for p in pieces:
            by_file.setdefault(p.path, []).extend(p.row_groups)
        base = [c for c in read if c not in CLASS_COLUMNS and not c.startswith("SKY_")]
        if any(c in CLASS_COLUMNS for c in read) and "SRCID" not in base:
            base.append("SRCID")
        for path, groups in by_file.items():
            table = pq.ParquetFile(path).read_row_groups(groups, columns=base)
            table = table.filter(pc.is_in(table.column(HPX_COLUMN), value_set=pix))
            frames.append(table)
        df = _numpy_frame(pa.concat_tables(frames))
        keep = _haversine_mask(df[ra_col].to_numpy(np.float64), df[dec_col].to_numpy(np.float64), ra, dec, radius_deg)
        df = df[keep].reset_index(drop=True)
        if any(c in CLASS_COLUMNS for c in read):
            _add_classes(df, self._lookup)
        for frame, proj in _sky_needs(read):
            lon, lat = (df[c].to_numpy(np.float64) for c in _lonlat_columns(level, frame))
            x, y = projection.forward(lon, lat, proj)
            df[sky_column("x", proj, frame)] = x.astype(np.float32)
            df[sky_column("y", proj, frame)] = y.astype(np.float32)
        return df[cols]

    def nearest(
        self, level: str, frame: str, lon: float, lat: float, max_sep_deg: float, selection=None
    ) -> pd.Series | None:
        """The row of ``level`` nearest to (lon, lat) in ``frame`` within ``max_sep_deg`` (and in the selection)."""
        ra, dec = lon, lat
        if frame == "galactic":
            import astropy.units as u
            from astropy.coordinates import SkyCoord

            c = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
            ra, dec = float(c.ra.deg), float(c.dec.deg)
        cols = list(self._level_columns[level])
        if not _is_all(selection):
            cols += [c for c in selection.columns() if c not in cols]
        rows = self.cone(ra, dec, max_sep_deg, cols, level=level)
        if not _is_all(selection) and len(rows):
            rows = rows[np.asarray(selection.evaluate(rows), dtype=bool)]
        if len(rows) == 0:
            return None
        ra_col, dec_col = _lonlat_columns(level, "icrs")
        sep = _haversine(rows[ra_col].to_numpy(np.float64), rows[dec_col].to_numpy(np.float64), ra, dec)
        return rows.iloc[int(np.argmin(sep))]


def aggregate_frame(
    df: dd.DataFrame,
    xcol: str,
    ycol: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    width: int,
    height: int,
    how: str = "count",
    column: str | None = None,
    selection=None,
):
    """Datashader aggregate (xarray.DataArray) of a Dask frame's points, e.g. one persisted by a caller.

    The grid of :meth:`DaskCatalogue.aggregate`: ``how`` 'count', or 'mean'/'max'/'min' of ``column``,
    over the rows ``selection`` keeps (None: all of them).
    """
    if how not in ("count", "mean", "max", "min"):
        raise ValueError(f"unknown aggregation {how!r}; expected count, mean, max or min")
    if how != "count" and column is None:
        raise ValueError(f"how={how!r} needs a column")
    # Aggregate each partition on its worker with a function of this module and add the
    # grids up in a tree: shipping datashader's own dask graph pickles its numba closures
    # on every render (~0.7 s on our machines), far more than the aggregation itself.
    spec = (xcol, ycol, tuple(x_range), tuple(y_range), max(int(width), 2), max(int(height), 2), how, column)
    parts = [dask.delayed(_agg_part)(p, spec, None if _is_all(selection) else selection) for p in df.to_delayed()]
    combine = _combine_max if how == "max" else _combine_min if how == "min" else _combine_sum
    while len(parts) > 1:
        parts = [
            dask.delayed(combine)(*parts[i : i + 4]) if len(parts[i : i + 4]) > 1 else parts[i]
            for i in range(0, len(parts), 4)
        ]
    grid = parts[0].compute() if parts else _agg_part(df._meta, spec, None)
    template = _agg_template(spec)
    if how == "mean":
        total, n = grid
        with np.errstate(invalid="ignore", divide="ignore"):
            grid = np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)
    return template.copy(data=grid.astype(template.dtype, copy=False))


def select_columns(part: pd.DataFrame, selection, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of a partition that ``selection`` keeps, only ``columns`` (for ``map_partitions``).

    Lives here because workers import this module anyway: a task function from a module that
    imports the plotting stack costs each worker seconds of imports on its first use.
    """
    if _is_all(selection):
        return part[list(columns)]
    return part.loc[np.asarray(selection.evaluate(part), dtype=bool), list(columns)]


def _agg_template(spec):
    """An empty datashader aggregate with the canvas' coordinates and the reduction's dtype."""
    import datashader as ds

    xcol, ycol, x_range, y_range, width, height, how, column = spec
    cvs = ds.Canvas(plot_width=width, plot_height=height, x_range=x_range, y_range=y_range)
    empty = pd.DataFrame({xcol: np.zeros(0, np.float32), ycol: np.zeros(0, np.float32), "v": np.zeros(0, np.float32)})
    agg = ds.count() if how == "count" else getattr(ds, how)("v")
    return cvs.points(empty, xcol, ycol, agg=agg)


def _agg_part(part: pd.DataFrame, spec, selection):
    """One partition's grid: counts, (sum, count) for a mean, or max/min (NaN where empty)."""
    import datashader as ds

    xcol, ycol, x_range, y_range, width, height, how, column = spec
    if selection is not None:
        part = part[np.asarray(selection.evaluate(part), dtype=bool)]
    cvs = ds.Canvas(plot_width=width, plot_height=height, x_range=x_range, y_range=y_range)
    if how == "count":
        return cvs.points(part, xcol, ycol, agg=ds.count()).values
    if how == "mean":
        total = cvs.points(part, xcol, ycol, agg=ds.sum(column)).values.astype(np.float64)
        n = cvs.points(part, xcol, ycol, agg=ds.count(column)).values
        return np.nan_to_num(total), n
    return cvs.points(part, xcol, ycol, agg=getattr(ds, how)(column)).values


def _combine_sum(*grids):
    if isinstance(grids[0], tuple):
        return tuple(np.sum([g[k] for g in grids], axis=0) for k in range(len(grids[0])))
    return np.sum(grids, axis=0)


def _combine_max(*grids):
    return functools.reduce(np.fmax, grids)


def _combine_min(*grids):
    return functools.reduce(np.fmin, grids)


def _meets(pixels: np.ndarray, lo: int, hi: int) -> bool:
    """Whether any of the sorted ``pixels`` lies in [lo, hi]."""
    return bool(np.searchsorted(pixels, lo, side="left") < np.searchsorted(pixels, hi, side="right"))


def _haversine(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    r0, d0 = math.radians(ra0), math.radians(dec0)
    return np.sin((dec - d0) / 2) ** 2 + np.cos(dec) * math.cos(d0) * np.sin((ra - r0) / 2) ** 2


def _haversine_mask(ra, dec, ra0, dec0, radius_deg) -> np.ndarray:
    """Same test as ``app.selection.Cone`` (haversine <= sin^2(r/2))."""
    return _haversine(ra, dec, ra0, dec0) <= math.sin(math.radians(radius_deg) / 2) ** 2


__all__ = ["DaskCatalogue", "PARTITION_ROWS", "Piece", "aggregate_frame", "select_columns", "sky_column"]
