"""The rate chart and the sky map of the Alerts page, redrawn from the session state's visible alerts."""

from __future__ import annotations

import holoviews as hv
import panel as pn

from app.plots import alerts as plots
from app.views.alerts.state import AlertsState
from data_loaders.alerts.replay import monthly_rate

#: A tap on the sky picks the nearest visible alert within this distance in the projected plane (deg).
TAP_TOLERANCE = 4.0


class RateChart(pn.viewable.Viewer):
    """Stacked bars of the visible alerts per calendar month and type."""

    def __init__(self, state: AlertsState, **params):
        super().__init__(**params)
        self.state = state
        self.pane = pn.pane.HoloViews(self.plot(), sizing_mode="stretch_width", height=320)
        state.param.watch(lambda e: setattr(self.pane, "object", self.plot()), ["version"])

    def plot(self) -> hv.Overlay:
        return plots.rate_chart(monthly_rate(self.state.visible_alerts()))

    def __panel__(self):
        return self.pane


class AlertSky(pn.viewable.Viewer):
    """The visible alerts on an all-sky Hammer map; a tap selects the nearest alert."""

    def __init__(self, state: AlertsState, **params):
        super().__init__(**params)
        self.state = state
        self.dmap = hv.DynamicMap(self._plot, streams=[hv.streams.Params(state, ["version", "selected"])])
        self.tap = hv.streams.Tap(source=self.dmap, transient=True)
        self.tap.add_subscriber(self.on_tap)
        self.pane = pn.pane.HoloViews(self.dmap, sizing_mode="stretch_width", height=310)

    def _plot(self, **_) -> hv.Overlay:
        return plots.sky_alerts(self.state.visible_alerts(), self.state.selected_alert())

    def on_tap(self, x=None, y=None, **_) -> None:
        if x is None or y is None:
            return
        row = self.state.nearest_visible(float(x), float(y), TAP_TOLERANCE)
        if row is not None:
            self.state.select_row(row)

    def __panel__(self):
        return self.pane
