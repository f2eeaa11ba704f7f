"""The replay box: how many alerts the real-time pipeline would have raised in a chosen window."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import panel as pn

from app.off_loop import off_loop
from app.text import inert
from app.views.alerts.state import AlertsState
from data_loaders.alerts.criteria import ALERT_TYPES
from data_loaders.errors import XmmExplorerError


def replay_html(counts: pd.DataFrame, monthly: pd.DataFrame) -> str:
    """Escaped HTML table: alerts, sources and rate per month for each type, then per calendar month."""
    a = counts.attrs
    head = (
        f"<div>{int(counts['N_DETECTIONS'].iat[0]):,} detections in MJD {a['start_mjd']:.0f}–{a['end_mjd']:.0f} "
        f"({a['end_mjd'] - a['start_mjd']:.0f} days), preset {inert(str(a['preset']))}</div>"
    )
    rows = "".join(
        f"<tr><th>{inert(str(r.ALERT_TYPE))}</th><td>{int(r.N_ALERTS):,}</td><td>{int(r.N_SOURCES):,}</td>"
        f"<td>{r.PER_MONTH:.1f}</td></tr>"
        for r in counts.itertuples()
    )
    table = (
        f"<table class='xmm-kv'><tr><th>type</th><th>alerts</th><th>sources</th><th>per month</th></tr>{rows}</table>"
    )
    if len(monthly):
        wide = monthly.pivot(index="MONTH", columns="ALERT_TYPE", values="N_ALERTS")[list(ALERT_TYPES)]
        cells = "".join(
            f"<tr><th>{inert(f'{m:%Y-%m}')}</th>" + "".join(f"<td>{int(v):,}</td>" for v in row.to_numpy()) + "</tr>"
            for m, row in wide.iterrows()
        )
        short = "".join(f"<th title='{inert(t)}'>{inert(t.split('_')[0])}</th>" for t in ALERT_TYPES)
        table += f"<table class='xmm-kv' style='margin-top:6px'><tr><th>month</th>{short}</tr>{cells}</table>"
    return head + table


class ReplayBox(pn.viewable.Viewer):
    """Pick a window start and length (default two months); the counts per type appear below."""

    def __init__(self, state: AlertsState, **params):
        super().__init__(**params)
        self.state = state
        lo, hi = state.param.dates.bounds or (dt.datetime(2015, 1, 1), dt.datetime(2015, 3, 1))
        default = max(lo.date(), (pd.Timestamp(hi) - pd.DateOffset(months=2)).date())
        self.start = pn.widgets.DatePicker(
            label="Window start", value=default, start=lo.date(), end=hi.date(), width=150
        )
        self.months = pn.widgets.IntInput(label="Months", value=2, start=1, end=24, width=80)
        self.run_b = pn.widgets.Button(label="Replay", color="primary", width=90, margin=(23, 5))
        self.run_b.on_click(self._run)
        self.out = pn.pane.HTML("", sizing_mode="stretch_width")

    def window(self) -> tuple[dt.date, dt.date]:
        start, months = self.start.value, self.months.value
        if months is None:  # the box emptied
            raise ValueError("Enter a number of months.")
        return start, (pd.Timestamp(start) + pd.DateOffset(months=int(months))).date()

    def result_html(self) -> str:
        """The result HTML for the chosen window (or one sentence on failure)."""
        try:
            start, end = self.window()
            counts, monthly = self.state.replay(start, end)
        except (XmmExplorerError, ValueError) as exc:
            return f"<div class='xmm-empty'>{inert(str(exc))}</div>"
        return replay_html(counts, monthly)

    async def _run(self, _event) -> None:
        self.run_b.loading = True
        try:
            self.out.object = await off_loop(self.result_html)
        finally:
            self.run_b.loading = False

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown(
                "**Replay**: what the real-time pipeline would have raised for detections in a window, "
                "knowing only data before its end.",
                margin=(5, 10),
            ),
            pn.Row(self.start, self.months, self.run_b),
            self.out,
            sizing_mode="stretch_width",
        )
