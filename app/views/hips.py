"""A HiPS image under the zoomed-in Explore sky, from the folder or service the operator configured (``serve --hips``).

The server reads the tiles (a service's through its disk cache, :mod:`data_loaders.hips_service`)
and draws them (:meth:`data_loaders.hips.Hips.sky_image`) into one RGBA image below the
datashaded sources, whose empty pixels are transparent: the browser gets the image over the
page's own websocket and talks to nobody else. Only views narrower than :data:`MAX_FOV_DEG`
get an image; a wider view, or none configured, draws a transparent 2x2 image (and with none
configured the page shows no control at all). A pan or zoom replaces the image's data in
place, as the footprint layer does; with a service the image is computed off the event loop
(tiles may have to be fetched) and a view left meanwhile is not drawn. While the service
fails, a sentence under the checkbox says so and its tiles are left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn

from app import config
from app.off_loop import in_background
from app.plots import sky as skyplot
from app.state import ExploreState
from app.text import inert, readable
from app.views import inplace
from app.views.sky import SkyView
from data_loaders.hips import Hips, HipsError, open_hips

log = logging.getLogger("xmm_explorer.hips")

#: The widest view (deg of projection plane) that gets the image underneath (a go-to of r=40' is ~5.3 deg wide).
MAX_FOV_DEG = 8.0
#: The image is drawn at most this many pixels wide (the tiles are sampled once per pixel).
MAX_WIDTH = 600
_EMPTY = np.zeros((2, 2), dtype=np.uint32)


class HipsLayer(inplace.InPlaceImageLayer, pn.viewable.Viewer):
    """The HiPS image below the sky when zoomed in, and a checkbox to hide it."""

    def __init__(self, state: ExploreState, sky: SkyView, hips: Hips, **params):
        super().__init__(**params)
        self.state, self.sky = state, sky
        self.hips = hips
        self.toggle = pn.widgets.Checkbox(
            label=readable(f"image underneath when zoomed in (< {MAX_FOV_DEG:g}°): {self.hips.title}"), value=True
        )
        self.note = pn.pane.Markdown("", visible=False, margin=(0, 10), sizing_mode="stretch_width")
        self._generation = 0  # of the last view asked for; a background image of an older one is dropped
        self._plot = None
        self._hooked: set[str] = set()
        self.stream = hv.streams.Params(state, ["projection", "frame"])
        # A view chosen on the server (go-to, permalink) redraws the sky through HoloViews: follow it.
        self.request_stream = hv.streams.Params(sky, ["view_request"])
        self.underlay = hv.DynamicMap(self._element, streams=[self.stream, self.request_stream])
        self.toggle.param.watch(lambda *_: self._redraw(self._current_view()), "value")
        sky.add_underlay(self.underlay)

    def _current_view(self):
        # Drawn before the sky image (it lies below): a view the sky is about to take comes first.
        shown = self.sky._pending or self.sky._shown
        return shown if shown is not None else skyplot.full_extent(self.state.projection)

    def shows(self, view) -> bool:
        """Whether ``view`` gets the image: the layer is on and the view is zoomed in enough."""
        (x0, x1), (y0, y1) = view
        return bool(self.toggle.value) and max(abs(x1 - x0), abs(y1 - y0)) < MAX_FOV_DEG

    def image(self, view) -> np.ndarray:
        """Bottom-up packed RGBA (uint32) image of the HiPS over ``view``; transparent 2x2 when not shown."""
        if not self.shows(view):
            return _EMPTY
        (x0, x1), (y0, y1) = view
        width = min(int(self.sky.size.width or 900), MAX_WIDTH)
        height = max(2, int(round(width * abs(y1 - y0) / max(abs(x1 - x0), 1e-12))))
        rgba = self.hips.sky_image(self.state.frame, self.state.projection, (x0, x1), (y0, y1), width, height)
        return np.ascontiguousarray(rgba).view(np.uint32)[..., 0]

    def _redraw(self, view) -> None:
        if self.hips.service is None:  # a folder: tiles are read at disk speed
            super()._redraw(view)
            self._show_problem()
            return
        self._generation += 1
        generation = self._generation

        def done(image: np.ndarray) -> None:
            if generation == self._generation:
                if self._plot is None or not inplace.replace_index(self._plot, image, *view):
                    self.stream.trigger([self.stream])
                self._show_problem()

        in_background(lambda: self.image(view), done)

    def _show_problem(self) -> None:
        problem = self.hips.problem
        text = inert(f"{problem} The image is left out until it answers.") if problem else ""
        if self.note.object != text:
            self.note.object, self.note.visible = text, bool(text)

    def _element(self, **_):
        view = self._current_view()
        image = self.image(view)
        self._show_problem()
        return skyplot.to_rgb_element(image, *view).opts(hooks=[inplace.weak_hook(self._on_drawn)])

    def __panel__(self):
        return pn.Column(self.toggle, self.note, margin=0, sizing_mode="stretch_width")


def hips_layer(state: ExploreState, sky: SkyView, source: Hips | Path | str | None) -> HipsLayer | None:
    """The HiPS layer on ``sky`` when a HiPS (folder or service URL) is configured, else None (nothing drawn,
    nothing shown; also when it cannot be opened, which is logged in one sentence)."""
    if source is None:
        return None
    try:
        hips = (
            source
            if isinstance(source, Hips)
            else open_hips(str(source), str(config.hips_cache_dir()), config.hips_cache_bytes())
        )
    except HipsError as exc:
        log.warning("No image under the sky: %s", exc)
        return None
    return HipsLayer(state, sky, hips)
