"""The long-term lightcurve panel: every XMM detection, limits and other missions; tap selects an observation."""

from __future__ import annotations

import holoviews as hv
import panel as pn

from app.plots.lightcurve import LONGTERM_BANDS, band_label, longterm_plot, longterm_points
from app.views.source.format import empty, html_pane
from app.views.source.state import SourceState


class LongtermLightcurve(pn.viewable.Viewer):
    """Flux history of ``state.srcid`` in ``state.band``; tapping a detection sets ``state.obs_id``."""

    def __init__(self, state: SourceState, **params):
        super().__init__(**params)
        self.state = state
        self.band = pn.widgets.Select.from_param(
            state.param.band, label="Band", options={band_label(b): b for b in LONGTERM_BANDS}, width=220
        )
        self.plot = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=320, linked_axes=False)
        self.note = html_pane("", margin=(0, 10))
        self._xmm_obs: list[str] = []
        state.param.watch(self._update, ["detections", "band", "obs_id", "highlight_epochs"])
        self._update()

    def _longterm_rows(self):
        lt = self.state.catalogue.longterm
        if lt is None or self.state.srcid is None:
            return None
        return lt[lt["SRCID"].to_numpy() == int(self.state.srcid)]

    def _update(self, *_):
        st = self.state
        if st.detections is None:
            self.plot.object, self.note.object = None, empty("No detections to show.")
            return
        points = longterm_points(st.detections, self._longterm_rows(), st.band)
        overlay = longterm_plot(points, st.band, st.highlight_epochs, st.obs_id or None)
        xmm = points[(points["mission"] == "XMM") & ~points["upper_limit"]]
        self._xmm_obs = xmm["obs_id"].tolist()
        scatter = overlay.get(0)
        stream = hv.streams.Selection1D(source=scatter)
        stream.add_subscriber(self._on_select)
        self.plot.object = overlay
        n_lim = int(points["upper_limit"].sum())
        others = sorted(set(points.loc[points["mission"] != "XMM", "mission"]))
        parts = [f"{len(xmm)} XMM detection(s)", f"{n_lim} upper limit(s)"]
        if others:
            parts.append(f"other missions converted to XMM 0.2–12 keV: {', '.join(others)}")
        if st.band != 8:
            parts.append("limits and other missions are shown in band 8 only")
        self.note.object = "<small>" + " · ".join(parts) + ". Click a detection to show its observation below.</small>"

    def _on_select(self, index=None, **_):
        if index and 0 <= index[0] < len(self._xmm_obs):
            self.state.obs_id = self._xmm_obs[index[0]]

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("### Long-term lightcurve", margin=(0, 10)), pn.layout.HSpacer(), self.band),
            self.plot,
            self.note,
            sizing_mode="stretch_width",
        )
