"""Session state of the Explore page on a Dask-backed catalogue (``xmm-explorer serve --dask``).

The same filters as the pandas page (:class:`app.state.ExploreState`) compile to the same
:mod:`app.selection` objects, but nothing here holds a row mask: every answer is computed
by :class:`~data_loaders.dask_catalogue.DaskCatalogue` on the cluster.

- counts and the sky image come from the plotting columns persisted on the cluster (the sky
  columns of the current projection and every column a filter may read, so moving a filter
  reads no Parquet);
- a cone (typed position and radius) is read with :meth:`DaskCatalogue.cone`, which opens only
  the row groups whose HEALPix range meets it; the rows in the cone stay in this session as
  pandas and are drawn in colour over the filtered sky, counted, tabulated and exported;
- exports stream :meth:`DaskCatalogue.iter_chunks` (one partition at a time) to a file.

The ``compute_*`` methods block (they wait for the cluster) and take a frozen :class:`Query`
so that a view can run them on a worker thread while the user keeps changing the state.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import param
import pyarrow.parquet as pq

from app import fields
from app.plots import sky as skyplot
from app.selection import All, And, Cone, Range, Selection
from data_loaders import projection, schema
from data_loaders.dask_catalogue import DaskCatalogue, aggregate_frame, select_columns, sky_column

LOG_FLUX_BOUNDS = (-16.5, -9.0)
HR_BOUNDS = (-1.0, 1.0)
#: Parameters that change which rows pass the filters.
FILTER_PARAMS = ("level", "log_flux", "hr2", "hr3", "det_ml_min", "extent", "quality")
#: Filter fields (app.fields names) whose columns are persisted for counts and the sky.
FILTER_FIELDS = ("flux", "hr2", "hr3", "det_ml", "extent", "sum_flag")
#: Logical fields of the cone table and the tapped-source card.
TABLE_FIELDS = ("name", "srcid", "ra", "dec", "flux", "hr2", "hr3", "det_ml", "extent", "sum_flag")
#: Logical fields exported (as the pandas page's defaults, where the Dask frame has them).
DEFAULT_CONE_RADIUS_DEG = 5 / 60
MAX_CONE_RADIUS_DEG = 10.0
CONE_TABLE_ROWS = 20
PRESETS = {
    "clean point sources": {"quality": "clean", "extent": "point-like", "det_ml_min": 8.0},
    "extended": {"extent": "extended", "quality": "clean"},
    "bright": {"log_flux": (-12.0, LOG_FLUX_BOUNDS[1])},
}


@dataclass(frozen=True)
class Query:
    """What one computation needs, frozen when it is asked for (the state may change meanwhile)."""

    level: str
    selection: Selection
    cone: tuple[float, float, float] | None
    projection: str
    frame: str
    norm: str
    cmap: str


@dataclass(frozen=True)
class Counts:
    total: int
    filtered: int
    in_cone: int | None = None


@dataclass(frozen=True)
class SkyImage:
    """A bottom-up uint8 palette-index image and what the browser needs to draw it."""

    index: np.ndarray
    kind: str
    cmap: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    n_points: int


@dataclass(frozen=True)
class ConeResult:
    """Rows of a cone that pass the filters, nearest first, and how much of the release was read."""

    rows: pd.DataFrame
    ra: float
    dec: float
    radius_deg: float
    row_groups_read: int
    row_groups_total: int


def _col(field: str, level: str) -> str:
    return fields.column(field, level, 8)


def _separation_deg(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    r0, d0 = math.radians(ra0), math.radians(dec0)
    h = np.sin((dec - d0) / 2) ** 2 + np.cos(dec) * math.cos(d0) * np.sin((ra - r0) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


class SelectedXY:
    """The sky x/y of the rows a selection keeps, persisted on the cluster, for the last few selections.

    A filter change costs one pass over the persisted plotting columns (evaluate the selection,
    keep two float32 columns); the count is the number of rows kept, and every zoom afterwards
    aggregates only those rows instead of re-evaluating the filters on every row. Shared by the
    sessions of a process (sessions with the same filters share one entry); least recently used
    entries are dropped (their data leaves the cluster when nothing refers to them). One per
    catalogue (:func:`selected_cache`).
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    def get(self, cat: DaskCatalogue, level: str, selection: Selection, proj: str, frame: str, columns):
        xcol, ycol = sky_column("x", proj, frame), sky_column("y", proj, frame)
        base = cat.plot_frame(level, columns)
        if isinstance(selection, All):
            return base, cat.n_rows(level)
        key = (level, selection, proj, frame)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:  # another session (or this one's count and sky) may be making it
            with self._lock:
                if key in self._items:
                    return self._items[key]
            meta = base._meta[[xcol, ycol]]
            df = base.map_partitions(select_columns, selection, (xcol, ycol), meta=meta)
            if cat.client is not None:
                from distributed import wait

                df = cat.client.persist(df)
                wait(df)
            n = int(df.map_partitions(len).compute().sum())
            with self._lock:
                self._items[key] = (df, n)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._key_locks.pop(key, None)
            return df, n

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_SELECTED: weakref.WeakKeyDictionary[DaskCatalogue, SelectedXY] = weakref.WeakKeyDictionary()
_SELECTED_LOCK = threading.Lock()


def selected_cache(cat: DaskCatalogue) -> SelectedXY:
    """The :class:`SelectedXY` of a catalogue (made on first use; gone with the catalogue)."""
    with _SELECTED_LOCK:
        if cat not in _SELECTED:
            _SELECTED[cat] = SelectedXY()
        return _SELECTED[cat]


class DaskExploreState(param.Parameterized):
    """What one visitor of the Dask Explore page has chosen (mirrored in the URL)."""

    level = param.Selector(
        objects=["sources", "detections"], default="sources", doc="One point per source or per detection"
    )
    frame = param.Selector(objects=["icrs", "galactic"], default="icrs")
    projection = param.Selector(objects=list(projection.PROJECTIONS), default="hammer")
    norm = param.Selector(objects=["eq_hist", "log", "linear"], default="eq_hist")
    cmap = param.Selector(objects=["fire", "bmy", "kbc", "bgy", "CET_L17"], default="fire")

    log_flux = param.Range(default=LOG_FLUX_BOUNDS, bounds=LOG_FLUX_BOUNDS)
    hr2 = param.Range(default=HR_BOUNDS, bounds=HR_BOUNDS)
    hr3 = param.Range(default=HR_BOUNDS, bounds=HR_BOUNDS)
    det_ml_min = param.Number(default=0.0, bounds=(0.0, 100.0))
    extent = param.Selector(objects=["any", "point-like", "extended"], default="any")
    quality = param.Selector(
        objects=["any", "clean", "good"], default="any", doc="clean: SUM_FLAG < 3; good: SUM_FLAG = 0"
    )
    cone = param.NumericTuple(default=None, length=3, allow_None=True, doc="(RA, Dec, radius) in degrees")

    x_range = param.NumericTuple(default=None, length=2, allow_None=True)
    y_range = param.NumericTuple(default=None, length=2, allow_None=True)
    version = param.Integer(default=0, doc="Bumped whenever the rows passing the filters (or the cone) change")
    message = param.String(default="", doc="One sentence for the user")

    def __init__(self, catalogue: DaskCatalogue, **params):
        self.catalogue = catalogue
        super().__init__(**params)
        self._cone_cache: dict[tuple, tuple[pd.DataFrame, int]] = {}
        self._cone_rows: dict[tuple, ConeResult] = {}
        self._cone_xy: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._cone_lock = threading.Lock()
        self._cone_read_lock = threading.Lock()
        self._row_groups: dict[str, int] = {}
        self.param.watch(self._bump, [*FILTER_PARAMS, "cone"])

    def _bump(self, *_):
        self.version += 1

    # --- filters -> selection ----------------------------------------------------------------
    def filter_selection(self, level: str | None = None) -> Selection:
        """The filters as one selection over ``level``'s columns (the same terms as the pandas page)."""
        level = level or self.level
        terms: list[Selection] = []
        lo, hi = self.log_flux
        if (lo, hi) != LOG_FLUX_BOUNDS:
            terms.append(
                Range(
                    _col("flux", level),
                    10**lo if lo > LOG_FLUX_BOUNDS[0] else None,
                    10**hi if hi < LOG_FLUX_BOUNDS[1] else None,
                )
            )
        for name in ("hr2", "hr3"):
            rng = tuple(getattr(self, name))
            if rng != HR_BOUNDS:
                terms.append(Range(_col(name, level), rng[0], rng[1]))
        if self.det_ml_min > 0:
            terms.append(Range(_col("det_ml", level), self.det_ml_min, None))
        if self.extent == "point-like":
            terms.append(Range(_col("extent", level), None, 0.0))
        elif self.extent == "extended":
            terms.append(Range(_col("extent", level), 1e-6, None))
        if self.quality != "any":
            terms.append(Range(_col("sum_flag", level), None, 2 if self.quality == "clean" else 0))
        return And(*terms) if len(terms) > 1 else terms[0] if terms else All()

    def full_selection(self) -> Selection:
        """Filters AND the cone: exactly the rows counted in the cone, tabulated and exported."""
        f = self.filter_selection()
        if self.cone is None:
            return f
        ra, dec, r = self.cone
        cone = Cone(ra, dec, r, ra_col=_col("ra", self.level), dec_col=_col("dec", self.level))
        return cone if isinstance(f, All) else And(f, cone)

    def query(self) -> Query:
        return Query(
            self.level,
            self.filter_selection(),
            tuple(self.cone) if self.cone is not None else None,
            self.projection,
            self.frame,
            self.norm,
            self.cmap,
        )

    def apply_preset(self, name: str) -> None:
        self.param.update(**(self._filter_defaults() | PRESETS[name]))

    def reset_filters(self) -> None:
        self.param.update(**self._filter_defaults())

    def _filter_defaults(self) -> dict:
        return {p: self.param[p].default for p in FILTER_PARAMS if p != "level"}

    def set_cone(self, ra: float, dec: float, radius_deg: float) -> None:
        if not 0 < radius_deg <= MAX_CONE_RADIUS_DEG:
            raise ValueError(f"A cone radius must be more than 0 and at most {MAX_CONE_RADIUS_DEG:g}°.")
        self.cone = (float(ra), float(dec), float(radius_deg))

    def clear_cone(self) -> None:
        self.cone = None

    # --- columns ------------------------------------------------------------------------------
    def plot_columns(self, q: Query) -> list[str]:
        """What is persisted on the cluster for ``q``: the sky columns and every filter column."""
        have = set(self.catalogue.columns(q.level))
        filt = [c for c in (_col(f, q.level) for f in FILTER_FIELDS) if c in have]
        return [sky_column("x", q.projection, q.frame), sky_column("y", q.projection, q.frame), *filt]

    def table_columns(self, level: str | None = None) -> list[str]:
        level = level or self.level
        have = set(self.catalogue.columns(level))
        cols = [_col(f, level) for f in TABLE_FIELDS]
        if level == "detections":
            cols.insert(2, "DETID")
        return [c for c in dict.fromkeys(cols) if c in have]

    def export_columns(self, level: str | None = None) -> list[str]:
        level = level or self.level
        return fields.export_columns(level, self.catalogue.columns(level))

    def row_groups(self, level: str) -> int:
        """Parquet row groups of ``level`` in the release (what a full scan reads)."""
        if level not in self._row_groups:
            if level == "detections":
                files = sorted((self.catalogue.path / schema.DETECTIONS_DIR).glob("*.parquet"))
            else:
                files = [self.catalogue.path / schema.SOURCES_FILE]
            self._row_groups[level] = sum(pq.ParquetFile(f).metadata.num_row_groups for f in files)
        return self._row_groups[level]

    # --- blocking computations ------------------------------------------------------------------
    def selected_xy(self, q: Query):
        """(Dask frame of the sky x/y of the rows passing ``q``'s filters, their number), persisted."""
        cache = selected_cache(self.catalogue)
        return cache.get(self.catalogue, q.level, q.selection, q.projection, q.frame, self.plot_columns(q))

    def compute_count(self, q: Query | None = None) -> Counts:
        """Rows of the level, rows passing the filters, and (with a cone) those of them in the cone."""
        q = q or self.query()
        _, filtered = self.selected_xy(q)
        in_cone = len(self.compute_cone(q).rows) if q.cone is not None else None
        return Counts(self.catalogue.n_rows(q.level), filtered, in_cone)

    def compute_sky(
        self,
        q: Query | None = None,
        x_range: tuple[float, float] | None = None,
        y_range: tuple[float, float] | None = None,
        width: int = 900,
        height: int = 450,
    ) -> SkyImage:
        """The filtered sky on a ``width`` x ``height`` canvas; rows in the cone in colour over grey."""
        q = q or self.query()
        if x_range is None or y_range is None:
            x_range, y_range = skyplot.full_extent(q.projection)
        x_range, y_range = tuple(map(float, x_range)), tuple(map(float, y_range))
        w, h = max(int(width), 2), max(int(height), 2)
        df, _ = self.selected_xy(q)
        xcol, ycol = sky_column("x", q.projection, q.frame), sky_column("y", q.projection, q.frame)
        counts = aggregate_frame(df, xcol, ycol, x_range, y_range, w, h)
        n = int(np.nansum(counts))
        if q.cone is None:
            index = skyplot.spread(skyplot.index_array(counts, q.norm), skyplot.auto_spread(counts))
            return SkyImage(index, "ramp", q.cmap, x_range, y_range, n)
        x, y = self.cone_xy(q)
        top = skyplot.aggregate(x, y, x_range, y_range, w, h).values
        px = skyplot.auto_spread(counts)
        under = skyplot.spread(skyplot.index_array(counts, q.norm, lo=1, hi=127), px)
        over = skyplot.spread(skyplot.index_array(top, q.norm, lo=128, hi=255), max(px, 1))
        return SkyImage(np.where(over != 0, over, under), "highlight", q.cmap, x_range, y_range, n)

    def cone_xy(self, q: Query) -> tuple[np.ndarray, np.ndarray]:
        """Projected coordinates of the cone's rows that pass the filters (kept while the view moves)."""
        key = (q.level, q.cone, q.selection, q.projection, q.frame)
        with self._cone_lock:
            hit = self._cone_xy.get(key)
        if hit is None:
            hit = self.sky_xy(self.compute_cone(q).rows, q)
            with self._cone_lock:
                self._cone_xy = {key: hit}
        return hit

    @staticmethod
    def sky_xy(rows: pd.DataFrame, q: Query) -> tuple[np.ndarray, np.ndarray]:
        """Projected coordinates of pandas rows of ``q.level`` in ``q``'s frame and projection."""
        if q.frame == "galactic":
            lon, lat = rows["LII"], rows["BII"]
        else:
            lon, lat = rows[_col("ra", q.level)], rows[_col("dec", q.level)]
        x, y = projection.forward(lon.to_numpy(np.float64), lat.to_numpy(np.float64), q.projection)
        return x.astype(np.float32), y.astype(np.float32)

    def compute_cone(self, q: Query | None = None) -> ConeResult:
        """The rows in ``q.cone`` that pass the filters, nearest first (reads only the cone's row groups).

        The cone's rows (every column of the level) are kept for the session, so moving a filter
        with a cone open re-filters them here instead of reading Parquet again.
        """
        q = q or self.query()
        if q.cone is None:
            raise ValueError("There is no cone to search; type a position and a radius first.")
        ra, dec, r = q.cone
        key = (q.level, q.cone, q.selection)
        with self._cone_lock:
            done = self._cone_rows.get(key)
        if done is not None:
            return done
        raw, read = self._cone_raw(q)
        rows = raw if isinstance(q.selection, All) else raw[np.asarray(q.selection.evaluate(raw), dtype=bool)]
        sep = _separation_deg(
            rows[_col("ra", q.level)].to_numpy(np.float64), rows[_col("dec", q.level)].to_numpy(np.float64), ra, dec
        )
        order = np.argsort(sep, kind="stable")
        rows = rows.iloc[order].reset_index(drop=True)
        rows["SEPARATION"] = sep[order] * 3600.0
        done = ConeResult(rows, ra, dec, r, read, self.row_groups(q.level))
        with self._cone_lock:
            self._cone_rows = {key: done}  # one cone and filter setting per session
        return done

    def _cone_raw(self, q: Query) -> tuple[pd.DataFrame, int]:
        """Every row of the cone (the columns the page shows, filters and exports) and row groups read."""
        key = (q.level, q.cone)
        with self._cone_read_lock:  # the count, the sky and the table ask at once: read once
            hit = self._cone_cache.get(key)
            if hit is None:
                cat, (ra, dec, r) = self.catalogue, q.cone
                read = len(cat.cone_pieces(ra, dec, r, q.level))  # what cone() reads (row-group statistics)
                raw = cat.cone(ra, dec, r, self.cone_columns(q.level), level=q.level)
                hit = (raw, read)
                self._cone_cache = {key: hit}  # one cone per session
        return hit

    def cone_columns(self, level: str) -> list[str]:
        have = set(self.catalogue.columns(level))
        want = [
            *self.table_columns(level),
            *self.export_columns(level),
            *(_col(f, level) for f in FILTER_FIELDS),
            _col("ra", level),
            _col("dec", level),
            "LII",
            "BII",
        ]
        return [c for c in dict.fromkeys(want) if c in have]

    def compute_nearest(self, q: Query, lon: float, lat: float, tolerance_deg: float) -> pd.Series | None:
        """The row nearest (lon, lat) in ``q.frame`` within the tolerance that passes the filters."""
        return self.catalogue.nearest(q.level, q.frame, lon, lat, tolerance_deg, selection=q.selection)

    def export_chunks(
        self,
        q: Query | None = None,
        columns: list[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The rows counted for ``q`` as pandas chunks of ``columns`` (class codes become class names).

        Without a cone the selection streams from the cluster in partition order, the workers
        reading and filtering the next partitions while this process writes one (at most one
        partition per worker in flight); with a cone, its rows are already here.
        ``progress(done, total)`` is called after each partition.
        """
        q = q or self.query()
        cols = columns or self.export_columns(q.level)
        if q.cone is not None:
            chunks: Iterator[pd.DataFrame] = iter([self.compute_cone(q).rows[cols]])
            total = 1
        else:
            df = self.catalogue.frame(q.level, list(dict.fromkeys([*cols, *q.selection.columns()])))
            if not isinstance(q.selection, All):
                df = df[q.selection.evaluate(df)]
            df = df[cols]
            chunks, total = self._stream(df), df.npartitions
        for done, chunk in enumerate(chunks, start=1):
            if progress is not None:
                progress(done, total)
            if len(chunk) == 0:
                continue
            chunk = chunk.reset_index(drop=True)
            if "CLASS" in chunk:
                codes = chunk["CLASS"].to_numpy(np.int64)
                names = np.array([*schema.CLASS_NAMES, None], dtype=object)
                chunk = chunk.assign(
                    CLASS=pd.Series(names[np.where(codes < 0, len(schema.CLASS_NAMES), codes)], dtype="string")
                )
            yield chunk

    def _stream(self, df) -> Iterator[pd.DataFrame]:
        """The partitions of a Dask frame in order, computing ahead on every worker."""
        parts = iter(df.to_delayed())
        client = self.catalogue.client
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

    def provenance(self, q: Query | None = None) -> dict[str, str]:
        q = q or self.query()
        cat = self.catalogue
        sel = q.selection
        if q.cone is not None:
            ra, dec, r = q.cone
            cone = Cone(ra, dec, r, ra_col=_col("ra", q.level), dec_col=_col("dec", q.level))
            sel = cone if isinstance(sel, All) else And(sel, cone)
        return {
            "catalogue": f"{cat.name}: {cat.title}"
            + (" (synthetic demo data)" if cat.synthetic and "synthetic" not in cat.title.lower() else ""),
            "release": cat.name,
            "synthetic": "yes" if cat.synthetic else "no",
            "level": q.level,
            "selection": sel.describe(),
            "backend": "dask",
        }

    def export_to(
        self,
        target,
        fmt: str,
        q: Query | None = None,
        *,
        max_rows: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Write the rows counted for ``q`` to ``target`` (path or stream) as ``fmt``; return the rows written."""
        from data_loaders.export import export_table

        q = q or self.query()
        cols = self.export_columns(q.level)
        return export_table(
            self.export_chunks(q, cols, progress),
            target,
            fmt,
            columns=cols,
            provenance=self.provenance(q),
            max_rows=max_rows,
        )

    # --- conveniences for scripts and tests (the page calls the compute_* methods) ----------------
    def count(self) -> Counts:
        return self.compute_count(self.query())

    def cone_search(self) -> ConeResult:
        return self.compute_cone(self.query())


__all__ = ["ConeResult", "Counts", "DaskExploreState", "Query", "SkyImage"]
