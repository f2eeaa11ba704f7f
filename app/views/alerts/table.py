"""The alerts table: one page of the visible alerts, sorted and paged on the server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param

from app.plots.alerts import SHORT_TYPES
from app.views.alerts.state import AlertsState
from data_loaders import schema

PAGE_SIZE = 12
SORT_COLUMNS = {"date": "MJD", "ratio": "RATIO", "ratio low end": "RATIO_LOW", "flux": "FLUX", "|b|": "BII"}


def alert_page(state: AlertsState, rows: np.ndarray) -> pd.DataFrame:
    """The displayed columns of the given alert rows (plain values; Tabulator escapes them)."""
    a = state.alerts.iloc[rows]
    cls = a["CLASS"].to_numpy(np.int64) if "CLASS" in a else np.full(len(a), -1)
    names = np.array([*schema.CLASS_NAMES, "—"], dtype=object)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(a["DATE"]).dt.strftime("%Y-%m-%d").to_numpy(),
            "type": a["ALERT_TYPE"].map(SHORT_TYPES).to_numpy(),
            "source": (a["IAUNAME"].astype(str) if "IAUNAME" in a else "SRCID " + a["SRCID"].astype(str)).to_numpy(),
            "ratio": np.round(a["RATIO"].to_numpy(np.float64), 2),
            "low end": np.round(a["RATIO_LOW"].to_numpy(np.float64), 2),
            "flux": [f"{v:.3g}" if np.isfinite(v) else "—" for v in a["FLUX"].to_numpy(np.float64)],
            "class": names[np.where(cls < 0, len(schema.CLASS_NAMES), cls)],
            "|b|": np.round(np.abs(a["BII"].to_numpy(np.float64)), 1) if "BII" in a else np.full(len(a), np.nan),
            "review": state.status[rows],
        }
    )


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


class AlertTable(pn.viewable.Viewer):
    """One page of the filtered alerts; clicking a row selects that alert."""

    page = param.Integer(default=0, bounds=(0, None))
    sort_by: param.Selector[str] = param.Selector(objects=list(SORT_COLUMNS), default="date")
    ascending = param.Boolean(default=False)

    def __init__(self, state: AlertsState, **params):
        super().__init__(**params)
        self.state = state
        self.rows = np.array([], dtype=np.int64)
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(),
            disabled=True,
            show_index=False,
            selectable=1,
            sizing_mode="stretch_width",
            height=370,
            layout="fit_data_fill",
            stylesheets=[":host .tabulator { font-size: 0.9em; }"],
            theme="fast",
        )
        self.table.on_click(self._on_click)
        self.sort_select = pn.widgets.Select.from_param(self.param.sort_by, label="sort by", width=120)
        self.order = pn.widgets.Toggle.from_param(self.param.ascending, label="ascending", width=90, margin=(23, 5))
        self.prev_b = pn.widgets.Button(label="◀", width=40, margin=(23, 2))
        self.next_b = pn.widgets.Button(label="▶", width=40, margin=(23, 2))
        self.prev_b.on_click(lambda e: self.go(-1))
        self.next_b.on_click(lambda e: self.go(+1))
        self.info = pn.pane.Markdown("", margin=(28, 8))
        self.param.watch(lambda e: setattr(self, "page", 0), ["sort_by", "ascending"])
        state.param.watch(lambda e: self.param.update(page=0), ["version"])
        self.param.watch(self.refresh, ["page", "sort_by", "ascending"])
        state.param.watch(self.refresh, ["version"])
        self.refresh()

    def go(self, step: int) -> None:
        last = max((int(self.state.visible.sum()) - 1) // PAGE_SIZE, 0)
        self.page = int(np.clip(self.page + step, 0, last))

    def refresh(self, *_) -> None:
        col = SORT_COLUMNS[self.sort_by]
        alerts = self.state.alerts
        values = alerts[col].to_numpy(np.float64) if col in alerts else np.zeros(len(alerts))
        if col == "BII":
            values = np.abs(values)
        self.rows = page_rows(values, self.state.visible, self.page, PAGE_SIZE, self.ascending)
        self.table.value = alert_page(self.state, self.rows)
        n = int(self.state.visible.sum())
        self.info.object = f"page {self.page + 1:,} of {max((n + PAGE_SIZE - 1) // PAGE_SIZE, 1):,} · {n:,} alerts"

    def _on_click(self, event) -> None:
        if event.row is not None and 0 <= event.row < len(self.rows):
            self.state.select_row(int(self.rows[event.row]))

    def __panel__(self):
        return pn.Column(
            pn.Row(self.sort_select, self.order, self.prev_b, self.next_b, self.info),
            self.table,
            sizing_mode="stretch_width",
        )
