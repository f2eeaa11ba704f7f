"""A release on Dask: the catalogue interface of :class:`~data_loaders.catalogue.Catalogue` for
catalogues that do not fit one process (10^8 detections and beyond).

Nothing is loaded at construction: the release's Parquet file is cut into *pieces* of whole
row groups (``partition_rows`` rows each), and since ingest and the partitioned demo writer
order rows by HEALPix (``HPX``, nside 64, nested), every piece covers a known HPX range (from
the row-group statistics). A piece is one Dask partition; its reader converts Arrow columns to
the same numpy dtypes as the pandas catalogue (float32 measurements, float64 positions, no
Arrow-backed numbers, which datashader rejects) and adds projected sky columns on the fly.

- :meth:`frame` is a Dask DataFrame of a level (``detections`` or ``sources``).
- :meth:`select` gives a :class:`DaskSubset`, this engine's answer to the catalogue interface
  (:class:`data_loaders.catalogue.Subset`): grids run datashader on each partition with the
  selection evaluated there and add the partitions' grids up; the plotting columns
  (``SKY_X_<proj>_<frame>``, ``SKY_Y_...`` and the selection's columns) are persisted on the
  cluster when a client is given, so a re-render reads no Parquet; table pages are top-k over
  the partitions (the first :data:`MAX_PAGES`, a declared capability); exports stream.
- :meth:`cone` reads only the row groups whose HPX range meets the cone's HEALPix pixels.

Selections are the objects of :mod:`app.selection` (anything with ``evaluate(frame)``,
``columns()`` and ``kind``); ``None`` means every row.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
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

from data_loaders import capabilities, projection, schema
from data_loaders import grid as grids
from data_loaders import pyramid as pyramids
from data_loaders.catalogue import (
    CHUNK_ROWS,
    LEVELS,
    SOURCE_LEVEL_COLUMNS,
    CatalogueEngine,
    Subset,
    _is_all,
    _numpy_frame,
    _sort_key,
    add_joined,
    joined_columns,
    log10_positive,
    lonlat_columns,
    nearest_within_reach,
    reach_deg,
    sky_column,
)
from data_loaders.errors import CatalogueError
from data_loaders.ingest import HPX_COLUMN, HPX_NSIDE
from data_loaders.process_cache import ProcessCache

log = logging.getLogger("xmm_explorer.dask")

#: Rows per Dask partition (whole row groups of ~100k rows): few, large tasks keep the
#: per-task overhead (and the per-partition aggregate arrays datashader combines) small.
PARTITION_ROWS = 2_000_000
CLASS_COLUMNS = ("CLASS", "CLASS_PROB")
#: Pages of the table a sort order offers on Dask (each is a top-k over every partition).
MAX_PAGES = 100
_lonlat_columns = lonlat_columns


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
    joined=None,
) -> pd.DataFrame:
    """One partition: the piece's row groups as numpy-typed pandas, plus class, joined and sky columns."""
    joined = joined or {}
    want_classes = any(c in CLASS_COLUMNS for c in columns)
    logs = [c for c in columns if c.startswith("LOG10_")]
    want_joined = list(dict.fromkeys(c for c in (*columns, *(c[6:] for c in logs)) if c in joined))
    read = [c for c in columns if c not in CLASS_COLUMNS and c not in joined and not c.startswith(("SKY_", "LOG10_"))]
    read += [c[6:] for c in logs if c[6:] not in read and c[6:] not in joined]
    if (want_classes or want_joined) and "SRCID" not in read:
        read.append("SRCID")
    for frame, _proj in sky:
        read += [c for c in _lonlat_columns(level, frame) if c not in read]
    table = pq.ParquetFile(piece.path).read_row_groups(list(piece.row_groups), columns=read)
    df = _numpy_frame(table)
    if want_classes:
        _add_classes(df, lookup)
    add_joined(df, joined, want_joined)
    for c in logs:
        df[c] = log10_positive(df[c[6:]])
    for frame, proj in sky:
        lon, lat = (df[c].to_numpy(np.float64) for c in _lonlat_columns(level, frame))
        x, y = projection.forward(lon, lat, proj)
        df[sky_column("x", proj, frame)] = x.astype(np.float32)
        df[sky_column("y", proj, frame)] = y.astype(np.float32)
    return df[list(columns)]


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
    return grids.histogram(values, edges)


class DaskCatalogue(CatalogueEngine):
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
    pyramid : bool
        Draw zoomed-out views of every row from the HEALPix pyramid (:mod:`data_loaders.pyramid`),
        built on the cluster and written beside the Parquet when missing or stale.
    prune : bool
        Aggregate only the partitions whose HPX range meets the view.

    Attributes
    ----------
    name, title, synthetic, meta, path, all_columns
        As on :class:`~data_loaders.catalogue.Catalogue`.
    row_groups_read : int
        Row groups read by :meth:`cone` so far (tests check the pruning with it).
    """

    computes_remotely = True

    def __init__(
        self,
        release_path: Path,
        client=None,
        partition_rows: int = PARTITION_ROWS,
        *,
        pyramid: bool = True,
        prune: bool = True,
    ):
        super().__init__(release_path)
        self.use_pyramid, self.prune = pyramid, prune
        self._pyramids: dict[str, pyramids.Pyramid | None] = {}
        self.client = client
        self._address = getattr(getattr(client, "scheduler", None), "address", None)  # named after a loss too
        self._files = pyramids.level_files(self.path)
        det_files = self._files["detections"]
        if not det_files:
            raise CatalogueError(f"{self.path} has no detection Parquet files.")
        self.all_columns = pq.read_schema(det_files[0]).names
        self._pieces = {
            level: [p for f in files for p in _pieces(f, partition_rows)] for level, files in self._files.items()
        }
        src_names = pq.read_schema(self._files["sources"][0]).names
        #: OM and photoz columns joined by SRCID, as the in-memory engine joins them.
        self._joined = joined_columns(self.path)
        added = CLASS_COLUMNS + tuple(self._joined)
        self._level_columns = {
            "detections": tuple(c for c in (*schema.EXPLORE_COLUMNS, HPX_COLUMN) if c in self.all_columns) + added,
            "sources": tuple(c for c in SOURCE_LEVEL_COLUMNS if c in src_names) + added,
        }
        #: Every column a frame may read (the release's), beyond the Explore ones held for plots.
        self._readable = {"detections": set(self.all_columns), "sources": set(src_names)}
        self._lookup = _class_lookup(self.path)
        self._metas: dict[tuple[str, tuple[str, ...]], pd.DataFrame] = {}
        self._plot: dict[tuple[str, tuple[str, ...]], dd.DataFrame] = {}
        self._worst_errors: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.row_groups_read = 0
        self.selected_xy = SelectedXY()
        self.capabilities = self.capabilities.without(
            capabilities.DEEP_PAGES,
            f"On the Dask backend the table offers the first {MAX_PAGES} pages of each sort order; "
            "export the selection for every row.",
        )

    def __repr__(self) -> str:
        return f"DaskCatalogue({self.name!r}, {self.n_rows('detections'):,} detections, {self.npartitions} partitions)"

    def engine_address(self) -> str | None:
        return self._address

    def engine_note(self) -> str:
        """Which cluster computes the page (scheduler, workers, threads, memory) and how big the release is."""
        try:
            info = self.client.scheduler_info(n_workers=-1) if self.client is not None else {}
        except Exception as exc:  # the note must not take the page down
            return f"Dask backend: the cluster does not answer ({type(exc).__name__})."
        workers = info.get("workers", {}) if info else {}
        where = "a local Dask cluster" if getattr(self.client, "cluster", None) is not None else "the Dask cluster"
        memory = sum(int(w.get("memory_limit", 0) or 0) for w in workers.values())
        threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
        parts = self.npartitions
        return (
            f"Dask backend: this page runs on {where} (scheduler {info.get('address', 'in this process')} · "
            f"{len(workers)} worker{'s' if len(workers) != 1 else ''} · {threads} thread{'s' if threads != 1 else ''}"
            + (f" · {memory / 1e9:.1f} GB" if memory else "")
            + f"); {self.n_rows('detections'):,} detections in {parts} partition{'s' if parts != 1 else ''}."
        )

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
        known = set(self._level_columns[level]) | self._readable[level]
        known |= {f"LOG10_{c}" for c in known}
        unknown = [c for c in cols if c not in known and not c.startswith("SKY_")]
        if unknown:
            raise CatalogueError(f"Release {self.name} has no column(s) {', '.join(unknown)} at the {level} level.")
        sky = _sky_needs(cols)
        for frame, proj in sky:
            if frame not in ("icrs", "galactic") or proj not in projection.PROJECTIONS:
                raise CatalogueError(f"Unknown sky column for frame {frame!r} and projection {proj!r}.")
        pieces = self._pieces[level] if pieces is None else pieces
        reader = functools.partial(
            _read_piece, level=level, columns=cols, sky=sky, lookup=self._lookup, joined=self._joined
        )
        key = (level, cols)
        if key not in self._metas:
            first = self._pieces[level][0]
            self._metas[key] = reader(Piece(first.path, first.row_groups[:1], 0, first.hpx_min, first.hpx_max)).iloc[:0]
        meta = self._metas[key]
        # Text stays as the in-memory engine holds it (Dask would make it Arrow strings).
        with dask.config.set({"dataframe.convert-string": False}):
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

    # --- pyramid and pruning -------------------------------------------------------------------
    def pyramid(self, level: str) -> pyramids.Pyramid | None:
        """The level's HEALPix pyramid, built (on the cluster) and written first if missing or stale.

        None when the catalogue was opened with ``pyramid=False`` or the release directory cannot
        be written (the rows are drawn then).
        """
        if not self.use_pyramid:
            return None
        with self._lock:
            if level in self._pyramids:
                return self._pyramids[level]
        files = self._files[level]
        pyr = pyramids.load(self.path, level, files)
        if pyr is None:
            try:
                pyramids.build(self.path, level, files, cells_of=self._compute_cells)
            except OSError as exc:
                log.warning("No sky pyramid for %s %s (%s): drawing the rows", self.name, level, exc)
            else:
                pyr = pyramids.load(self.path, level, files)
        with self._lock:
            self._pyramids[level] = pyr
        return pyr

    def _compute_cells(self, tasks: list) -> list[pd.DataFrame]:
        delayed = [dask.delayed(pyramids.row_group_cells)(*t) for t in tasks]
        if self.client is not None:
            return self.client.gather(self.client.compute(delayed))
        return list(dask.compute(*delayed))

    def view_partitions(self, level: str, xcol: str, x_range, y_range) -> list[int] | None:
        """Indices of the partitions whose HPX range meets a projected view; None for all of them."""
        if not self.prune or x_range is None or y_range is None or not xcol.startswith("SKY_"):
            return None
        _, _axis, proj, frame = xcol.split("_", 3)
        pixels = pyramids.view_pixels(proj, frame, x_range, y_range)
        pieces = self._pieces[level]
        keep = [i for i, p in enumerate(pieces) if _meets(pixels, p.hpx_min, p.hpx_max)]
        return None if len(keep) == len(pieces) else keep

    # --- the interface -------------------------------------------------------------------------
    def select(self, level: str, selection=None) -> DaskSubset:
        """The rows of ``level`` that ``selection`` keeps (lazy: nothing is computed yet)."""
        self._check_level(level)
        return DaskSubset(self, level, selection)

    def find(self, level: str, column: str, values: Sequence, columns: Sequence[str] = ("SRCID",)) -> pd.DataFrame:
        """The rows of ``level`` whose ``column`` is one of ``values`` (go-to by SRCID, DETID, OBS_ID)."""
        want = list(dict.fromkeys([*columns, column]))
        df = self.frame(level, want)
        values = list(values)
        hit = df.map_partitions(lambda p: p[p[column].isin(values)], meta=df._meta)
        return hit.compute()[list(columns)].reset_index(drop=True)

    def name_prefix(self, prefix: str, limit: int) -> pd.DataFrame:
        """SRCID and IAUNAME of up to ``limit`` sources whose name starts with ``prefix`` (spaces and case ignored)."""
        key = prefix.replace(" ", "").upper()
        table = pq.read_table(self._files["sources"][0], columns=["SRCID", "IAUNAME"])
        names = pc.utf8_upper(pc.replace_substring(table.column("IAUNAME").cast(pa.string()), " ", ""))
        hit = table.filter(pc.starts_with(names, key))
        return _numpy_frame(hit.slice(0, limit))

    def source_row(self, srcid: int) -> pd.Series | None:
        """The unique-source row of ``srcid`` (None if unknown)."""
        path = self._files["sources"][0]
        cols = [c for c in self._level_columns["sources"] if c not in CLASS_COLUMNS and c not in self._joined]
        table = pq.read_table(path, columns=cols, filters=[("SRCID", "==", int(srcid))])
        if table.num_rows == 0:
            return None
        df = _numpy_frame(table)
        _add_classes(df, self._lookup)
        add_joined(df, self._joined, list(self._joined))
        return df.iloc[0]

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
        base = [c for c in read if c not in CLASS_COLUMNS and c not in self._joined and not c.startswith("SKY_")]
        if any(c in CLASS_COLUMNS or c in self._joined for c in read) and "SRCID" not in base:
            base.append("SRCID")
        for path, groups in by_file.items():
            table = pq.ParquetFile(path).read_row_groups(groups, columns=base)
            table = table.filter(pc.is_in(table.column(HPX_COLUMN), value_set=pix))
            frames.append(table)
        df = _numpy_frame(pa.concat_tables(frames))
        keep = projection.within(df[ra_col].to_numpy(np.float64), df[dec_col].to_numpy(np.float64), ra, dec, radius_deg)
        df = df[keep].reset_index(drop=True)
        if any(c in CLASS_COLUMNS for c in read):
            _add_classes(df, self._lookup)
        add_joined(df, self._joined, [c for c in read if c in self._joined])
        for frame, proj in _sky_needs(read):
            lon, lat = (df[c].to_numpy(np.float64) for c in _lonlat_columns(level, frame))
            x, y = projection.forward(lon, lat, proj)
            df[sky_column("x", proj, frame)] = x.astype(np.float32)
            df[sky_column("y", proj, frame)] = y.astype(np.float32)
        return df[cols]

    def nearest(
        self,
        level: str,
        frame: str,
        lon: float,
        lat: float,
        max_sep_deg: float,
        selection=None,
        error_column: str | None = None,
    ) -> pd.Series | None:
        """The row of ``level`` nearest to (lon, lat) in ``frame`` within ``max_sep_deg`` (and in the selection).

        With ``error_column``: within ``max_sep_deg`` or 3 times the row's position error
        (:func:`~data_loaders.catalogue.nearest_within_reach`).
        """
        ra, dec = lon, lat
        if frame == "galactic":
            import astropy.units as u
            from astropy.coordinates import SkyCoord

            c = SkyCoord(l=lon * u.deg, b=lat * u.deg, frame="galactic").icrs
            ra, dec = float(c.ra.deg), float(c.dec.deg)
        cols = list(self._level_columns[level])
        if not _is_all(selection):
            cols += [c for c in selection.columns() if c not in cols]
        reach = max_sep_deg
        if error_column is not None:
            cols += [error_column] if error_column not in cols else []
            reach = self._worst_error_reach(level, error_column, max_sep_deg)
        rows = self.cone(ra, dec, reach, cols, level=level)
        if not _is_all(selection) and len(rows):
            rows = rows[np.asarray(selection.evaluate(rows), dtype=bool)]
        if len(rows) == 0:
            return None
        ra_col, dec_col = _lonlat_columns(level, "icrs")
        sep = projection.separation_deg(rows[ra_col].to_numpy(np.float64), rows[dec_col].to_numpy(np.float64), ra, dec)
        errors = rows[error_column].to_numpy(np.float64) if error_column is not None else None
        pick = nearest_within_reach(sep, errors, max_sep_deg)
        return None if pick is None else rows.iloc[pick]

    def _worst_error_reach(self, level: str, error_column: str, max_sep_deg: float) -> float:
        """``max_sep_deg`` or 3 x the largest position error of the level (asked of the cluster once)."""
        key = (level, error_column)
        if key not in self._worst_errors:
            df = self.plot_frame(level, [error_column])
            self._worst_errors[key] = reach_deg(0.0, np.array([float(df[error_column].max().compute())]))
        return max(max_sep_deg, self._worst_errors[key])


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
    n_categories: int = 0,
    partitions: Sequence[int] | None = None,
):
    """Datashader aggregate (numpy grid) of a Dask frame's points, e.g. one persisted by a caller.

    The grid of :meth:`Subset.grid` over the rows ``selection`` keeps (None: all of them), from
    only the ``partitions`` given (None: every one).
    """
    grids.check(how, column)
    # Aggregate each partition on its worker with a function of this module and add the
    # grids up in a tree: shipping datashader's own dask graph pickles its numba closures
    # on every render (~0.7 s on our machines), far more than the aggregation itself.
    spec = (tuple(x_range), tuple(y_range), max(int(width), 2), max(int(height), 2), how, column, n_categories)
    sel = None if _is_all(selection) else selection
    delayed = df.to_delayed()
    if partitions is not None:
        delayed = [delayed[i] for i in partitions]
    parts = [dask.delayed(_agg_part)(p, xcol, ycol, spec, sel) for p in delayed]
    while len(parts) > 1:
        parts = [
            dask.delayed(grids.combine)(how, *parts[i : i + 4]) if len(parts[i : i + 4]) > 1 else parts[i]
            for i in range(0, len(parts), 4)
        ]
    if not parts:
        return grids.empty(spec)
    return grids.finish(how, parts[0].compute())


def select_columns(part: pd.DataFrame, selection, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of a partition that ``selection`` keeps, only ``columns`` (for ``map_partitions``).

    Lives here because workers import this module anyway: a task function from a module that
    imports the plotting stack costs each worker seconds of imports on its first use.
    """
    if _is_all(selection):
        return part[list(columns)]
    return part.loc[np.asarray(selection.evaluate(part), dtype=bool), list(columns)]


def _agg_part(part: pd.DataFrame, xcol: str, ycol: str, spec, selection):
    """One partition's partial grid (see :func:`data_loaders.grid.partial_grid`)."""
    if selection is not None:
        part = part[np.asarray(selection.evaluate(part), dtype=bool)]
    return grids.partial_grid(part, xcol, ycol, spec)


def _meets(pixels: np.ndarray, lo: int, hi: int) -> bool:
    """Whether any of the sorted ``pixels`` lies in [lo, hi]."""
    return bool(np.searchsorted(pixels, lo, side="left") < np.searchsorted(pixels, hi, side="right"))


class SelectedXY:
    """The sky x/y of the rows a selection keeps, persisted on the cluster, for the last few selections.

    A filter change costs one pass over the persisted plotting columns (evaluate the selection,
    keep two float32 columns); every zoom afterwards aggregates only those rows instead of
    re-evaluating the filters on every row. Shared by the sessions of a process (sessions with
    the same filters share one entry); least recently used entries are dropped.
    """

    def __init__(self, size: int = 4):
        self._items: ProcessCache[tuple[dd.DataFrame, int]] = ProcessCache("selected sky x/y", max_items=size)

    def get(self, cat: DaskCatalogue, level: str, selection, xcol: str, ycol: str) -> tuple[dd.DataFrame, int]:
        """(Dask frame of the selected rows' ``xcol``/``ycol``, their number)."""

        def persist() -> tuple[dd.DataFrame, int]:
            base = cat.plot_frame(level, [xcol, ycol, *selection.columns()])
            df = base.map_partitions(select_columns, selection, (xcol, ycol), meta=base._meta[[xcol, ycol]])
            if cat.client is not None:
                from distributed import wait

                df = cat.client.persist(df)
                wait(df)
            return df, int(df.map_partitions(len).compute().sum())

        # another session (or this one's count and sky) may be making it: computed once
        return self._items.get((level, selection, xcol, ycol), persist, paths=[cat.path])

    def clear(self) -> None:
        self._items.clear()


def _top_part(part: pd.DataFrame, index: int, selection, sort_by: str | None, ascending: bool, k: int, columns):
    """The first ``k`` rows of a partition in table order, with their place (partition, position) for ties."""
    pos = np.arange(len(part))
    if not _is_all(selection):
        keep = np.asarray(selection.evaluate(part), dtype=bool)
        part, pos = part[keep], pos[keep]
    if sort_by is None:
        top = np.arange(min(k, len(part)))
        key = np.zeros(top.size)  # catalogue order: by partition, then position
    else:
        v = _sort_key(part[sort_by].to_numpy(np.float64, na_value=np.nan), ascending)
        top = np.lexsort((pos, v))[:k]
        key = v[top]
    out = part.iloc[top][list(columns)].reset_index(drop=True)
    out["_key"], out["_part"], out["_pos"] = key, index, pos[top]
    return out


class DaskSubset(Subset):
    """A subset of a Dask catalogue: the level and the selection, evaluated on the cluster when asked."""

    catalogue: DaskCatalogue

    def __init__(self, catalogue: DaskCatalogue, level: str, selection=None):
        self.catalogue, self.level, self.selection = catalogue, level, selection
        self._count: int | None = None

    def _sel_columns(self) -> list[str]:
        return [] if _is_all(self.selection) else list(self.selection.columns())

    def count(self) -> int:
        if self._count is None:
            cat, sel = self.catalogue, self.selection
            if _is_all(sel):
                self._count = cat.n_rows(self.level)
            else:
                xcol, ycol = sky_column("x", "hammer", "icrs"), sky_column("y", "hammer", "icrs")
                self._count = cat.selected_xy.get(cat, self.level, sel, xcol, ycol)[1]
        return self._count

    def refine(self, selection) -> DaskSubset:
        if _is_all(selection):
            return self
        combined = selection if _is_all(self.selection) else self.selection & selection
        return DaskSubset(self.catalogue, self.level, combined)

    def grid(self, xcol, ycol, x_range, y_range, width, height, how="count", column=None, n_categories=0):
        grids.check(how, column)
        cat = self.catalogue
        if _is_all(self.selection) and xcol.startswith("SKY_"):
            pyr = cat.pyramid(self.level)
            order = pyr.order_for(x_range, width) if pyr is not None else None
            if pyr is not None and order is not None and pyr.can(how, column, order):
                _, _axis, proj, frame = xcol.split("_", 3)
                spec = (tuple(x_range), tuple(y_range), max(int(width), 2), max(int(height), 2), how, column, 0)
                return pyr.grid(order, proj, frame, spec)
        parts = cat.view_partitions(self.level, xcol, x_range, y_range)
        if how == "count" and not _is_all(self.selection):
            df, n = cat.selected_xy.get(cat, self.level, self.selection, xcol, ycol)
            self._count = n
            return aggregate_frame(df, xcol, ycol, x_range, y_range, width, height, partitions=parts)
        cols = [xcol, ycol, *([column] if column else []), *self._sel_columns()]
        df = cat.plot_frame(self.level, cols)
        return aggregate_frame(
            df, xcol, ycol, x_range, y_range, width, height, how, column, self.selection, n_categories, parts
        )

    def histogram(self, column: str, edges: np.ndarray) -> np.ndarray:
        df = self.catalogue.plot_frame(self.level, [column, *self._sel_columns()])
        edges = np.asarray(edges, dtype=np.float64)
        parts = [dask.delayed(_hist_part)(p, column, edges, self.selection) for p in df.to_delayed()]
        counts = np.sum(dask.compute(*parts), axis=0) if parts else np.zeros(edges.size - 1, np.int64)
        return np.asarray(counts, dtype=np.int64)

    def page(self, sort_by, ascending, page, size, columns):
        """A top-k over every partition: only the first :data:`MAX_PAGES` pages (see ``capabilities``)."""
        columns = list(dict.fromkeys(columns))
        if page >= MAX_PAGES:
            raise CatalogueError(self.catalogue.capabilities.reason(capabilities.DEEP_PAGES))
        k = (page + 1) * size
        have = set(self.catalogue.columns(self.level))
        sort_by = sort_by if sort_by in have or (sort_by or "").startswith("LOG10_") else None
        read = list(dict.fromkeys([*columns, *([sort_by] if sort_by else []), *self._sel_columns()]))
        df = self.catalogue.frame(self.level, read)
        parts = [
            dask.delayed(_top_part)(p, i, self.selection, sort_by, ascending, k, columns)
            for i, p in enumerate(df.to_delayed())
        ]
        tops = [t for t in dask.compute(*parts) if len(t)]
        if not tops:
            return df._meta[columns].copy()
        top = pd.concat(tops, ignore_index=True)
        order = np.lexsort((top["_pos"].to_numpy(), top["_part"].to_numpy(), top["_key"].to_numpy()))
        return top.iloc[order[page * size : k]][columns].reset_index(drop=True)

    def nearest(self, frame, lon, lat, max_sep_deg, error_column=None):
        return self.catalogue.nearest(
            self.level, frame, lon, lat, max_sep_deg, selection=self.selection, error_column=error_column
        )

    def chunks(self, columns, chunk_rows=CHUNK_ROWS):
        """The rows as pandas chunks in partition order, the workers computing ahead of this process."""
        cols = list(dict.fromkeys(columns))
        df = self.catalogue.frame(self.level, list(dict.fromkeys([*cols, *self._sel_columns()])))
        df = df.map_partitions(select_columns, self.selection, tuple(cols), meta=df._meta[cols])
        for chunk in _stream(df, self.catalogue.client):
            if len(chunk):
                yield chunk.reset_index(drop=True)

    def srcids(self) -> np.ndarray:
        df = self.catalogue.plot_frame(self.level, ["SRCID", *self._sel_columns()])
        ids = df.map_partitions(select_columns, self.selection, ("SRCID",), meta=df._meta[["SRCID"]])
        return np.unique(ids["SRCID"].compute().to_numpy(np.int64))


def _stream(df: dd.DataFrame, client) -> Iterator[pd.DataFrame]:
    """The partitions of a Dask frame in order, computing ahead on every worker (one partition each)."""
    parts = iter(df.to_delayed())
    if client is None:
        for part in parts:
            yield part.compute()
        return
    ahead = max(len(client.scheduler_info(n_workers=-1).get("workers", {})), 1) + 1
    pending = deque(client.compute(p) for _, p in zip(range(ahead), parts, strict=False))
    try:
        while pending:
            chunk = pending.popleft().result()
            nxt = next(parts, None)
            if nxt is not None:
                pending.append(client.compute(nxt))
            yield chunk
    finally:
        for future in pending:  # an export stopped early (row limit, error): drop the rest
            future.cancel()


__all__ = ["DaskCatalogue", "DaskSubset", "PARTITION_ROWS", "Piece", "aggregate_frame", "select_columns", "sky_column"]
