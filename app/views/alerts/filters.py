"""Filter widgets of the Alerts page, each bound to one parameter of the session's AlertsState."""

from __future__ import annotations

import panel as pn

from app.text import inert
from app.views.alerts.state import AlertsState


class AlertFilters(pn.viewable.Viewer):
    """Type, ratio, date, class, flux, |b| and review-status filters, plus the count of visible alerts."""

    def __init__(self, state: AlertsState, **params):
        super().__init__(**params)
        self.state = state
        p, w = state.param, pn.widgets
        self.types = w.MultiChoice.from_param(p.types, label="Alert types", sizing_mode="stretch_width")
        self.ratio_min = w.FloatInput.from_param(p.ratio_min, label="Min flux ratio (0: any)", step=0.5, width=140)
        self.ratio_low_min = w.FloatInput.from_param(
            p.ratio_low_min, label="Min ratio of error-bar ends", step=0.5, width=140
        )
        # No alerts, no dates: a slider without a value cannot be sent to the browser.
        self.dates = (
            w.DateRangeSlider.from_param(p.dates, label="Dates", sizing_mode="stretch_width")
            if state.dates is not None
            else pn.pane.Markdown("Dates: no alerts to date.")
        )
        self.classes = w.MultiChoice.from_param(
            p.classes, label="Class (empty: all)", placeholder="all classes", sizing_mode="stretch_width"
        )
        self.log_flux = w.RangeSlider.from_param(
            p.log_flux, label="log flux 0.2–12 keV (erg/cm²/s)", step=0.1, sizing_mode="stretch_width"
        )
        self.abs_b_min = w.FloatSlider.from_param(
            p.abs_b_min, label="Min |b| (deg)", step=1.0, sizing_mode="stretch_width"
        )
        self.review = w.Select.from_param(p.review, label="Review status", sizing_mode="stretch_width")
        self.count = pn.pane.HTML("", css_classes=["xmm-count"], margin=(10, 10))
        state.param.watch(self._count, ["version"])
        self._count()

    def _count(self, *_) -> None:
        n, total = int(self.state.visible.sum()), len(self.state.alerts)
        a = self.state.alerts.attrs
        self.count.object = (
            f"<b>{n:,}</b> of {total:,} alerts · preset {inert(a.get('preset', '?'))}: factor {a.get('factor', 0):g}, "
            f"{a.get('confidence', 0):.0%} error bars"
        )

    def __panel__(self):
        return pn.Column(
            self.count,
            self.types,
            pn.Row(self.ratio_min, self.ratio_low_min),
            self.dates,
            self.classes,
            self.log_flux,
            self.abs_b_min,
            self.review,
            sizing_mode="stretch_width",
        )
