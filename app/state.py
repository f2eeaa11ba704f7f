"""The per-session state of the Explore page: filters, selections, view, current source.

One ``ExploreState`` per browser session, on either catalogue engine (in memory or Dask);
views depend on it and never on each other. Filters compile to a
:class:`~app.selection.Selection` (the same algebra as box/lasso selections), so what the
user sees, counts, exports and permalinks all come from one expression. At each change the
state asks the catalogue for two subsets (:class:`data_loaders.catalogue.Subset`):
``filtered`` (the filters) and ``shown`` (filters AND the user's selections); the views draw,
count, page and export through them. In memory a subset is a boolean mask of the shared
catalogue, never a copy of it; on Dask it is evaluated on the cluster when asked.

Reviewer flags and the citizen-science consensus are not columns of the catalogue: the
selection terms that name them (``FLAGGED``, ``CITIZEN_CLASS``) become lists of SRCIDs
through :mod:`app.source_labels` before the catalogue sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TypeVar

import numpy as np
import panel as pn
import param
from panel.io import hold

from app import fields, source_labels
from app.off_loop import REMOTE_POOL, in_background
from app.selection import All, And, Cone, In, IsTrue, Not, Range, Selection, SelectionError, from_url
from data_loaders import projection, schema
from data_loaders.catalogue import CatalogueEngine, MemorySubset, Subset, sky_column
from data_loaders.store.flags import DEFAULT_FLAG_LABELS

LOG_FLUX_BOUNDS = (-16.5, -9.0)
MJD_BOUNDS = (51500.0, 60400.0)
N_DET_BOUNDS = (1, 100)
#: "Colour by" choices: value (in the URL) -> name shown to people.
COLOUR_OPTIONS = {
    "count": "Number of sources",
    "flux": "Mean flux",
    "hr2": f"Mean {fields.label('hr2')}",
    "hr3": f"Mean {fields.label('hr3')}",
    "variable": "Fraction variable",
    "class": "Most common class (machine classifier)",
    "flagged": "Fraction flagged by reviewers",
    "citizen": "Most common class (citizen science)",
    "lx": "Mean X-ray luminosity (photometric redshifts)",
}
#: Scales of the count colouring: value -> name shown to people.
NORM_OPTIONS = {"eq_hist": "equalised histogram", "log": "logarithmic", "linear": "linear"}
FRAME_OPTIONS = {"icrs": "equatorial (ICRS)", "galactic": "galactic"}
PRESETS: dict[str, dict[str, str | float | tuple[float, float]]] = {
    "clean point sources": {"quality": "clean", "extent": "point-like", "det_ml_min": 8.0},
    "extended": {"extent": "extended", "quality": "clean"},
    "variable": {"variability": "variable"},
    "bright": {"log_flux": (-12.0, LOG_FLUX_BOUNDS[1])},
}
#: Parameters that change which rows pass the filters.
FILTER_PARAMS = (
    "level",
    "band",
    "log_flux",
    "hr1",
    "hr2",
    "hr3",
    "hr4",
    "det_ml_min",
    "extent",
    "quality",
    "variability",
    "n_det",
    "mjd",
    "classes",
    "class_prob_min",
    "flags",
    "flag_labels",
    "citizen_classes",
)


log = logging.getLogger("xmm_explorer.explore")
T = TypeVar("T")

__all__ = ["COLOUR_OPTIONS", "FILTER_PARAMS", "PRESETS", "ExploreState", "sky_column"]


def _memory_mask(subset: Subset) -> np.ndarray:
    """The boolean row mask of a subset of the in-memory engine (a Dask subset has none)."""
    assert isinstance(subset, MemorySubset), "only the in-memory engine has row masks"
    return subset.mask


class ExploreState(param.Parameterized):
    """Everything one visitor has chosen on the Explore page (mirrored in the URL)."""

    level: param.Selector[str] = param.Selector(
        objects=["sources", "detections"], default="sources", doc="One point per source or per detection"
    )
    frame: param.Selector[str] = param.Selector(objects={v: k for k, v in FRAME_OPTIONS.items()}, default="icrs")
    projection: param.Selector[str] = param.Selector(
        objects={v: k for k, v in projection.PROJECTION_LABELS.items()}, default="hammer"
    )
    colour_by: param.Selector[str] = param.Selector(objects={v: k for k, v in COLOUR_OPTIONS.items()}, default="count")
    norm: param.Selector[str] = param.Selector(objects={v: k for k, v in NORM_OPTIONS.items()}, default="eq_hist")
    cmap: param.Selector[str] = param.Selector(objects=["fire", "bmy", "kbc", "bgy", "CET_L17"], default="fire")

    band: param.Selector[int] = param.Selector(objects=list(fields.FLUX_BANDS), default=8)
    log_flux = param.Range(default=LOG_FLUX_BOUNDS, bounds=LOG_FLUX_BOUNDS)
    hr1 = param.Range(default=(-1.0, 1.0), bounds=(-1.0, 1.0))
    hr2 = param.Range(default=(-1.0, 1.0), bounds=(-1.0, 1.0))
    hr3 = param.Range(default=(-1.0, 1.0), bounds=(-1.0, 1.0))
    hr4 = param.Range(default=(-1.0, 1.0), bounds=(-1.0, 1.0))
    det_ml_min = param.Number(default=0.0, bounds=(0.0, 100.0))
    extent: param.Selector[str] = param.Selector(objects=["any", "point-like", "extended"], default="any")
    quality: param.Selector[str] = param.Selector(
        objects=["any", "clean", "good"], default="any", doc="clean: SUM_FLAG < 3; good: SUM_FLAG = 0"
    )
    variability: param.Selector[str] = param.Selector(objects=["any", "variable", "not variable"], default="any")
    n_det = param.Range(default=N_DET_BOUNDS, bounds=N_DET_BOUNDS)
    mjd = param.Range(default=MJD_BOUNDS, bounds=MJD_BOUNDS)
    classes = param.ListSelector(default=[], objects=list(schema.CLASS_NAMES), doc="Empty: every class")
    class_prob_min = param.Number(default=0.0, bounds=(0.0, 1.0))
    citizen_classes = param.ListSelector(
        default=[], objects=list(schema.CLASS_NAMES), doc="Class by the citizen-science consensus (empty: any)"
    )
    flags: param.Selector[str] = param.Selector(
        objects=["any", "flagged", "not flagged"], default="any", doc="Reviewer flags"
    )
    flag_labels = param.ListSelector(default=[], objects=[], doc="Which labels count (empty: any label)")

    selection_code = param.String(default="", doc="URL form of the box/lasso/cone/query selection")
    query = param.String(default="", doc="Typed query, e.g. sc_det_ml > 100 and cone('M31', 1deg)")
    query_mode: param.Selector[str] = param.Selector(
        objects={"filter": "filter", "select": "select"},
        default="filter",
        doc="filter: the query narrows what passes the filters; select: it selects among them",
    )
    x_range = param.NumericTuple(default=None, length=2, allow_None=True)
    y_range = param.NumericTuple(default=None, length=2, allow_None=True)
    srcid = param.Integer(default=None, allow_None=True)
    hr_x: param.Selector[str] = param.Selector(objects=list(fields.DIAGRAM_FIELDS), default="hr2")
    hr_y: param.Selector[str] = param.Selector(objects=list(fields.DIAGRAM_FIELDS), default="hr3")

    version = param.Integer(default=0, doc="Bumped whenever the mask changes")
    message = param.String(default="", doc="One sentence for the user (bad search, bad query...)")

    def __init__(self, catalogue: CatalogueEngine, **params):
        self.catalogue = catalogue
        self.parts: dict[str, Selection] = {}
        # Newest request per view, views computing and the request waiting for each (see answer).
        self._tickets: dict[str, int] = {}
        self._running: set[str] = set()
        self._waiting: dict[str, tuple] = {}
        self.pending: set[str] = set()  # views whose newest answer is being computed off the event loop
        self._doc = pn.state.curdoc  # the session's document (None outside a served session)
        self.param.flag_labels.objects = list(DEFAULT_FLAG_LABELS)
        axes = [f for f in fields.DIAGRAM_FIELDS if self.diagram_axis_available(f, catalogue)]
        self.param.hr_x.objects, self.param.hr_y.objects = axes, list(axes)
        super().__init__(**params)
        self.query_filter: Selection | None = None  # the typed query, when it filters
        self.filtered: Subset = catalogue.select(self.level)
        self.shown: Subset = self.filtered
        self._recompute()
        self.param.watch(self._on_filters, list(FILTER_PARAMS))
        self.param.watch(self._on_selection_code, ["selection_code"])
        self.param.watch(self.apply_query, ["query", "query_mode"])
        if self.selection_code:
            self._on_selection_code()
        if self.query:
            self.apply_query()

    @staticmethod
    def diagram_axis_available(field: str, catalogue) -> bool:
        """Whether both levels of the release have the column of a diagram axis (the fit may be missing)."""
        return all(fields.column(field, level) in catalogue.columns(level) for level in ("detections", "sources"))

    # --- filters -> selection ------------------------------------------------------------------
    def filter_selection(self) -> Selection:
        """The filters as one selection expression over the current level's columns."""

        def col(field: str) -> str:
            return fields.column(field, self.level, self.band)

        terms: list[Selection] = []
        if self.level == "detections" and "UPPER_LIMIT" in self.catalogue.columns("detections"):
            terms.append(Not(IsTrue("UPPER_LIMIT")))  # stacked releases: upper limits are not detections
        lo, hi = self.log_flux
        if (lo, hi) != LOG_FLUX_BOUNDS:
            terms.append(
                Range(
                    col("flux"),
                    10**lo if lo > LOG_FLUX_BOUNDS[0] else None,
                    10**hi if hi < LOG_FLUX_BOUNDS[1] else None,
                )
            )
        for i in range(1, 5):
            rng = getattr(self, f"hr{i}")
            if tuple(rng) != (-1.0, 1.0):
                terms.append(Range(col(f"hr{i}"), rng[0], rng[1]))
        if self.det_ml_min > 0:
            terms.append(Range(col("det_ml"), self.det_ml_min, None))
        if self.extent == "point-like":
            terms.append(Range(col("extent"), None, 0.0))
        elif self.extent == "extended":
            terms.append(Range(col("extent"), 1e-6, None))
        if self.quality != "any":
            terms.append(Range(col("sum_flag"), None, 2 if self.quality == "clean" else 0))
        if self.variability == "variable":
            terms.append(IsTrue(col("var_flag")))
        elif self.variability == "not variable":
            terms.append(Not(IsTrue(col("var_flag"))))
        if tuple(self.n_det) != N_DET_BOUNDS:
            terms.append(Range(col("n_det"), self.n_det[0], self.n_det[1] if self.n_det[1] < N_DET_BOUNDS[1] else None))
        if tuple(self.mjd) != MJD_BOUNDS:
            terms.append(Range(col("mjd"), self.mjd[0], self.mjd[1]))
        if self.classes:
            terms.append(In("CLASS", tuple(schema.CLASS_NAMES.index(c) for c in self.classes)))
        if self.class_prob_min > 0:
            terms.append(Range("CLASS_PROB", self.class_prob_min, None))
        if self.citizen_classes:
            terms.append(In("CITIZEN_CLASS", tuple(schema.CLASS_NAMES.index(c) for c in self.citizen_classes)))
        if self.flags == "flagged":
            terms.append(IsTrue("FLAGGED"))
        elif self.flags == "not flagged":
            terms.append(Not(IsTrue("FLAGGED")))
        if self.query_filter is not None:
            terms.append(self.query_filter)
        return And(*terms) if len(terms) > 1 else terms[0] if terms else All()

    def selection(self) -> Selection:
        """The user's selections (sky box/lasso, HR lasso, flux range, cone, query) ANDed."""
        parts = list(self.parts.values())
        return And(*parts) if len(parts) > 1 else parts[0] if parts else All()

    def full_selection(self) -> Selection:
        """Filters AND selections: exactly the rows counted, shown in the table and exported."""
        f, s = self.filter_selection(), self.selection()
        if isinstance(s, All):
            return f
        return s if isinstance(f, All) else And(f, s)

    def colourings(self) -> dict[str, str]:
        """ "Colour by" choices that change the sky for this release and store now (name -> value).

        Reviewer flags, a citizen consensus and luminosities may be absent (each would draw the
        same as the count); the current choice always stays.
        """
        cat = self.catalogue
        absent = set()
        if "LOG_LX" not in cat.columns("sources"):
            absent.add("lx")
        with self.answering():
            if source_labels.flagged_srcids(cat.name).size == 0:
                absent.add("flagged")
            if source_labels.citizen_srcids(cat, range(len(schema.CLASS_NAMES))).size == 0:
                absent.add("citizen")
        absent.discard(self.colour_by)
        return {v: k for k, v in COLOUR_OPTIONS.items() if k not in absent}

    def query_columns(self) -> dict:
        """Columns the typed query may name, with their units, for the current level."""
        from app.query import query_columns

        return query_columns(self.catalogue, self.level)

    def apply_query(self, *_) -> None:
        """Apply the typed query as a filter or a selection (``query_mode``); '' removes it.

        Text that does not compile leaves everything as it was and says why in one sentence.
        """
        from app.query import QueryError, parse_query

        text = self.query.strip()
        try:
            sel = parse_query(text, self.query_columns()) if text else None
        except QueryError as exc:
            self.message = str(exc)
            return
        if self.query_mode == "filter":
            self.query_filter = sel
            self.parts.pop("query", None)
            self._store_selection_code()
            self._recompute()
        else:
            self.query_filter = None
            self.set_part("query", sel)

    # --- selections ----------------------------------------------------------------------------
    def set_part(self, name: str, sel: Selection | None, mode: str = "replace") -> None:
        """Set the selection made by one view ('sky', 'hr', 'flux', 'cone', 'query', 'ids').

        ``mode``: 'replace' this view's part, 'add' (OR with it) or 'intersect' (AND with it).
        """
        old = self.parts.get(name)
        if sel is None:
            self.parts.pop(name, None)
        elif old is not None and mode == "add":
            self.parts[name] = old | sel
        elif old is not None and mode == "intersect":
            self.parts[name] = old & sel
        else:
            self.parts[name] = sel
        self._store_selection_code()
        self._recompute()

    def clear_selection(self) -> None:
        self.parts.clear()
        self._store_selection_code()
        self._recompute()

    def _store_selection_code(self) -> None:
        # The URL (and other watchers) must see the new code; our own decoder must not re-run.
        self._encoding = True
        try:
            self.selection_code = self._encode_parts()
        finally:
            self._encoding = False

    def _encode_parts(self) -> str:
        if not self.parts:
            return ""
        # "name1,name2~<url of part 1>~<url of part 2>": each view's part comes back to it.
        names = ",".join(self.parts)
        return names + "~" + "~".join(s.to_url() for s in self.parts.values())

    def _on_selection_code(self, *_):
        if getattr(self, "_encoding", False):
            return
        code = self.selection_code
        parts: dict[str, Selection] = {}
        ignored = ""
        if code:
            try:
                names, *codes = code.split("~")
                for name, c in zip(names.split(","), codes, strict=True):
                    parts[name] = from_url(c)
            except (SelectionError, ValueError) as exc:
                ignored = f"The selection in the link was ignored: {exc}"
                parts = {}
        self.parts = parts
        self._recompute()
        if ignored:
            self.message = ignored

    # --- masks -----------------------------------------------------------------------------------
    def _on_filters(self, *events):
        if any(e.name == "level" for e in events):
            # Selections name level-specific columns; a new level starts from a clean selection.
            self.parts.clear()
            self.query_filter = None
            with param.discard_events(self):
                self.query = ""
            self._store_selection_code()
        self._recompute()

    def _subsets(self) -> tuple[Subset, Subset]:
        """(filtered, shown) for the current filters and selection; SelectionError if they name unknown columns."""
        cat, level = self.catalogue, self.level
        labels = list(self.flag_labels) or None
        known = set(cat.columns(level)) | {"FLAGGED", "CITIZEN_CLASS"}
        for sel in (self.filter_selection(), self.selection()):
            unknown = [c for c in sel.columns() if c not in known and not c.startswith(("SKY_", "LOG10_"))]
            if unknown:
                raise SelectionError(
                    f"The selection needs the column '{unknown[0]}', which the {level} of {cat.name} do not have."
                )
        filtered = cat.select(level, source_labels.resolve(self.filter_selection(), cat, labels))
        sel = self.selection()
        shown = filtered if isinstance(sel, All) else filtered.refine(source_labels.resolve(sel, cat, labels))
        return filtered, shown

    def _recompute(self) -> None:
        self.message = ""  # a new answer: the last sentence is stale
        try:
            self.filtered, self.shown = self._subsets()
        except SelectionError as exc:
            self.parts.clear()
            self.query_filter = None
            self._store_selection_code()
            self.filtered, self.shown = self._subsets()
            self.message = str(exc)
        # Every view answers the new version; held together, their model changes reach the browser
        # as one patch message instead of one each (Bokeh serializes a patch against the document).
        with hold():
            self.version += 1

    def answer(self, key: str, work: Callable[[], T], show: Callable[[T], None]) -> None:
        """``show(work())``: a view's compute step, then its apply step, the newest request of ``key`` winning.

        On an engine that computes remotely (Dask, where an answer may wait in the cluster's
        queue) ``work`` runs off the event loop that serves every session of the process
        (:func:`app.off_loop.in_background`) and ``show`` back on it, as a callback of this
        session (Bokeh's document lock held); a result that arrives after a newer request of
        the same ``key`` is dropped. In memory both run now, as before (numpy answers in
        milliseconds: a thread hop would only add a tick). Either way a failure becomes one
        sentence (:meth:`answering`). ``work`` reads what it was given, never the state, which
        may change meanwhile.
        """
        ticket = self._tickets[key] = self._tickets.get(key, 0) + 1
        if not self.answers_later:
            with self.answering():
                show(work())
            return
        self.pending.add(key)
        if key in self._running:
            # One computation per view at a time: the newest request waits for it, older waiting ones go.
            self._waiting[key] = (ticket, work, show)
        else:
            self._start(key, ticket, work, show)

    def _start(self, key: str, ticket: int, work: Callable[[], T], show: Callable[[T], None]) -> None:
        def compute() -> tuple[bool, object]:
            try:
                return True, work()
            except Exception as exc:  # reported on the loop, by answering()
                return False, exc

        def apply(outcome: tuple[bool, object]) -> None:
            self._running.discard(key)
            if key in self._waiting:
                self._start(key, *self._waiting.pop(key))
            if self._tickets.get(key) != ticket:
                return  # a newer request of this view is on its way: this answer is stale
            self.pending.discard(key)
            ok, value = outcome
            with self.answering():
                if not ok:
                    raise value  # type: ignore[misc]
                show(value)  # type: ignore[arg-type]

        self._running.add(key)
        in_background(compute, apply, self._doc, REMOTE_POOL)

    @property
    def answers_later(self) -> bool:
        """Whether :meth:`answer` computes off the event loop: a remote engine, in a served session."""
        return self.catalogue.computes_remotely and getattr(self._doc, "session_context", None) is not None

    def snapshot(self) -> SimpleNamespace:
        """The choices and subsets of now, for a compute step that runs while the state may change."""
        return SimpleNamespace(
            **self.param.values(),
            catalogue=self.catalogue,
            filtered=self.filtered,
            shown=self.shown,
            has_selection=self.has_selection,
        )

    @contextmanager
    def answering(self):
        """Where a view asks the catalogue: a failure (a lost Dask worker...) becomes one sentence in
        ``message`` and the traceback goes to the log; the view keeps what it showed."""
        try:
            yield
        except Exception as exc:  # every failure becomes one sentence on the page
            from app.dask_backend import describe_error, raised_in_dask

            if raised_in_dask(exc) or not isinstance(exc, ValueError):
                log.warning("The catalogue failed to answer", exc_info=exc)
            self.message = describe_error(exc, self.catalogue.engine_address())

    def refresh(self) -> None:
        """Ask the catalogue again (e.g. after a flag was written: FLAGGED names other sources now)."""
        self._recompute()

    @property
    def has_selection(self) -> bool:
        """Whether the user has made a selection (box, lasso, cone, query, IDs) beyond the filters."""
        return bool(self.parts)

    @property
    def mask(self) -> np.ndarray:
        """In-memory engine only: rows passing the filters (the filtered subset's mask)."""
        return _memory_mask(self.filtered)

    @property
    def visible(self) -> np.ndarray:
        """In-memory engine only: rows passing filters and selections."""
        return _memory_mask(self.shown)

    @property
    def selected(self) -> np.ndarray | None:
        """In-memory engine only: rows passing filters and selections (None without a selection)."""
        return _memory_mask(self.shown) if self.has_selection else None

    def counts(self) -> dict[str, int]:
        """Rows in the catalogue level, passing the filters, and passing filters + selection."""
        return self.counting()()

    def counting(self) -> Callable[[], dict[str, int]]:
        """:meth:`counts` as a compute step for :meth:`answer`: it counts the subsets of now."""
        total, filtered, shown = self.catalogue.n_rows(self.level), self.filtered, self.shown
        return lambda: {"total": total, "filtered": filtered.count(), "selected": shown.count()}

    def apply_preset(self, name: str) -> None:
        """Reset the filters, then apply one of ``PRESETS``."""
        defaults = {p: self.param[p].default for p in FILTER_PARAMS if p not in ("level", "band")}
        self.param.update(**(defaults | PRESETS[name]))

    def reset_filters(self) -> None:
        self.param.update(**{p: self.param[p].default for p in FILTER_PARAMS if p not in ("level", "band")})

    # --- the current source ------------------------------------------------------------------------
    def select_cone(self, ra: float, dec: float, radius_deg: float) -> None:
        ra_col, dec_col = fields.column("ra", self.level), fields.column("dec", self.level)
        self.set_part("cone", Cone(ra, dec, radius_deg, ra_col=ra_col, dec_col=dec_col))
