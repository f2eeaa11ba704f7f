"""Table of the current selection, paged and sorted by the catalogue (never all rows to the browser)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import panel as pn
import param

from app import fields, source_labels
from app.state import ExploreState
from data_loaders import capabilities, schema

PAGE_SIZE = 12


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
        self.srcids = np.array([], dtype=np.int64)  # SRCID of each row of the page shown
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

        release = self.state.catalogue.name
        try:
            store = get_store()
            # The same sources keep their labels until any session or process writes a flag event;
            # checking that is an indexed max, reading the labels a grouped query.
            key = (flags_version(store, release), tuple(srcids.tolist()))
            if key != self._labels_key:
                labels = source_labels.labels_of(release, srcids.tolist(), store)
                self._labels_key, self._labels = key, [labels.get(int(s), "") for s in srcids]
        except Exception:  # a missing database must not break the table
            self.show_flags = False
            return [""] * len(srcids)
        return list(self._labels)

    def _last_page(self, n: int) -> int:
        """The last page offered for ``n`` rows (the engine may offer only the first pages)."""
        last = max((n - 1) // PAGE_SIZE, 0)
        if not self.state.catalogue.capabilities.has(capabilities.DEEP_PAGES):
            from data_loaders.dask_catalogue import MAX_PAGES

            last = min(last, MAX_PAGES - 1)
        return last

    def _go(self, step: int) -> None:
        self.page = int(np.clip(self.page + step, 0, self._last_page(self._rows)))

    _rows = 0  # rows of the selection, as last shown

    def page_request(self) -> tuple[Callable[[], tuple[pd.DataFrame, int]], list[str]]:
        """The compute step of a refresh: work giving (the page's rows, rows in the selection) for
        the state of now, and the default columns shown (the rest are the user's extra ones)."""
        st = self.state
        sort = fields.column(self.sort_by, st.level, st.band)
        cols = [c for c in (fields.column(f, st.level, st.band) for f in fields.TABLE_FIELDS)]
        cols = [c for c in cols if c in st.catalogue.columns(st.level)]
        extra = [c for c in self.extra if c not in cols]
        shown, ascending, page = st.shown, self.ascending, self.page

        def work() -> tuple[pd.DataFrame, int]:
            rows = shown.page(None if sort == "IAUNAME" else sort, ascending, page, PAGE_SIZE, cols + extra)
            return rows, shown.count()

        return work, cols

    def _framed(self, cols: list[str], out: pd.DataFrame) -> pd.DataFrame:
        self.srcids = out["SRCID"].to_numpy(np.int64) if "SRCID" in out else np.array([], dtype=np.int64)
        for c in schema.CLASS_CODE_COLUMNS:
            if c in out:
                out[c] = schema.class_names(out[c], missing="—")
        if self.show_flags:
            out.insert(len(cols), "flags", self._flag_labels(self.srcids))
        return format_page(out.reset_index(drop=True))

    def _refresh(self, *_):
        work, cols = self.page_request()
        self.state.answer("table", work, partial(self._show_page, cols))

    def _show_page(self, cols: list[str], answer: tuple[pd.DataFrame, int]) -> None:
        rows, n = answer
        page = self._framed(cols, rows)
        self._rows = n
        pages = max((n + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        if not page.equals(self.table.value):  # often the same rows: a filter rarely moves the first page
            self.table.value = page
        more = "" if self._last_page(n) + 1 >= pages else " (first pages only: export for every row)"
        self.info.object = f"page {self.page + 1:,} of {pages:,} · {n:,} rows{more}"

    def _on_click(self, event) -> None:
        if event.row is None or event.row >= len(self.srcids):
            return
        self.state.srcid = int(self.srcids[int(event.row)])

    def __panel__(self):
        return pn.Column(
            pn.Row(self.sort_select, self.order_toggle, self.extra_select, self.prev_b, self.next_b, self.info),
            self.table,
            sizing_mode="stretch_width",
        )
