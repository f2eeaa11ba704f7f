"""The long-term lightcurve panel: every XMM detection, limits and other missions; tap selects an observation."""

from __future__ import annotations

import panel as pn

from app.plots.lightcurve import band_label, longterm_points
from app.text import inert
from app.views.source.figures import LongtermFigure, held, show
from app.views.source.format import empty, html_pane
from app.views.source.state import SourceState
from data_loaders import capabilities


class LongtermLightcurve(pn.viewable.Viewer):
    """Flux history of ``state.srcid`` in ``state.band``; tapping a detection sets ``state.obs_id``.

    The Bokeh figure is built once; another source or band only replaces its data, and another
    selected observation only moves the ring (see ``LongtermFigure``).
    """

    def __init__(self, state: SourceState, **params):
        super().__init__(**params)
        self.state = state
        self.band = pn.widgets.Select.from_param(
            state.param.band, label="Band", options={band_label(b): b for b in state.param.band.objects}, width=220
        )
        self.figure = LongtermFigure()
        self.figure.xmm.selected.on_change("indices", self._on_tap)
        self.plot = pn.pane.Bokeh(self.figure.figure, sizing_mode="stretch_width", min_height=320)
        show(self.plot, False)
        self.note = html_pane("", margin=(0, 10))
        self._xmm_obs: list[str] = []
        state.param.watch(self._update, ["detections", "band", "highlight_epochs"])
        state.param.watch(self._select, ["obs_id"])
        self._update()

    def _longterm_rows(self):
        lt = self.state.catalogue.longterm
        if lt is None or self.state.srcid is None:
            return None
        return lt[lt["SRCID"].to_numpy() == int(self.state.srcid)]

    @held
    def _update(self, *_):
        st = self.state
        if st.detections is None:
            self._xmm_obs = []
            show(self.plot, False)
            self.note.object = empty("No detections to show.")
            return
        if "MJD_START" not in st.detections:  # nothing to place in time (capabilities.EPOCHS)
            self._xmm_obs = []
            show(self.plot, False)
            self.note.object = empty(st.catalogue.capabilities.reason(capabilities.EPOCHS))
            return
        if f"EP_{st.band}_FLUX" not in st.detections:
            self._xmm_obs = []
            show(self.plot, False)
            self.note.object = empty(f"{band_label(st.band).capitalize()} is not available in release {st.release}.")
            return
        points = longterm_points(st.detections, self._longterm_rows(), st.band)
        self._xmm_obs = self.figure.update(points, st.band, st.highlight_epochs, st.obs_id or None)
        show(self.plot, True)
        n_xmm = len(self._xmm_obs)
        n_lim = int(points["upper_limit"].sum())
        others = sorted(set(points.loc[points["mission"] != "XMM", "mission"]))
        parts = [f"{n_xmm} XMM detection(s)", f"{n_lim} upper limit(s)"]
        if others:
            parts.append(f"other missions converted to XMM 0.2–12 keV: {', '.join(others)}")
        if st.band != 8:
            parts.append("limits and other missions are shown in band 8 only")
        self.note.object = (
            "<small>" + inert(" · ".join(parts)) + ". Click a detection to show its observation below.</small>"
        )

    @held
    def _select(self, *_):
        self.figure.select(self.state.obs_id or None)

    @held
    def _on_tap(self, _attr, _old, new):
        """A tap in the browser (Bokeh selection of the XMM detections)."""
        self._on_select(index=new)

    def _on_select(self, index=None, **_):
        if index and 0 <= index[0] < len(self._xmm_obs):
            self.state.obs_id = self._xmm_obs[index[0]]
            # The ring marks the choice; a lingering selection would also fade every other detection
            # and make a second tap on the same one (after choosing another in the table) do nothing.
            self.figure.xmm.selected.indices = []

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("### Long-term lightcurve", margin=(0, 10)), pn.layout.HSpacer(), self.band),
            self.plot,
            self.note,
            sizing_mode="stretch_width",
        )
