"""A gravitational-wave sky map on the Explore sky: its 50% and 90% credible contours, and "keep the sources inside".

Maps are those of the operator's folder (:func:`app.config.skymap_dir`, ``DATA/skymaps``); the
contours come from :func:`data_loaders.skymap.region_contours` (cached per map, projection and
frame), the filter is the query predicate ``skymap('NAME', 0.9)``, so it lands in permalinks.
"""

from __future__ import annotations

import holoviews as hv
import panel as pn

from app import config
from app.query import QueryError, parse_query
from app.state import ExploreState
from app.text import inert
from app.views.sky import SkyView
from data_loaders import skymap

NONE = "(none)"
STYLE = {0.9: {"line_dash": "solid"}, 0.5: {"line_dash": "dashed"}}


class SkyMapControls(pn.viewable.Viewer):
    """Choose a map of the folder; its contours are drawn on the sky, a button keeps the sources in its 90% region."""

    def __init__(self, state: ExploreState, sky: SkyView, **params):
        super().__init__(**params)
        self.state = state
        self.folder = config.skymap_dir()
        self.maps = skymap.list_maps(self.folder)
        self.choice = pn.widgets.Select(label="Sky map (GW alert)", options=[NONE, *self.maps], value=NONE, width=220)
        self.keep = pn.widgets.Button(label="keep sources in its 90% region", disabled=True, margin=(20, 5, 5, 5))
        self.keep.on_click(self._keep)
        self.choice.param.watch(lambda e: setattr(self.keep, "disabled", e.new == NONE), "value")
        streams = [hv.streams.Params(state, ["projection", "frame"]), hv.streams.Params(self.choice, ["value"])]
        self.overlay = hv.DynamicMap(self._contours, streams=streams)
        self.sky, self._drawn = sky, False
        # The contours join the sky when a map is first chosen: a page opens without their plots (issue 19).
        self.choice.param.watch(self._on_choice, "value")

    def _on_choice(self, event) -> None:
        if event.new != NONE and not self._drawn:
            self._drawn = True
            self.sky.add_overlay(self.overlay)

    def _contours(self, **_):
        name = self.choice.value
        empty = hv.Path([], kdims=["x", "y"])
        if name == NONE:
            return empty * empty
        try:
            lines = skymap.region_contours(self.folder, name, self.state.projection, self.state.frame)
        except skymap.SkyMapError as exc:
            self.state.message = str(exc)
            return empty * empty
        paths = [
            hv.Path(lines[level], kdims=["x", "y"], label=f"{level:.0%}").opts(
                color="#f97316", line_width=2, **STYLE[level]
            )
            for level in (0.5, 0.9)
        ]
        return paths[0] * paths[1]

    def _keep(self, *_):
        name = self.choice.value
        if name == NONE:
            return
        try:
            sel = parse_query(f"skymap('{name}', 0.9)", self.state.query_columns())
        except QueryError as exc:
            self.state.message = str(exc)
            return
        self.state.set_part("skymap", sel)

    def __panel__(self):
        if not self.maps:
            return pn.pane.Markdown(
                f"No sky maps: put gravitational-wave HEALPix maps (FITS) in {inert(self.folder.name)}/ of the data "
                "directory to draw their credible regions here.",
                margin=(0, 10),
            )
        note = pn.pane.Markdown("Dashed: 50%, solid: 90% credible region.", margin=(20, 10, 5, 10))
        return pn.Row(self.choice, self.keep, note)
