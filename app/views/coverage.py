"""Coverage on the Explore sky: the footprint of the release's observations, and "was this observed?".

The footprint is the release's coverage MOC (``data_loaders.coverage``) drawn as one RGBA
image at the sky canvas' resolution (:func:`coverage.footprint_raster`): a translucent fill
with a bright edge, in either frame and projection. The whole-sky image is computed once per
process (a :class:`~data_loaders.process_cache.ProcessCache`); a pan or zoom replaces the
image's data in place with the visible part drawn at a finer order. A tap with no source
under it answers with the observations that covered the position and the flux upper limit.
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
from data_loaders import coverage
from data_loaders.errors import CatalogueError
from data_loaders.process_cache import ProcessCache

#: Fill and edge of the footprint (RGBA): sky blue, readable over the dark and the light sky.
FILL_RGBA = (56, 189, 248, 64)
EDGE_RGBA = (56, 189, 248, 235)
_LUT = np.array([(0, 0, 0, 0), FILL_RGBA, EDGE_RGBA], dtype=np.uint8).view(np.uint32).ravel()
DEFAULT_SIZE = (900, 450)


_MOCS: ProcessCache = ProcessCache("footprint MOCs", max_items=4)
_IMAGES: ProcessCache = ProcessCache("footprint images", max_items=64)


def release_moc(release_dir: str):
    """The release's footprint MOC, read once per process (None when it has no observation table)."""

    def read():
        try:
            return coverage.footprint_moc(Path(release_dir))
        except (CatalogueError, FileNotFoundError):
            return None

    return _MOCS.get(release_dir, read, paths=[release_dir])


def footprint_rgba(release_dir: str, frame: str, proj: str, x_range, y_range, width: int, height: int):
    """Bottom-up packed RGBA (uint32) image of the footprint over a view; None without an observation table.

    Cached per process on these small keys: every session's whole-sky view is the same image.
    """

    def draw():
        moc = release_moc(release_dir)
        if moc is None:
            return None
        index, _ = coverage.footprint_raster(moc, frame, proj, x_range, y_range, width, height)
        img = _LUT[index]
        img.setflags(write=False)
        return img

    key = (release_dir, frame, proj, tuple(x_range), tuple(y_range), width, height)
    return _IMAGES.get(key, draw, paths=[release_dir])


class CoverageControls(inplace.InPlaceImageLayer, pn.viewable.Viewer):
    """A toggle that overlays the footprint on the sky; taps on empty sky report coverage."""

    def __init__(self, state: ExploreState, sky: SkyView, **params):
        super().__init__(**params)
        self.state, self.sky = state, sky
        self.toggle = pn.widgets.Checkbox(label="show observation footprints", value=False)
        self.available = (state.catalogue.path / coverage.OBSERVATIONS_FILE).exists()
        self.toggle.disabled = not self.available
        self._plot = None  # the HoloViews plot of the footprint image, once drawn
        self._hooked: set[str] = set()
        # Projection and frame redraw the whole sky (HoloViews); the toggle, pans and zooms
        # replace the image's data in place.
        self.stream = hv.streams.Params(state, ["projection", "frame"])
        self.overlay = hv.DynamicMap(self._footprint, streams=[self.stream])
        self._drawn = False  # the layer joins the sky the first time it is shown (see _on_toggle)
        self.toggle.param.watch(self._on_toggle, "value")
        sky.on_empty_tap = self._on_empty_tap

    # --- drawing -------------------------------------------------------------------------------
    def _current_view(self):
        shown = self.sky._shown
        return shown if shown is not None else skyplot.full_extent(self.state.projection)

    def image(self, view) -> np.ndarray:
        """The bottom-up packed RGBA image for ``view`` (transparent 2x2 when the toggle is off)."""
        st = self.state
        if self.toggle.value and self.available:
            w, h = self.sky.size.width or DEFAULT_SIZE[0], self.sky.size.height or DEFAULT_SIZE[1]
            (x0, x1), (y0, y1) = view
            key = (round(x0, 9), round(x1, 9)), (round(y0, 9), round(y1, 9))
            img = footprint_rgba(str(st.catalogue.path), st.frame, st.projection, *key, int(w), int(h))
            if img is not None:
                return img
        return np.zeros((2, 2), dtype=np.uint32)

    def _footprint(self, **_):
        view = self._current_view()
        return skyplot.to_rgb_element(self.image(view), *view).opts(hooks=[inplace.weak_hook(self._on_drawn)])

    def _on_toggle(self, *_):
        if not self._drawn:
            # Most visitors never show the footprint: a page opens without its plot and Bokeh models
            # (issue 19), and the sky is drawn again with it the first time it is asked for.
            if self.toggle.value:
                self._drawn = True
                self.sky.add_overlay(self.overlay)
            return
        self._redraw(self._current_view())

    # --- was this observed? --------------------------------------------------------------------
    def _on_empty_tap(self, lon: float, lat: float) -> None:
        if not self.available:
            return
        ra, dec = (float(v[0]) for v in coverage.to_icrs([lon], [lat], self.state.frame))
        self.state.message = coverage_report(self.state.catalogue.path, ra, dec)

    def __panel__(self):
        note = "" if self.available else " (no observation table in this release)"
        return pn.Row(
            self.toggle, pn.pane.Markdown(f"Tap empty sky to ask whether it was observed{note}.", margin=(5, 10))
        )


def coverage_report(release_dir, ra: float, dec: float) -> str:
    """One or two sentences: which observations covered (ra, dec), and the deepest upper limit."""
    try:
        ul = coverage.upper_limit(release_dir, ra, dec)
    except CatalogueError as exc:
        return str(exc)
    if ul.empty:
        return f"Position {ra:.4f}°, {dec:+.4f}° was never in an XMM-Newton field of this release."
    best = ul.loc[ul["FLUX_UL"].idxmin()]
    return (
        f"Position {ra:.4f}°, {dec:+.4f}° was observed {len(ul)} time(s) without a detection here; the deepest, "
        f"{best['OBS_ID']} ({best['PN_ONTIME'] / 1e3:.0f} ks pn), gives a 3σ upper limit of "
        f"{best['FLUX_UL']:.2e} erg/cm²/s (0.2–12 keV, estimated)."
    )
