"""The outreach sky: the datashaded all-sky map in gentle colours, a search box and guided tours.

Galactic coordinates put the Milky Way across the middle, as visitors expect. A tour moves the
view from one famous field to the next with a caption; kiosk mode advances by itself.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param
from astropy.coordinates import SkyCoord
from panel.io.callbacks import PeriodicCallback

from app.plots import sky as skyplot
from app.search import Position, SearchError, parse_target
from app.text import inert
from app.views.classify.tours import TOUR, Stop
from data_loaders import projection
from data_loaders.catalogue import Catalogue

PROJ, FRAME = "hammer", "galactic"
GENTLE_CMAP = ["#6366f1", "#a78bfa", "#f0abfc", "#fdf4ff"]
KIOSK_PERIOD_MS = 20_000
WELCOME = (
    "<b>The X-ray sky seen by XMM-Newton.</b> Each glowing dot is a source of X-rays: stars, black holes, "
    "exploded stars, whole clusters of galaxies. The Milky Way runs across the middle. Drag to move, pinch or "
    "scroll to zoom, or take the tour."
)


def view_around(lon: float, lat: float, radius: float, aspect: float = 2.0):
    """(x_range, y_range) in projected deg centred on galactic (lon, lat), ``radius`` deg tall."""
    x, y = projection.forward(np.array([lon]), np.array([lat]), PROJ)
    half_y = max(float(radius), 0.05)
    half_x = half_y * aspect
    return (float(x[0]) - half_x, float(x[0]) + half_x), (float(y[0]) - half_y, float(y[0]) + half_y)


def galactic(ra: float, dec: float) -> tuple[float, float]:
    gal = SkyCoord(ra, dec, unit="deg", frame="icrs").galactic
    return float(gal.l.deg), float(gal.b.deg)


#: The kiosk is dark in both themes; without this the label is dark grey on it (1.3:1).
ON_DARK_LABEL = ".bk-label, label { color: #e2e8f0; }"
#: Bokeh's own primary blue carries white text at 3.6:1; this blue at 6.7:1 (WCAG AA).
PRIMARY_BUTTON = ".bk-btn-primary { background-color: #1d4ed8; border-color: #1d4ed8; color: #ffffff; }"


#: The page has no template (and so not theme.css's rules for narrow screens): its row of controls
#: wraps, and no container is held wider than the window by its children's widths.
FLUID = ":host { flex-wrap: wrap; min-width: 0 !important; max-width: 100%; }"


class OutreachState(param.Parameterized):
    """The visitor's view: ranges, the tour stop, the caption and kiosk mode."""

    stop = param.Integer(default=-1, doc="Index into TOUR; -1 is the whole sky.")
    caption = param.String(default=WELCOME)
    kiosk = param.Boolean(default=False, doc="Advance the tour by itself every 20 s.")
    view = param.Tuple(default=None, allow_None=True, length=2, doc="Requested (x_range, y_range).")


class OutreachSky(pn.viewable.Viewer):
    """Full-window sky with a caption, a search box and tour buttons."""

    def __init__(self, catalogue: Catalogue, **params):
        super().__init__(**params)
        self.catalogue = catalogue
        self.state = OutreachState()
        self._x, self._y = catalogue.xy("sources", FRAME, PROJ)
        self._pending: tuple[tuple[float, ...], tuple[float, ...]] | None = None
        self.range = hv.streams.RangeXY()
        self.size = hv.streams.PlotSize()
        # The requested view is a stream too: DynamicMap memoises on stream values, so a bare
        # event() with unchanged ranges would return the cached image.
        requested = hv.streams.Params(self.state, ["view"])
        self.dmap = hv.DynamicMap(self._image, streams=[self.range, self.size, requested])
        # No outline overlay: its extent would pin the axes to the whole sky and undo tour zooms.
        plot = self.dmap.opts(
            hv.opts.RGB(
                responsive=True,
                xaxis=None,
                yaxis=None,
                framewise=True,
                toolbar=None,
                active_tools=["wheel_zoom", "pan"],
                default_tools=["pan", "wheel_zoom"],
                bgcolor="#020617",
                backend_opts={
                    "plot.lod_timeout": 30,
                    "plot.lod_interval": 30,
                    "plot.border_fill_color": "#020617",
                    "plot.outline_line_color": None,
                },
            ),
        )
        self.pane = pn.pane.HoloViews(plot, sizing_mode="stretch_both", min_height=420, linked_axes=False)
        self._caption = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["xmm-caption"])
        self.search = pn.widgets.TextInput(placeholder="Find a place: M31, Orion, 10.68 41.27 ...", width=320)
        self.search.param.watch(self._on_search, "value")
        self._tour = pn.widgets.Button(
            label="Take the tour ▶", color="primary", height=48, width=190, stylesheets=[PRIMARY_BUTTON]
        )
        self._tour.on_click(lambda _e: self._advance())
        self._home = pn.widgets.Button(label="Whole sky", height=48, width=130)
        self._home.on_click(lambda _e: self.home())
        self._kiosk = pn.widgets.Checkbox(
            label="Move on by itself", value=False, margin=(18, 10), stylesheets=[ON_DARK_LABEL]
        )
        self._kiosk.link(self.state, value="kiosk")
        self._callback: PeriodicCallback | None = None
        self.state.param.watch(self._on_kiosk, "kiosk")
        self.state.param.watch(self._sync_caption, ["caption", "stop"])
        self._sync_caption()

    # --- rendering ------------------------------------------------------------------------------
    def _image(self, x_range=None, y_range=None, width=None, height=None, **_):
        full_x, full_y = skyplot.full_extent(PROJ)
        if self._pending is not None:
            (x_range, y_range), self._pending = self._pending, None
        elif x_range is None or y_range is None or not np.all(np.isfinite([*x_range, *y_range])):
            x_range, y_range = full_x, full_y
        w, h = int(width or 1200), int(height or 600)
        img = skyplot.spread(skyplot.sky_rgba(self._x, self._y, None, x_range, y_range, w, h, cmap=GENTLE_CMAP), 1)
        # Explicit limits make a requested view (tour, search) move the axes, not just the image.
        return skyplot.to_rgb_element(img, x_range, y_range).opts(xlim=tuple(x_range), ylim=tuple(y_range))

    def _aspect(self) -> float:
        """Width over height of the plot as drawn (2 before the browser has said)."""
        w, h = self.size.width, self.size.height
        return float(w) / float(h) if w and h else 2.0

    def go(self, x_range, y_range) -> None:
        """Move the view (a tour stop, a search result, the whole sky)."""
        self._pending = (tuple(x_range), tuple(y_range))
        if self.state.view == self._pending:
            self.state.param.trigger("view")  # the visitor may have panned away since
        else:
            self.state.view = self._pending

    # --- actions --------------------------------------------------------------------------------
    def show_stop(self, index: int) -> Stop:
        stop = TOUR[index % len(TOUR)]
        lon, lat = galactic(stop.ra, stop.dec)
        self.state.param.update(stop=index % len(TOUR), caption=f"<b>{inert(stop.name)}.</b> {inert(stop.caption)}")
        self.go(*view_around(lon, lat, stop.radius, self._aspect()))
        return stop

    def next_stop(self) -> Stop:
        """Go to the next stop of the tour (the first after the whole sky)."""
        return self.show_stop(self.state.stop + 1)

    def _advance(self) -> None:
        """``next_stop`` for callbacks, which return nothing (the tour button, the kiosk timer)."""
        self.next_stop()

    def home(self) -> None:
        self.state.param.update(stop=-1, caption=WELCOME)
        self.go(*skyplot.full_extent(PROJ))

    def _on_search(self, event) -> None:
        text = (event.new or "").strip()
        if not text:
            return
        try:
            target = parse_target(text)
        except SearchError as exc:
            self.state.caption = inert(str(exc))
            return
        if not isinstance(target, Position):
            self.state.caption = "Type a place name (M31, Orion, LMC ...) or a position to fly there."
            return
        lon, lat = galactic(target.ra, target.dec)
        radius = max(min(target.radius_deg or 2.0, 30.0), 0.2)
        self.state.param.update(stop=-1, caption=f"<b>{inert(target.name or text)}</b>")
        self.go(*view_around(lon, lat, radius, self._aspect()))

    def _on_kiosk(self, event) -> None:
        if event.new and self._callback is None:
            self._callback = pn.state.add_periodic_callback(self._advance, period=KIOSK_PERIOD_MS)
        elif not event.new and self._callback is not None:
            self._callback.stop()
            self._callback = None

    def _sync_caption(self, *_):
        self._caption.object = self.state.caption
        following = (self.state.stop + 1) % len(TOUR) + 1
        self._tour.label = "Take the tour ▶" if self.state.stop < 0 else f"Next stop ({following}/{len(TOUR)}) ▶"

    def controls(self) -> pn.Row:
        full = pn.widgets.Button(label="Full screen", height=48, width=130)
        # The browser only grants full screen to a click, so the button asks in the page itself.
        full.js_on_click(code="const d = document.documentElement; if (d.requestFullscreen) d.requestFullscreen();")
        row = [self.search, self._tour, self._home, full, self._kiosk]
        return pn.Row(*row, sizing_mode="stretch_width", stylesheets=[FLUID])

    def __panel__(self):
        return pn.Column(self.pane, self._caption, self.controls(), sizing_mode="stretch_both", stylesheets=[FLUID])
