"""The catalogue interface, and its in-memory engine: one ingested release loaded once per process.

Every page reaches the shared catalogue through one small interface, whichever engine holds it
(this module in memory, :mod:`data_loaders.dask_catalogue` on a Dask cluster):

- ``catalogue.select(level, selection)`` -> a :class:`Subset`, the rows of a level a selection
  (:mod:`app.selection`) keeps, which answers ``count()``, ``grid(...)`` (datashader
  aggregates: count, mean/max/min of a column, counts per class), ``histogram(column, edges)``,
  ``page(...)`` (one sorted page of the table), ``nearest(...)`` (tap), ``chunks(columns)``
  (streamed exports), ``srcids()`` and ``refine(selection)`` (AND another selection);
- ``n_rows(level)``, ``columns(level)``, ``source_row(srcid)``, ``detections_of(srcid)``,
  ``find(level, column, values)`` and ``name_prefix(prefix)`` (go-to), ``capabilities``.

Besides the release's columns a selection or a grid may name virtual columns:
``SKY_X_<proj>_<frame>`` / ``SKY_Y_...`` (projected sky positions, float32) and
``LOG10_<column>`` (log10 of a positive column, NaN elsewhere).

``Catalogue.detections`` and ``Catalogue.sources`` hold only the columns the Explore page
plots and filters, as numpy float32 where precision allows (datashader rejects Arrow-backed
numbers); other columns are read from the Parquet release on demand.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pat

from data_loaders import capabilities, projection, schema
from data_loaders import grid as grids
from data_loaders.errors import CatalogueError
from data_loaders.ingest import HPX_COLUMN, list_releases, read_release_meta, releases_dir
from data_loaders.process_cache import ProcessCache

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

#: Columns kept in memory for the unique-source level (one row per SRCID).
SOURCE_LEVEL_COLUMNS = (
    "SRCID",
    "IAUNAME",
    "SC_RA",
    "SC_DEC",
    "LII",
    "BII",
    "SC_POSERR",
    "SC_DET_ML",
    "SC_EP_1_FLUX",
    "SC_EP_2_FLUX",
    "SC_EP_3_FLUX",
    "SC_EP_4_FLUX",
    "SC_EP_5_FLUX",
    "SC_EP_8_FLUX",
    "SC_EP_8_FLUX_ERR",
    "SC_EP_8_FMIN",
    "SC_EP_8_FMAX",
    "SC_HR1",
    "SC_HR2",
    "SC_HR3",
    "SC_HR4",
    "SC_EXTENT",
    "SC_SUM_FLAG",
    "SC_VAR_FLAG",
    "SC_CHI2PROB",
    "N_DETECTIONS",
    "MJD_FIRST",
    "MJD_LAST",
    HPX_COLUMN,
    "VAR_PROB",  # stacked releases: variability between observations
    "FRATIO",
    *schema.BANDFIT_NAMES,  # the five-band fit of the SC_ fluxes
)
LEVELS = ("detections", "sources")
FRAMES = ("icrs", "galactic")
#: Rows per chunk of a streamed export.
CHUNK_ROWS = 50_000


def sky_column(axis: str, proj: str, frame: str) -> str:
    """Name of the virtual column of projected sky coordinates, e.g. ``SKY_X_hammer_icrs``."""
    return f"SKY_{axis.upper()}_{proj}_{frame}"


def parse_sky_column(name: str) -> tuple[str, str, str]:
    """(axis 'X'/'Y', projection, frame) of a ``SKY_`` column name; CatalogueError if it names none."""
    parts = name.split("_", 3)
    known = len(parts) == 4 and parts[1] in ("X", "Y") and parts[2] in projection.PROJECTIONS and parts[3] in FRAMES
    if not known:
        raise CatalogueError(f"{name!r} names no projected sky column (SKY_X_<projection>_<frame>).")
    return parts[1], parts[2], parts[3]


def log_column(column: str) -> str:
    """Name of the virtual column of log10 of a positive column, e.g. ``LOG10_EP_8_FLUX``."""
    return f"LOG10_{column}"


def lonlat_columns(level: str, frame: str) -> tuple[str, str]:
    """The longitude/latitude columns (deg) of ``level`` in ``frame`` (icrs or galactic)."""
    if frame == "galactic":
        return "LII", "BII"
    return ("SC_RA", "SC_DEC") if level == "sources" else ("RA", "DEC")


#: A tap or a go-to reaches a source up to this many times its 1-sigma position error.
ERROR_SIGMAS = 3.0


def reach_deg(max_sep_deg: float, errors_arcsec: np.ndarray | None) -> float:
    """How far to look for candidates: ``max_sep_deg`` or the largest ``ERROR_SIGMAS`` x error."""
    if errors_arcsec is None or not np.size(errors_arcsec):
        return max_sep_deg
    worst = np.nanmax(np.asarray(errors_arcsec, dtype=np.float64), initial=0.0)
    return max(max_sep_deg, ERROR_SIGMAS * float(worst) / 3600.0)


def nearest_within_reach(sep_deg: np.ndarray, errors_arcsec: np.ndarray | None, max_sep_deg: float) -> int | None:
    """Index of the nearest candidate within ``max(max_sep_deg, ERROR_SIGMAS x its error)``, or None.

    Both engines pick a tapped source with this: a source is never out of reach closer than
    its 3-sigma position error, whatever the zoom.
    """
    sep = np.asarray(sep_deg, dtype=np.float64)
    reach = np.full(sep.shape, max_sep_deg)
    if errors_arcsec is not None:
        err = np.nan_to_num(np.asarray(errors_arcsec, dtype=np.float64), nan=0.0)
        reach = np.maximum(reach, ERROR_SIGMAS * err / 3600.0)
    ok = np.flatnonzero(sep <= reach)
    return None if ok.size == 0 else int(ok[np.argmin(sep[ok])])


def log10_positive(values: np.ndarray) -> np.ndarray:
    """log10 where positive, NaN elsewhere, float32."""
    v = np.asarray(values, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log10(v), np.nan).astype(np.float32)


def _is_all(selection) -> bool:
    return selection is None or getattr(selection, "kind", "") == "all"


def _sort_key(values: np.ndarray, ascending: bool) -> np.ndarray:
    """Values to sort ascending so that NaN comes last whichever the direction."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(v), np.inf, v if ascending else -v)


def sort_order(values: np.ndarray, ascending: bool) -> np.ndarray:
    """Every row in table order: by value, NaN last whichever the direction, ties by row."""
    order = np.argsort(_sort_key(values, ascending), kind="stable")  # stable: ties keep row order
    return order.astype(np.int32) if order.size < 2**31 else order


class Subset:
    """The rows of one level that a selection keeps; every engine's subset answers these.

    Attributes: ``catalogue``, ``level``, ``selection`` (an :mod:`app.selection` object; All
    for every row).
    """

    catalogue: CatalogueEngine
    level: str
    selection: Any

    def count(self) -> int:
        """How many rows."""
        raise NotImplementedError

    def refine(self, selection) -> Subset:
        """The rows of this subset that ``selection`` keeps too."""
        raise NotImplementedError

    def grid(
        self,
        xcol: str,
        ycol: str,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        width: int,
        height: int,
        how: str = "count",
        column: str | None = None,
        n_categories: int = 0,
    ) -> np.ndarray:
        """Datashader aggregate of the rows on a ``width`` x ``height`` canvas (rows: y, bottom up).

        ``how``: 'count', 'mean' / 'max' / 'min' of ``column`` (NaN where empty), or 'by': counts
        per integer code of ``column`` (codes outside [0, n_categories - 1) count in the last one),
        a (height, width, n_categories) array.
        """
        raise NotImplementedError

    def histogram(self, column: str, edges: np.ndarray) -> np.ndarray:
        """Counts of the rows' finite values of ``column`` in the bins of ``edges`` (as np.histogram)."""
        raise NotImplementedError

    def page(self, sort_by: str | None, ascending: bool, page: int, size: int, columns: Sequence[str]) -> pd.DataFrame:
        """One page of the rows sorted by ``sort_by`` (None: catalogue order; NaN last, ties in
        catalogue order), with ``columns``."""
        raise NotImplementedError

    def nearest(
        self, frame: str, lon: float, lat: float, max_sep_deg: float, error_column: str | None = None
    ) -> pd.Series | None:
        """The row nearest to (lon, lat) (deg, ``frame``) within ``max_sep_deg``, or None.

        With ``error_column`` (a 1-sigma position error in arcsec), a row is also within reach
        up to :data:`ERROR_SIGMAS` times its own error (see :func:`nearest_within_reach`).
        """
        raise NotImplementedError

    def chunks(self, columns: Sequence[str], chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The rows' ``columns`` as pandas chunks (for a streamed export), in catalogue order."""
        raise NotImplementedError

    def srcids(self) -> np.ndarray:
        """The sorted unique SRCIDs of the rows."""
        raise NotImplementedError


class ColumnView:
    """Read-only mapping of column name -> array for one level of an in-memory catalogue.

    Selections evaluate against it: real columns come from the shared frame (no copy),
    virtual ones (``SKY_...``, ``LOG10_...``) from the catalogue's per-process caches.
    """

    def __init__(self, catalogue: Catalogue, level: str):
        self.catalogue, self.level = catalogue, level
        self.frame = catalogue.frame(level)

    def __getitem__(self, name: str):
        if name.startswith("SKY_"):
            axis, proj, frame = parse_sky_column(name)
            x, y = self.catalogue.xy(self.level, frame, proj)
            return x if axis == "X" else y
        if name.startswith("LOG10_") and name[6:] in self.frame:
            return self.catalogue.log10(self.level, name[6:])
        return self.frame[name]

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, name: str) -> bool:
        return name.startswith("SKY_") or name in self.frame or (name.startswith("LOG10_") and name[6:] in self.frame)


def _row_pieces(rows: np.ndarray, chunk_rows: int, span: int | None) -> Iterator[np.ndarray]:
    """Split sorted row positions into pieces of <= chunk_rows rows, each inside one span of the catalogue."""
    if rows.size == 0:
        return
    cuts = np.flatnonzero(np.diff(rows // span)) + 1 if span else np.array([], dtype=np.int64)
    for part in np.split(rows, cuts):
        for i in range(0, part.size, chunk_rows):
            yield part[i : i + chunk_rows]


#: Rows of the catalogue one read of columns not held in memory may span (~ a row group or two).
SPAN_ROWS = 131_072


class MemorySubset(Subset):
    """A subset of an in-memory catalogue: a boolean mask over ``catalogue.frame(level)``."""

    catalogue: Catalogue

    def __init__(self, catalogue: Catalogue, level: str, selection, mask: np.ndarray):
        self.catalogue, self.level, self.selection, self.mask = catalogue, level, selection, mask
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = int(np.count_nonzero(self.mask))
        return self._count

    def refine(self, selection) -> MemorySubset:
        if _is_all(selection):
            return self
        mask = self.mask & np.asarray(selection.evaluate(self.catalogue.view(self.level)), dtype=bool)
        combined = selection if _is_all(self.selection) else self.selection & selection
        return MemorySubset(self.catalogue, self.level, combined, mask)

    def _values(self, name: str) -> np.ndarray:
        return np.asarray(self.catalogue.view(self.level)[name])

    def grid(self, xcol, ycol, x_range, y_range, width, height, how="count", column=None, n_categories=0):
        grids.check(how, column)
        sel = slice(None) if self.mask.all() else self.mask
        cols = {xcol: self._values(xcol)[sel], ycol: self._values(ycol)[sel]}
        if column is not None:
            cols[column] = self._values(column)[sel]
        frame = pd.DataFrame(cols, copy=False)
        return grids.points(frame, xcol, ycol, (x_range, y_range, width, height, how, column, n_categories))

    def histogram(self, column: str, edges: np.ndarray) -> np.ndarray:
        edges = np.asarray(edges, dtype=np.float64)
        if edges.size > 256 or not np.allclose(np.diff(edges), edges[1] - edges[0], rtol=1e-9, atol=0):
            return grids.histogram(self._values(column)[self.mask], edges)
        # Each row's bin does not depend on the selection: computed once per process and column,
        # a filter change only counts the bins of its rows.
        values = self._values(column)  # outside ``derived``: the catalogue's lock is not re-entrant
        key = f"bins:{column}:{edges[0]!r}:{edges[-1]!r}:{edges.size}"
        bins = self.catalogue.derived(self.level, key, lambda: grids.uniform_bins(values, edges).astype(np.uint8))
        n = edges.size - 1
        return np.bincount(bins[self.mask], minlength=n + 1)[:n]

    def page(self, sort_by, ascending, page, size, columns):
        if sort_by is None or sort_by not in self.catalogue.view(self.level):
            rows = np.flatnonzero(self.mask)[page * size : (page + 1) * size]
        else:
            order = self.catalogue.sort_order(self.level, sort_by, ascending)
            hits = np.flatnonzero(self.mask[order])[page * size : (page + 1) * size]
            rows = order[hits].astype(np.intp)
        return self.catalogue.rows(self.level, rows, columns)

    def nearest(self, frame, lon, lat, max_sep_deg, error_column=None):
        row = self.catalogue.nearest(
            self.level, frame, lon, lat, max_sep_deg, mask=self.mask, error_column=error_column
        )
        return None if row is None else self.catalogue.frame(self.level).iloc[row]

    def chunks(self, columns, chunk_rows=CHUNK_ROWS):
        cat, columns = self.catalogue, list(columns)
        view = cat.view(self.level)
        disk = [c for c in columns if c not in view]
        pending: list[pd.DataFrame] = []
        waiting = 0
        for piece in _row_pieces(np.flatnonzero(self.mask), chunk_rows, SPAN_ROWS if disk else None):
            out = cat.rows(self.level, piece, columns)
            if waiting and waiting + len(out) > chunk_rows:
                yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
                pending, waiting = [], 0
            pending.append(out)
            waiting += len(out)
        if pending:
            yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]

    def srcids(self) -> np.ndarray:
        return np.unique(self.catalogue.frame(self.level)["SRCID"].to_numpy(np.int64)[self.mask])


def _numpy_frame(table) -> pd.DataFrame:
    """Arrow table -> pandas with numpy dtypes: float32 for measurements, float64 for positions."""
    out = {}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pat.is_floating(t):
            keep64 = name in ("RA", "DEC", "SC_RA", "SC_DEC", "LII", "BII") or name.startswith("MJD")
            out[name] = col.to_numpy().astype(np.float64 if keep64 else np.float32)
        elif pat.is_integer(t):
            arr = col.to_numpy(zero_copy_only=False)
            if col.null_count:
                out[name] = pd.array(col.to_pylist(), dtype="Int64")
            else:
                out[name] = arr
        elif str(t) == "bool":
            out[name] = col.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        else:
            if col.num_chunks > 1:
                # One chunk per file or row group: taking rows from a chunked column costs about
                # a millisecond per call whatever their number (every page of the table does it).
                col = pa.chunked_array([col.combine_chunks()], type=t)
            out[name] = col.to_pandas()
    return pd.DataFrame(out)


def joined_columns(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Columns of the release's added-value tables that both engines join onto both levels by SRCID.

    ``om.parquet``: OM_SEP, OM_<filter>_AB_MAG and OM_CLASS (class codes as ``CLASS``, -1 none);
    ``photoz.parquet``: PHOTO_Z, LOG_LX. Name -> (sorted SRCID, values), read once per engine.
    """
    from data_loaders.om import OM_FILE
    from data_loaders.photoz import FRAME_COLUMNS, PHOTOZ_FILE

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for filename, pick in (
        (OM_FILE, lambda c: c in ("OM_SEP", "OM_CLASS") or c.endswith("_AB_MAG")),
        (PHOTOZ_FILE, lambda c: c in FRAME_COLUMNS),
    ):
        p = Path(path) / filename
        if not p.exists():
            continue
        table = pd.read_parquet(p).drop_duplicates("SRCID").sort_values("SRCID")
        srcid = table["SRCID"].to_numpy(np.int64)
        for c in table.columns:
            if pick(c):
                dtype = np.int8 if c == "OM_CLASS" else np.float32
                out[c] = (srcid, table[c].to_numpy(dtype))
    return out


def add_joined(df: pd.DataFrame, joined: dict[str, tuple[np.ndarray, np.ndarray]], names: Sequence[str]) -> None:
    """Set the joined columns ``names`` on ``df`` (which has SRCID): NaN, or -1 for OM_CLASS, where none."""
    ids = df["SRCID"].to_numpy(np.int64) if len(names) else None
    for name in names:
        srcid, values = joined[name]
        missing = -1 if values.dtype.kind == "i" else np.nan
        out = np.full(len(df), missing, dtype=values.dtype)
        if srcid.size and len(df):
            assert ids is not None  # read above whenever there are names
            pos = np.clip(np.searchsorted(srcid, ids), 0, srcid.size - 1)
            hit = srcid[pos] == ids
            out[hit] = values[pos[hit]]
        df[name] = out


class ReleaseDirectory:
    """What every catalogue backend knows of an ingested release directory: path and metadata."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not (self.path / schema.RELEASE_META_FILE).exists():
            raise CatalogueError(f"{self.path} is not an ingested release (no {schema.RELEASE_META_FILE}).")
        self.meta = read_release_meta(self.path)
        self.name: str = self.meta["name"]
        self.title: str = self.meta.get("title", self.name)
        self.synthetic: bool = bool(self.meta.get("synthetic"))
        #: Column groups this release has (and engine limits, added by an engine with ``without``).
        self.capabilities: capabilities.Capabilities = capabilities.of_release(self.path, self.meta)


class CatalogueEngine(ReleaseDirectory):
    """The catalogue interface every engine implements (see the module doc); pages use only this."""

    all_columns: list[str]
    #: Whether answers are computed elsewhere (a Dask cluster), where one may wait in a queue behind
    #: other work: a server then asks off the thread that serves its other visitors.
    computes_remotely = False

    def n_rows(self, level: str = "detections") -> int:
        raise NotImplementedError

    def columns(self, level: str = "detections") -> tuple[str, ...]:
        """Columns of ``level`` a selection, grid or page may name without a read of the release."""
        raise NotImplementedError

    def select(self, level: str, selection=None) -> Subset:
        """The rows of ``level`` that ``selection`` keeps (None or All: every row)."""
        raise NotImplementedError

    def find(self, level: str, column: str, values: Sequence, columns: Sequence[str] = ("SRCID",)) -> pd.DataFrame:
        """The rows of ``level`` whose ``column`` is one of ``values`` (go-to by SRCID, DETID, OBS_ID, name)."""
        raise NotImplementedError

    def name_prefix(self, prefix: str, limit: int) -> pd.DataFrame:
        """SRCID and IAUNAME of up to ``limit`` sources whose name starts with ``prefix`` (spaces and case ignored)."""
        raise NotImplementedError

    def source_row(self, srcid: int) -> pd.Series | None:
        """The unique-source row of ``srcid`` (None if unknown)."""
        raise NotImplementedError

    def engine_note(self) -> str:
        """One line about the engine for the page (''; a Dask catalogue names its cluster)."""
        return ""

    def engine_address(self) -> str | None:
        """Where the engine computes (a Dask scheduler's address), for error sentences; None in process."""
        return None


class Catalogue(CatalogueEngine):
    """One ingested release (``data_dir/releases/NAME``) in memory.

    Attributes
    ----------
    name, title : str
        Release name (e.g. ``DR14``) and display title.
    synthetic : bool
        True for the generated demo catalogue (the UI labels it "synthetic demo data").
    detections : pandas.DataFrame
        One row per detection with ``schema.EXPLORE_COLUMNS`` (those present): positions in
        deg (float64), fluxes in erg/cm2/s, HRs, extent in arcsec (float32), flags.
    sources : pandas.DataFrame
        One row per SRCID with ``SOURCE_LEVEL_COLUMNS``: SC_ values, galactic LII/BII (deg).
    """

    def __init__(self, path: Path):
        super().__init__(path)
        self._dataset_path = self.path / schema.DETECTIONS_DIR
        self.all_columns = pq.read_schema(self._dataset_path / "part-0.parquet").names
        # UPPER_LIMIT marks the non-detection rows of stacked (5XMM-like) releases.
        wanted = [c for c in (*schema.EXPLORE_COLUMNS, HPX_COLUMN, "UPPER_LIMIT") if c in self.all_columns]
        self.detections = _numpy_frame(pq.read_table(self._dataset_path, columns=wanted))
        src_names = pq.read_schema(self.path / schema.SOURCES_FILE).names
        self.sources = _numpy_frame(
            pq.read_table(self.path / schema.SOURCES_FILE, columns=[c for c in SOURCE_LEVEL_COLUMNS if c in src_names])
        )
        # Per-process caches, all behind one lock: projected positions by (level, frame, projection),
        # sort orders by (level, column, ascending), derived arrays by (level, key), KD-trees by
        # (level, frame), and the normalised source names of the go-to.
        self._xy: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._orders: dict[tuple[str, str, bool], np.ndarray] = {}
        self._derived: dict[tuple[str, str], np.ndarray] = {}
        self._trees: dict[tuple[str, str], cKDTree] = {}
        self._names: pd.Series | None = None
        self._lock = threading.Lock()
        self._add_class_columns()
        self._add_om_columns()

    def _add_om_columns(self) -> None:
        """The added-value columns joined by SRCID (:func:`joined_columns`) on both levels, for filters."""
        joined = joined_columns(self.path)
        for frame in (self.detections, self.sources):
            add_joined(frame, joined, list(joined))

    def _add_class_columns(self) -> None:
        """CLASS (index into schema.CLASS_NAMES, -1 unclassified) and CLASS_PROB on both levels."""
        cls = self.classifications
        for frame in (self.detections, self.sources):
            frame["CLASS"] = np.full(len(frame), -1, dtype=np.int8)
            frame["CLASS_PROB"] = np.full(len(frame), np.nan, dtype=np.float32)
        if cls is None or cls.empty:
            return
        probs = cls[[f"PbaC{i}" for i in range(len(schema.CLASS_NAMES))]].to_numpy(np.float32)
        srcid = cls["SRCID"].to_numpy(np.int64)
        order = np.argsort(srcid)
        srcid, probs = srcid[order], probs[order]
        pred = cls["prediction"].to_numpy(np.int8)[order]
        for frame in (self.detections, self.sources):
            ids = frame["SRCID"].to_numpy(np.int64)
            pos = np.clip(np.searchsorted(srcid, ids), 0, len(srcid) - 1)
            hit = srcid[pos] == ids
            frame.loc[hit, "CLASS"] = pred[pos[hit]]
            frame.loc[hit, "CLASS_PROB"] = probs[pos[hit]].max(axis=1)

    def __repr__(self) -> str:
        return f"Catalogue({self.name!r}, {len(self.detections):,} detections, {len(self.sources):,} sources)"

    # --- the interface -----------------------------------------------------------------------
    def n_rows(self, level: str = "detections") -> int:
        return len(self.frame(level))

    def columns(self, level: str = "detections") -> tuple[str, ...]:
        """The columns held for ``level`` (the others are read from the release when asked for)."""
        return tuple(self.frame(level).columns)

    def view(self, level: str) -> ColumnView:
        return ColumnView(self, level)

    def select(self, level: str, selection=None) -> MemorySubset:
        """The rows of ``level`` that ``selection`` keeps (None or All: every row)."""
        view = self.view(level)
        if _is_all(selection):
            return MemorySubset(self, level, selection, np.ones(len(view), dtype=bool))
        return MemorySubset(self, level, selection, np.asarray(selection.evaluate(view), dtype=bool))

    def rows(self, level: str, rows: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
        """``columns`` of the rows at positions ``rows`` (in memory, or read from the release)."""
        view, columns = self.view(level), list(dict.fromkeys(columns))
        disk = [c for c in columns if c not in view]
        read = self.read_rows(disk, rows, level) if disk else None
        out = {}
        for c in columns:
            if read is not None and c in disk:
                out[c] = read[c].reset_index(drop=True)
                continue
            col = view[c]
            if isinstance(col, pd.Series):
                out[c] = col.iloc[rows].reset_index(drop=True)
            else:
                out[c] = np.asarray(col)[rows]
        return pd.DataFrame(out, index=pd.RangeIndex(len(rows)))

    def sort_order(self, level: str, column: str, ascending: bool) -> np.ndarray:
        """:func:`sort_order` of a column, computed once per process (a few kept, read-only)."""
        key = (level, column, bool(ascending))
        with self._lock:
            hit = self._orders.get(key)
        if hit is not None:
            return hit
        values = np.asarray(self.view(level)[column])
        if values.dtype == object or not np.issubdtype(values.dtype, np.number):
            values = pd.Series(self.view(level)[column]).to_numpy(np.float64, na_value=np.nan)
        order = sort_order(values, ascending)
        order.setflags(write=False)
        with self._lock:
            orders = list(self._orders)
            if len(orders) >= 8:
                del self._orders[orders[0]]
            self._orders[key] = order
        return order

    def find(self, level: str, column: str, values: Sequence, columns: Sequence[str] = ("SRCID",)) -> pd.DataFrame:
        """The rows of ``level`` whose ``column`` is one of ``values`` (go-to by SRCID, DETID, OBS_ID)."""
        rows = np.flatnonzero(np.isin(self.frame(level)[column].to_numpy(), np.asarray(values)))
        return self.rows(level, rows, columns)

    def name_prefix(self, prefix: str, limit: int) -> pd.DataFrame:
        """SRCID and IAUNAME of up to ``limit`` sources whose name starts with ``prefix`` (spaces and case ignored)."""
        src = self.sources
        with self._lock:
            names = self._names
        if names is None:
            names = src["IAUNAME"].astype(str).str.replace(" ", "", regex=False).str.upper()
            with self._lock:
                self._names = names
        hit = np.flatnonzero(names.str.startswith(prefix.replace(" ", "").upper()).to_numpy(bool))[:limit]
        return self.rows("sources", hit, ["SRCID", "IAUNAME"])

    # --- positions ---------------------------------------------------------------------------
    def frame(self, level: str) -> pd.DataFrame:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
        return self.detections if level == "detections" else self.sources

    def lonlat(self, level: str, frame: str) -> tuple[np.ndarray, np.ndarray]:
        """Longitude/latitude (deg) of every row of ``level`` in ``frame`` (icrs or galactic)."""
        df = self.frame(level)
        lon, lat = lonlat_columns(level, frame)
        return df[lon].to_numpy(np.float64), df[lat].to_numpy(np.float64)

    def xy(self, level: str, frame: str, proj: str) -> tuple[np.ndarray, np.ndarray]:
        """Projected plane coordinates (float32, deg) computed once per process and cached."""
        key = (level, frame, proj)
        with self._lock:
            if key not in self._xy:
                lon, lat = self.lonlat(level, frame)
                x, y = projection.forward(lon, lat, proj)
                self._xy[key] = (x.astype(np.float32), y.astype(np.float32))
            return self._xy[key]

    def derived(self, level: str, key: str, compute) -> np.ndarray:
        """A per-process cached array derived from a level's columns (e.g. log10 of a flux)."""
        full = (level, key)
        with self._lock:
            if full not in self._derived:
                self._derived[full] = compute()
            return self._derived[full]

    def log10(self, level: str, column: str) -> np.ndarray:
        """log10 of a positive column (NaN where not positive), float32, cached per process."""

        return self.derived(level, f"log10:{column}", lambda: log10_positive(self.frame(level)[column]))

    def _tree(self, level: str, frame: str) -> cKDTree:
        """KD-tree on unit vectors of a level's positions, built once per process."""
        from scipy.spatial import cKDTree

        key = (level, frame)
        with self._lock:
            if key not in self._trees:
                lon, lat = (np.radians(a) for a in self.lonlat(level, frame))
                xyz = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
                xyz[~np.isfinite(xyz).all(axis=1)] = 10.0  # rows without a position are far from the sphere
                self._trees[key] = cKDTree(xyz)
            return self._trees[key]

    def nearest(
        self,
        level: str,
        frame: str,
        lon: float,
        lat: float,
        max_sep_deg: float,
        mask: np.ndarray | None = None,
        error_column: str | None = None,
    ) -> int | None:
        """Row index of the nearest row of ``level`` within ``max_sep_deg`` (and in ``mask``), or None.

        With ``error_column``: within ``max_sep_deg`` or 3 times the row's position error
        (:func:`nearest_within_reach`).
        """
        tree = self._tree(level, frame)
        lo, la = np.radians(lon), np.radians(lat)
        point = [np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]
        if error_column is not None:
            errors = self.frame(level)[error_column].to_numpy(np.float64)
            worst = self.derived(level, f"max:{error_column}", lambda: np.array([reach_deg(0.0, errors)]))
            reach = max(max_sep_deg, float(worst[0]))
            found = np.asarray(tree.query_ball_point(point, 2.0 * np.sin(np.radians(reach) / 2.0)), dtype=np.intp)
            if mask is not None:
                found = found[mask[found]]
            lons, lats = self.lonlat(level, frame)
            sep = projection.separation_deg(lons[found], lats[found], lon, lat)
            pick = nearest_within_reach(sep, errors[found], max_sep_deg)
            return None if pick is None else int(found[pick])
        chord = 2.0 * np.sin(np.radians(max_sep_deg) / 2.0)
        k = 1
        while True:
            dist, idx = tree.query(point, k=k, distance_upper_bound=chord)
            dist, idx = np.atleast_1d(dist), np.atleast_1d(idx)
            found = idx[np.isfinite(dist)]
            if mask is not None:
                found = found[mask[found]]
            if found.size:
                return int(found[0])
            if np.isinf(dist[-1]) or k >= 4096:
                return None
            k *= 8

    # --- on-demand reads ---------------------------------------------------------------------
    def read_rows(self, columns: list[str], rows: np.ndarray, level: str = "detections") -> pd.DataFrame:
        """Read ``columns`` for the given row positions only (touching just their row groups)."""
        path = self._dataset_path / "part-0.parquet" if level == "detections" else self.path / schema.SOURCES_FILE
        pf = pq.ParquetFile(path)
        unknown = [c for c in columns if c not in pf.schema_arrow.names]
        if unknown:
            raise CatalogueError(f"Release {self.name} has no column(s) {', '.join(unknown)} at the {level} level.")
        rows = np.asarray(rows, dtype=np.int64)
        starts = np.cumsum([0] + [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
        groups = np.unique(np.searchsorted(starts, rows, side="right") - 1)
        if groups.size == 0:
            return _numpy_frame(pf.schema_arrow.empty_table().select(columns))
        table = pf.read_row_groups(groups.tolist(), columns=columns)
        offsets = np.concatenate([[0], np.cumsum([starts[g + 1] - starts[g] for g in groups])])
        local = np.empty(rows.size, dtype=np.int64)
        for k, g in enumerate(groups):
            inside = (rows >= starts[g]) & (rows < starts[g + 1])
            local[inside] = rows[inside] - starts[g] + offsets[k]
        return _numpy_frame(table.take(pa.array(local)))

    def detections_of(self, srcid: int, columns: list[str] | None = None) -> pd.DataFrame:
        """Every detection of one source (all columns, or ``columns``), sorted by MJD_START.

        The rows are found in memory and read by position, touching only their row groups and
        only the requested columns.
        """
        rows = np.flatnonzero(self.detections["SRCID"].to_numpy() == srcid)
        wanted = list(self.all_columns if columns is None else dict.fromkeys(["SRCID", *columns]))
        if rows.size == 0:
            return pd.DataFrame(columns=wanted)
        frame = self.read_rows(wanted, rows)
        return frame.sort_values("MJD_START", kind="stable").reset_index(drop=True) if "MJD_START" in frame else frame

    def source_row(self, srcid: int) -> pd.Series | None:
        """The unique-source row of ``srcid`` (None if unknown)."""
        hit = self.sources.index[self.sources["SRCID"].to_numpy() == srcid]
        return None if len(hit) == 0 else self.sources.loc[hit[0]]

    # --- added-value tables ------------------------------------------------------------------
    def _optional_table(self, filename: str) -> pd.DataFrame | None:
        p = self.path / filename
        return pd.read_parquet(p) if p.exists() else None

    @cached_property
    def classifications(self) -> pd.DataFrame | None:
        return self._optional_table(schema.CLASSIFICATIONS_FILE)

    @cached_property
    def om(self) -> pd.DataFrame | None:
        """OM magnitudes matched to sources (om.parquet, see data_loaders.om), or None."""
        from data_loaders.om import OM_FILE

        return self._optional_table(OM_FILE)

    @cached_property
    def photoz(self) -> pd.DataFrame | None:
        """Photometric redshifts and luminosities per source (photoz.parquet, see data_loaders.photoz), or None."""
        from data_loaders.photoz import PHOTOZ_FILE

        return self._optional_table(PHOTOZ_FILE)

    @cached_property
    def spectral_fits(self) -> pd.DataFrame | None:
        """Published spectral fits (spectral_fits.parquet, see data_loaders.spectral.published), or None."""
        from data_loaders.spectral.published import SPECTRAL_FITS_FILE

        return self._optional_table(SPECTRAL_FITS_FILE)

    @cached_property
    def counterparts(self) -> pd.DataFrame | None:
        return self._optional_table(schema.COUNTERPARTS_FILE)

    @cached_property
    def longterm(self) -> pd.DataFrame | None:
        return self._optional_table(schema.LONGTERM_FILE)

    @property
    def products_root(self) -> Path | None:
        p = self.meta.get("products")
        return Path(p) if p else None


_CATALOGUES: ProcessCache[Catalogue] = ProcessCache("catalogues", max_items=8)


def load_catalogue(data_dir: Path, release: str | None = None) -> Catalogue:
    """The shared, read-only catalogue of ``release`` (default: the first one), loaded once per process."""
    releases = list_releases(data_dir)
    if not releases:
        raise CatalogueError(
            f"No ingested release under {releases_dir(data_dir)}; run `xmm-explorer demo` or `ingest FILE`."
        )
    names = [r["name"] for r in releases]
    if release is None:
        from data_loaders.releases import default_release  # the operator's choice (releases/DEFAULT) or the first

        release = default_release(data_dir)
    if release is None or release not in names:
        raise CatalogueError(f"No release {release!r} in {data_dir}; available: {', '.join(names)}.")
    path = (releases_dir(data_dir) / release).resolve()
    return _CATALOGUES.get(path, lambda: Catalogue(path), paths=[path])
