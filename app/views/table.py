"""Table of the current selection, paged and sorted on the server (never all rows to the browser)."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import panel as pn
import param

from app import fields
from app.state import ExploreState
from data_loaders import schema

PAGE_SIZE = 12


def page_rows(values: np.ndarray | None, visible: np.ndarray, page: int, size: int, ascending: bool) -> np.ndarray:
    """Row indices of one page of the visible rows, sorted by ``values`` (None: catalogue order).

    NaN values sort last whichever the direction. Uses a partial sort for the first pages.
    """
    idx = np.flatnonzero(visible)
    if values is None:
        return idx[page * size : (page + 1) * size]
    v = values[idx].astype(np.float64)
    v = np.where(np.isnan(v), np.inf, v if ascending else -v)
    stop = min((page + 1) * size, idx.size)
    if stop <= 0:
        return idx[:0]
    if stop < idx.size // 4:
        kth = v[np.argpartition(v, stop - 1)[stop - 1]]
        # Every row up to the page's last value: argpartition keeps an arbitrary few of the rows tied
        # with it, and ties must go by row on every page (as the full sort below orders them).
        part = np.flatnonzero(v <= kth)
        order = part[np.lexsort((idx[part], v[part]))]
    else:
        order = np.lexsort((idx, v))
    return idx[order[page * size : stop]]


def sort_order(values: np.ndarray, ascending: bool) -> np.ndarray:
    """Every row in the order :func:`page_rows` pages them: by value, NaN last whichever the direction, ties by row."""
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isnan(v), np.inf, v if ascending else -v)
    order = np.argsort(v, kind="stable")  # stable: ties keep row order
    return order.astype(np.int32) if order.size < 2**31 else order


def page_in_order(order: np.ndarray, visible: np.ndarray, page: int, size: int) -> np.ndarray:
    """Row indices of one page of the visible rows taken in ``order`` (from :func:`sort_order`).

    The same rows as :func:`page_rows` with the values ``order`` was sorted by, without
    sorting at each change of ``visible``.
    """
    hits = np.flatnonzero(visible[order])[page * size : (page + 1) * size]
    return order[hits].astype(np.intp)


# The sort order of a column does not change with the filters: one per (release, level, column,
# direction), shared by the sessions; a few are kept (an int32 per row each).
_ORDERS: dict[tuple, np.ndarray] = {}
_ORDER_LOCK = threading.Lock()
_ORDER_KEEP = 8


def cached_sort_order(catalogue, level: str, column: str, ascending: bool) -> np.ndarray:
    """:func:`sort_order` of ``column`` of ``catalogue.frame(level)``, computed once per process (read-only)."""
    key = (str(catalogue.path), level, column, bool(ascending))
    with _ORDER_LOCK:
        hit = _ORDERS.get(key)
    if hit is not None:
        return hit
    values = catalogue.frame(level)[column].to_numpy(np.float64, na_value=np.nan)
    order = sort_order(values, ascending)
    order.setflags(write=False)
    with _ORDER_LOCK:
        if len(_ORDERS) >= _ORDER_KEEP:
            _ORDERS.pop(next(iter(_ORDERS)))
        _ORDERS[key] = order
    return order


def format_page(page: pd.DataFrame) -> pd.DataFrame:
    """Display strings: fluxes in scientific notation, IDs without thousands separators."""
    out = page.copy()
    for col in out.columns:
        v = out[col]
        if col.endswith(("_FLUX", "_FLUX_ERR", "_FMIN", "_FMAX")):
            out[col] = [f"{x:.3e}" if np.isfinite(x) else "" for x in v.to_numpy(np.float64, na_value=np.nan)]
        elif col in ("SRCID", "DETID"):
            out[col] = v.astype(str)
        elif pd.api.types.is_float_dtype(v.dtype):
            out[col] = [f"{x:.5g}" if np.isfinite(x) else "" for x in v.to_numpy(np.float64, na_value=np.nan)]
    return out


class TableView(pn.viewable.Viewer):
    """One page of the selection with the default columns plus any the user adds."""

    page = param.Integer(default=0, bounds=(0, None))
    sort_by = param.String(default="flux")
    ascending = param.Boolean(default=False)
    extra = param.ListSelector(default=[], objects=[])

    def __init__(self, state: ExploreState, **params):
        super().__init__(**params)
        self.state = state
        self.param.extra.objects = [c for c in state.catalogue.all_columns if c not in ("HPX",)]
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(),
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            height=360,
            selectable=1,
            layout="fit_data_stretch",
            header_filters=False,
            theme="fast",
        )
        self.table.on_click(self._on_click)
        self.sort_select = pn.widgets.Select(
            label="sort by", options=list(fields.TABLE_FIELDS), value="flux", width=110
        )
        self.order_toggle = pn.widgets.Toggle(label="ascending", value=False, width=90, margin=(23, 5))
        self.extra_select = pn.widgets.MultiChoice(
            label="more columns", options=self.param.extra.objects, value=[], width=320, max_items=8
        )
        self.prev_b = pn.widgets.Button(label="◀", width=40, margin=(23, 2))
        self.next_b = pn.widgets.Button(label="▶", width=40, margin=(23, 2))
        self.info = pn.pane.Markdown("", margin=(28, 8))
        self.prev_b.on_click(lambda e: self._go(-1))
        self.next_b.on_click(lambda e: self._go(+1))
        self.sort_select.param.watch(lambda e: self.param.update(sort_by=e.new, page=0), "value")
        self.order_toggle.param.watch(lambda e: self.param.update(ascending=e.new, page=0), "value")
        self.extra_select.param.watch(lambda e: setattr(self, "extra", e.new), "value")
        self._rows = np.array([], dtype=int)
        self.param.watch(self._refresh, ["page", "sort_by", "ascending", "extra"])
        # A change of level or band bumps the version too (they are filters): one refresh per change.
        state.param.watch(self._on_version, ["version"])
        self._refresh()

    def _on_version(self, *_):
        """New rows: back to the first page, refreshed once."""
        if self.page:
            self.page = 0
        else:
            self._refresh()

    show_flags = True
    _labels_key: tuple | None = None  # (newest flag event, SRCIDs) of the labels last read
    _labels: list[str] = []

    def _flag_labels(self, srcids: np.ndarray) -> list[str]:
        """Current reviewer labels of the page's sources ('' where none; '' if the store is unreachable)."""
        from app.store_access import flags_version, get_store
        from app.views.flags import labels_of

        release = self.state.catalogue.name
        try:
            store = get_store()
            # The same sources keep their labels until any session or process writes a flag event;
            # checking that is an indexed max, reading the labels a grouped query.
            key = (flags_version(store, release), tuple(srcids.tolist()))
            if key != self._labels_key:
                labels = labels_of(store, release, srcids.tolist())
                self._labels_key, self._labels = key, [labels.get(int(s), "") for s in srcids]
        except Exception:  # noqa: BLE001 - a missing database must not break the table
            self.show_flags = False
            return [""] * len(srcids)
        return list(self._labels)

    def _go(self, step: int) -> None:
        n = int(self.state.visible.sum())
        last = max((n - 1) // PAGE_SIZE, 0)
        self.page = int(np.clip(self.page + step, 0, last))

    def frame_page(self) -> pd.DataFrame:
        st = self.state
        frame = st.catalogue.frame(st.level)
        col = fields.column(self.sort_by, st.level, st.band)
        if col == "IAUNAME":
            self._rows = page_rows(None, st.visible, self.page, PAGE_SIZE, self.ascending)
        else:
            order = cached_sort_order(st.catalogue, st.level, col, self.ascending)
            self._rows = page_in_order(order, st.visible, self.page, PAGE_SIZE)
        cols = [fields.column(f, st.level, st.band) for f in fields.TABLE_FIELDS]
        out = frame.iloc[self._rows][[c for c in cols if c in frame]].copy()
        if "CLASS" in out:
            names = np.array([*schema.CLASS_NAMES, "—"])
            out["CLASS"] = names[
                np.where(out["CLASS"].to_numpy() < 0, len(schema.CLASS_NAMES), out["CLASS"].to_numpy())
            ]
        if self.show_flags:
            out["flags"] = self._flag_labels(out["SRCID"].to_numpy(np.int64) if "SRCID" in out else np.array([]))
        extra = [c for c in self.extra if c not in out]
        if extra and st.level == "detections":
            add = st.catalogue.read_rows(extra, self._rows)
            for c in extra:
                out[c] = add[c].to_numpy()
        return format_page(out.reset_index(drop=True))

    def _refresh(self, *_):
        page = self.frame_page()
        n = int(self.state.visible.sum())
        pages = max((n + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        if not page.equals(self.table.value):  # often the same rows: a filter rarely moves the first page
            self.table.value = page
        self.info.object = f"page {self.page + 1:,} of {pages:,} · {n:,} rows"

    def _on_click(self, event) -> None:
        if event.row is None or event.row >= len(self._rows):
            return
        frame = self.state.catalogue.frame(self.state.level)
        self.state.srcid = int(frame["SRCID"].iat[int(self._rows[event.row])])

    def __panel__(self):
        return pn.Column(
            pn.Row(self.sort_select, self.order_toggle, self.extra_select, self.prev_b, self.next_b, self.info),
            self.table,
            sizing_mode="stretch_width",
        )
