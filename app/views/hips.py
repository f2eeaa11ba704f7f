"""A HiPS image under the zoomed-in Explore sky, from the folder the operator configured (``serve --hips``).

The server reads the tiles and draws them (:meth:`data_loaders.hips.Hips.sky_image`) into one
RGBA image below the datashaded sources, whose empty pixels are transparent: the browser gets
the image over the page's own websocket and talks to nobody else. Only views narrower than
:data:`MAX_FOV_DEG` get an image; a wider view, or none configured, draws a transparent 2x2
image (and with none configured the page shows no control at all). A pan or zoom replaces
the image's data in place, as the footprint layer does.
"""

from __future__ import annotations

from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn

from app.plots import sky as skyplot
from app.state import ExploreState
from app.views import inplace
from app.views.sky import SkyView
from data_loaders.hips import Hips, open_hips

#: The widest view (deg of projection plane) that gets the image underneath (a go-to of r=40' is ~5.3 deg wide).
MAX_FOV_DEG = 8.0
#: The image is drawn at most this many pixels wide (the tiles are sampled once per pixel).
MAX_WIDTH = 600
_EMPTY = np.zeros((2, 2), dtype=np.uint32)


class HipsLayer(inplace.InPlaceImageLayer, pn.viewable.Viewer):
    """The HiPS image below the sky when zoomed in, and a checkbox to hide it."""

    def __init__(self, state: ExploreState, sky: SkyView, folder: Path | str, **params):
        super().__init__(**params)
        self.state, self.sky = state, sky
        self.hips: Hips = open_hips(str(folder))
        self.toggle = pn.widgets.Checkbox(
            label=f"image underneath when zoomed in (< {MAX_FOV_DEG:g}°): {self.hips.title}", value=True
        )
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

    def _element(self, **_):
        view = self._current_view()
        return skyplot.to_rgb_element(self.image(view), *view).opts(hooks=[inplace.weak_hook(self._on_drawn)])

    def __panel__(self):
        return self.toggle


def hips_layer(state: ExploreState, sky: SkyView, folder: Path | None) -> HipsLayer | None:
    """The HiPS layer on ``sky`` when a folder is configured, else None (nothing drawn, nothing shown)."""
    return None if folder is None else HipsLayer(state, sky, folder)
