"""The sky map viewer: a datashaded DynamicMap wired to the session state.

Tap picks the nearest source (KD-tree in the catalogue), a box selection becomes a
``Box`` on the virtual projected columns, and go-to requests move the view.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.events import RangesUpdate
from bokeh.models import CustomJSHover, HoverTool
from holoviews.plotting.bokeh.callbacks import RangeXYCallback

from app import fields, source_labels
from app.params import dark_theme
from app.plots import sky as skyplot
from app.plots import sky_marks
from app.selection import All, Box, Ids, Lasso
from app.state import COLOUR_OPTIONS, ExploreState
from app.text import inert
from app.views import inplace
from app.views.sky_marks import SkyMarks
from data_loaders import projection, schema
from data_loaders.catalogue import log_column, sky_column
from data_loaders.process_cache import ProcessCache

#: A tap within this many screen pixels of a source picks it (a sparse source is drawn 5 px wide),
#: or within 3 times its position error when that is further (data_loaders.catalogue.ERROR_SIGMAS).
TAP_PIXELS = 10

# HoloViews waits until range events have been quiet for 100 ms (polling every 50 ms) before it
# re-renders. The Explore sky answers Bokeh's range event itself (``SkyView._on_ranges_update``);
# this shortens the wait for the other sky maps that still use a RangeXY stream.
RangeXYCallback.debounce = 20

#: Count grids of unfiltered views (a fresh session's first sky is every fresh session's first sky).
_UNFILTERED_COUNTS: ProcessCache = ProcessCache("unfiltered sky counts", max_items=32)

#: Inverse projections in JavaScript so the cursor readout costs no round trip to the server.
_HOVER_JS = """
const proj = PROJ, frame = FRAME;
const d2r = Math.PI / 180, r2d = 180 / Math.PI;
const X = -special_vars.x * d2r, Y = special_vars.y * d2r;
let lam = NaN, phi = NaN;
if (proj === 'hammer') {
  if ((X / 4) ** 2 + (Y / 2) ** 2 <= 0.5) {
    const z = Math.sqrt(1 - (X / 4) ** 2 - (Y / 2) ** 2);
    lam = 2 * Math.atan2(z * X, 2 * (2 * z * z - 1)); phi = Math.asin(z * Y);
  }
} else if (proj === 'mollweide') {
  const th = Math.asin(Y / Math.SQRT2);
  if (Math.abs(Y) <= Math.SQRT2) {
    phi = Math.asin((2 * th + Math.sin(2 * th)) / Math.PI);
    lam = Math.PI * X / (2 * Math.SQRT2 * Math.cos(th));
  }
} else {
  lam = X / 2; phi = Y;  // Aitoff: close to the centre only; the server refines taps
}
if (!isFinite(lam) || Math.abs(lam) > Math.PI) return '—';
const lon = ((lam * r2d) % 360 + 360) % 360, lat = phi * r2d;
if (frame === 'galactic') return 'l ' + lon.toFixed(3) + '°  b ' + lat.toFixed(3) + '°';
const h = lon / 15, hh = Math.floor(h), mm = Math.floor((h - hh) * 60), ss = ((h - hh) * 60 - mm) * 60;
const s = lat < 0 ? '-' : '+', a = Math.abs(lat), dd = Math.floor(a), dm = Math.floor((a - dd) * 60);
const ds = ((a - dd) * 60 - dm) * 60;
const p = (v, n) => String(v).padStart(n, '0');
return p(hh, 2) + 'h' + p(mm, 2) + 'm' + ss.toFixed(1).padStart(4, '0') + 's  ' + s + p(dd, 2) + '°' + p(dm, 2) + "'" +
  ds.toFixed(0).padStart(2, '0') + '"  (' + lon.toFixed(4) + '°, ' + lat.toFixed(4) + '°)';
"""


def hover_tool(proj: str, frame: str) -> HoverTool:
    """A hover tool that shows the sky position under the cursor, computed in the browser."""
    code = _HOVER_JS.replace("PROJ", repr(proj)).replace("FRAME", repr(frame))
    fmt = CustomJSHover(code=code)
    return HoverTool(tooltips=[("position", "$x{custom}")], formatters={"$x": fmt}, mode="mouse")


def _swatch(colour: str) -> str:
    return (
        f"<span style='display:inline-block;width:10px;height:10px;border-radius:2px;"
        f"background:{inert(colour)};margin-right:4px;vertical-align:middle'></span>"
    )


def colour_bar_html(title: str, colours: list[str], ticks: list[tuple[float, str]]) -> str:
    """A horizontal colour bar: its name (with unit), the gradient and values at positions 0..1."""
    gradient = ", ".join(inert(c) for c in colours)
    marks = "".join(
        f"<span style='position:absolute;left:{100 * t:.1f}%;transform:translateX(-{100 * t:.0f}%)'>"
        f"{inert(text)}</span>"
        for t, text in ticks
    )
    return (
        f"<div class='xmm-colourbar' style='max-width:420px'><b>Colour:</b> {inert(title)}"
        f"<div style='height:10px;border-radius:2px;background:linear-gradient(to right, {gradient})'></div>"
        f"<div style='position:relative;height:1.3em'>{marks}</div></div>"
    )


class SkyView(pn.viewable.Viewer):
    """All-sky datashaded map of the session's filtered catalogue."""

    mode: param.Selector[str] = param.Selector(objects=["replace", "add", "intersect"], default="replace")
    view_request = param.Integer(default=0, doc="Bumped to redraw at a view chosen on the server")

    def __init__(self, state: ExploreState, height: int = 520, **params):
        super().__init__(**params)
        self.state = state
        self.dark = dark_theme()  # the page's theme picks the part of a colour map the sky uses
        # No RangeXY stream: a pan or zoom is answered from Bokeh's own range event, which
        # replaces the image data in place (see ``_on_ranges_update``). Going through
        # HoloViews' stream machinery cost ~50 ms of debounce and ~30 ms of plot update.
        # The plot's size is not a stream of the DynamicMap either: the first image is drawn at a
        # default size (shared by fresh sessions, see ``_first_counts``) and the size the browser
        # reports replaces it in place (``_on_resize``). As a stream, the report re-rendered the
        # whole overlay, and HoloViews re-scheduled that render on every tick of the event loop
        # until the page had loaded (~1,400 callbacks, ~0.3 s of CPU per page open).
        self.size = hv.streams.PlotSize()  # holds the last size reported; triggers nothing
        # A new filter or selection (``version``) redraws the image in place when the palette
        # stays (see ``_on_version``); these change the look and go through HoloViews.
        watched = ["colour_by", "norm", "cmap", "projection", "frame", "band"]
        self.params_stream = hv.streams.Params(state, watched)
        self._pending: tuple | None = None
        if state.x_range is not None and state.y_range is not None:
            self._pending = (tuple(state.x_range), tuple(state.y_range))
        self._shown: tuple | None = None
        self._to_apply: tuple | None = None  # a view set by _view_ranges, to put on the figure once drawn
        self._ready: tuple | None = None  # (request key, answer) computed for the next render (see _show)
        # ``linked=True``: HoloViews attaches the tap, box and lasso streams below (source ``dmap``)
        # to the figure only when ``dmap`` has a linked stream (``compute_overlayable_zorders``);
        # the plot's size used to be that stream. A linked Params stream has no browser callback.
        self.request_stream = hv.streams.Params(self, ["view_request"], linked=True)
        self.dmap = hv.DynamicMap(self._view, streams=[self.params_stream, self.request_stream])
        self._image_plot = None  # the HoloViews plot of the sky image, once rendered
        self._kind: tuple | None = None  # (palette kind, colour map) of the image last computed
        self._kind_drawn: tuple | None = None  # ... and of the image HoloViews last drew
        self._hooked: set[str] = set()  # ids of the Bokeh figures whose range events we answer
        self.tap = hv.streams.Tap(source=self.dmap, transient=True)
        self.tap.add_subscriber(self._on_tap)
        self.box = hv.streams.BoundsXY(source=self.dmap, transient=True)
        self.box.add_subscriber(self._on_box)
        self.lasso = hv.streams.Lasso(source=self.dmap)
        self.lasso.add_subscriber(self._on_lasso)
        self.overlays: list[hv.DynamicMap] = []
        self.underlays: list[hv.DynamicMap] = []  # drawn below the sky image (its empty pixels are transparent)
        self.on_empty_tap: Callable[[float, float], None] | None = None  # taps that hit no source (coverage)
        self._rgb_opts = hv.opts.Image(
            responsive=True,
            min_height=height,
            data_aspect=1,
            xaxis=None,
            yaxis=None,
            tools=["tap", "box_select", "lasso_select", hover_tool(state.projection, state.frame)],
            active_tools=["wheel_zoom", "pan"],
            # Box zoom and save came with the graticule's elements (HoloViews' default tools) when it
            # was part of the overlay; the figure keeps them.
            default_tools=["save", "pan", "wheel_zoom", "box_zoom", "reset"],
            show_grid=False,
            toolbar="above",
            hooks=[inplace.weak_hook(self._apply_pending_view)],
        )
        self.pane = pn.pane.HoloViews(
            self._compose(), sizing_mode="stretch_width", min_height=height, linked_axes=False
        )
        self.legend = pn.pane.HTML(self.legend_html(), sizing_mode="stretch_width", margin=(0, 12))
        state.param.watch(self._update_legend, ["colour_by", "version", "level"])
        state.param.watch(self._on_projection, ["projection", "frame"])
        state.param.watch(self._on_view_request, ["x_range", "y_range"])
        state.param.watch(self._on_version, ["version"])
        self.marks = SkyMarks(state)
        state.param.watch(self.marks.refresh, ["srcid", "version"])

    def _compose(self):
        plot = self.dmap
        for under in self.underlays:
            plot = under * plot
        for extra in self.overlays:
            plot = plot * extra
        # Bokeh waits 500 ms after a wheel gesture before it reports the new view; users feel that
        # as lag. The figure belongs to the overlay, so the overlay carries the setting.
        lod = hv.opts.Overlay(backend_opts={"plot.lod_timeout": 30, "plot.lod_interval": 30})
        return plot.opts(self._rgb_opts, lod)

    def add_overlay(self, dmap: hv.DynamicMap) -> None:
        """Draw another layer (e.g. observation footprints) above the sky image."""
        self.overlays.append(dmap)
        self.pane.object = self._compose()

    def add_underlay(self, dmap: hv.DynamicMap) -> None:
        """Draw a layer (e.g. a HiPS image) below the sky image."""
        self.underlays.append(dmap)
        self.pane.object = self._compose()

    # --- rendering -----------------------------------------------------------------------------
    def _view_ranges(self, x_range, y_range):
        """The ranges to draw: a pending go-to/permalink view, else the given ranges, else the view shown."""
        if self._pending is not None:
            view, self._pending = self._pending, None
            self._shown = view
            self._to_apply = view
            return view
        if x_range is not None and y_range is not None and np.all(np.isfinite([*x_range, *y_range])):
            return tuple(x_range), tuple(y_range)
        if self._shown is not None:
            return self._shown
        return skyplot.full_extent(self.state.projection)

    def _apply_pending_view(self, plot, element) -> None:
        """Plot hook: answer the figure's range events, and move it to a view chosen on the server.

        A go-to, permalink or projection change sets the ranges of this session's figure
        directly; a pan or zoom by the user arrives as Bokeh's ``RangesUpdate`` event.
        """
        fig = plot.state
        self._image_plot = plot
        if fig.id not in self._hooked:
            self._hooked.add(fig.id)
            fig.on_event(RangesUpdate, self._on_ranges_update)
            fig.on_change("inner_width", self._on_resize)
            fig.on_change("inner_height", self._on_resize)
        self.marks.attach(fig)
        view = getattr(self, "_to_apply", None)
        if view is not None:
            self._to_apply = None
            (x0, x1), (y0, y1) = view
            fig.x_range.update(start=x0, end=x1)
            fig.y_range.update(start=y0, end=y1)
        self.marks.update(view or self._shown or skyplot.full_extent(self.state.projection), self.size.width)

    def _on_resize(self, _attr, _old, _new) -> None:
        """The browser laid the figure out: draw the view again at its size in pixels, in place."""
        if self._image_plot is None:
            return
        fig = self._image_plot.state
        try:
            width, height = fig.inner_width, fig.inner_height
        except UnsetValueError:  # the other one arrives in the next change
            return
        if not width or not height or (width, height) == (self.size.width, self.size.height):
            return
        self.size.update(width=int(width), height=int(height))
        view = self._shown if self._shown is not None else skyplot.full_extent(self.state.projection)
        with self.state.answering():
            self._redraw_in_place(*view)
            self.marks.update(view, self.size.width)

    def _on_ranges_update(self, event) -> None:
        """Bokeh reports the view after a pan, zoom or reset: draw it and put it in the permalink.

        Only the image's data is replaced; the figure, its tools and the other layers stay.
        """
        view = inplace.view_of(event)
        if view is None:
            return
        if self._shown is not None and np.allclose(view, self._shown, rtol=0, atol=1e-9):
            return
        self._shown = view
        with self.state.answering():
            self._redraw_in_place(*view)
            self.marks.update(view, self.size.width)
        self.state.param.update(
            x_range=tuple(round(v, 6) for v in view[0]), y_range=tuple(round(v, 6) for v in view[1])
        )

    def _redraw_in_place(self, x_range, y_range) -> None:
        """New image data in the drawn figure; HoloViews re-renders when that cannot do.

        It cannot before the first render, for a view chosen on the server (the figure's
        ranges move too) or when the palette changes (the colour mapper changes too).
        """
        if self._image_plot is None or self._pending is not None:
            self.view_request += 1
            return
        key, work = self._request((tuple(x_range), tuple(y_range)), self.size.width, self.size.height)
        self.state.answer("sky", work, partial(self._show, key))

    def _show(self, key: tuple, answer: tuple) -> None:
        """The apply step of a redraw: the image computed for ``key`` replaces the drawn one's data,
        or (not drawn yet, another palette, a view chosen on the server) a HoloViews render draws it."""
        view = key[1]
        index, kind, cmap, _ = answer
        drawable = self._image_plot is not None and self._pending is None
        same_palette = (kind, cmap or self.state.cmap) == self._kind_drawn
        # The image's array only: building the HoloViews element costs more than the patch needs.
        if drawable and same_palette and inplace.replace_index(self._image_plot, index, *view):
            self._adopt(answer)
            return
        self._ready = (key, answer)
        self.view_request += 1

    def _on_version(self, *_):
        """Filters or selection changed: redraw the current view."""
        view = self._shown if self._shown is not None else skyplot.full_extent(self.state.projection)
        with self.state.answering():
            self._redraw_in_place(*view)

    def _on_view_request(self, *_):
        st = self.state
        if st.x_range is None or st.y_range is None:
            return
        view = (tuple(st.x_range), tuple(st.y_range))
        if self._shown is None or not np.allclose(view, self._shown, rtol=0, atol=1e-5):
            self._pending = view
            self.view_request += 1

    def colour_grids(
        self, x_range, y_range, width: int, height: int, st=None
    ) -> tuple[np.ndarray, str, str | None, list | None]:
        """(bottom-up index image, palette kind, colour map or None for the state's, ticks of a count
        ramp or None) of the chosen colouring, for the state ``st`` (a :meth:`ExploreState.snapshot`;
        default the state of now).

        Every grid comes from the catalogue (:meth:`Subset.grid`), whichever engine holds it.
        """
        st = self.state if st is None else st
        xc, yc = sky_column("x", st.projection, st.frame), sky_column("y", st.projection, st.frame)
        view = (xc, yc, x_range, y_range, width, height)
        filtered = st.filtered
        if st.has_selection:
            return (*skyplot.highlight_index(filtered.grid(*view), st.shown.grid(*view), st.norm), None, None)
        if st.colour_by == "count" or (st.colour_by == "lx" and not self.has_lx(st)):
            counts = self._counts(view, st)
            return (*skyplot.count_index(counts, st.norm), None, sky_marks.ramp_ticks(counts, st.norm))
        if st.colour_by in ("class", "citizen"):
            n = len(schema.CLASS_NAMES) + 1
            if st.colour_by == "class":
                counts = filtered.grid(*view, how="by", column="CLASS", n_categories=n)
            else:  # one grid per consensus class, the rest unclassified
                grids = [
                    filtered.refine(Ids("SRCID", source_labels.citizen_srcids(st.catalogue, [code]))).grid(*view)
                    for code in range(n - 1)
                ]
                # Counted from the rows like the classes (a catalogue may draw every row differently).
                classified = Ids("SRCID", source_labels.citizen_srcids(st.catalogue, range(n - 1)))
                counts = np.stack([*grids, filtered.refine(~classified).grid(*view)], axis=2)
            return (*skyplot.class_index(counts, st.norm), None, None)
        if st.colour_by == "flagged":
            labels = list(st.flag_labels) or None
            flagged_ids = Ids("SRCID", source_labels.flagged_srcids(st.catalogue.name, labels))
            flagged = filtered.refine(flagged_ids).grid(*view)
            # Both from the rows: a catalogue may draw every row from a pyramid, not from the rows.
            counts = flagged + filtered.refine(~flagged_ids).grid(*view)
            with np.errstate(invalid="ignore", divide="ignore"):
                means = np.where(counts > 0, flagged / np.where(counts > 0, counts, 1), np.nan)
            return (*skyplot.mean_index(means, counts, (0.0, 1.0)), "fire", None)
        counts = filtered.grid(*view)
        column, cmap, span, _ = self.mean_colouring(st)
        return (*skyplot.mean_index(filtered.grid(*view, how="mean", column=column), counts, span), cmap, None)

    def _counts(self, view, st) -> np.ndarray:
        """The filtered rows' count grid of ``view``; without filters, shared by the sessions of the process."""
        if not isinstance(st.filtered.selection, All):
            return st.filtered.grid(*view)
        cat = st.catalogue
        key = (str(cat.path.resolve()), str(cat.meta.get("ingested")), st.level, *view)

        def count():
            grid = st.filtered.grid(*view)
            grid.setflags(write=False)  # shared: a session must not change it
            return grid

        return _UNFILTERED_COUNTS.get(key, count, paths=[cat.path])

    def mean_colouring(self, st=None) -> tuple[str, str, tuple[float, float], str]:
        """(column, colour map, span, name with unit) of a colouring by a mean or a fraction."""
        st = self.state if st is None else st
        unit = "sources" if st.level == "sources" else "detections"
        return {
            "flux": (
                log_column(fields.column("flux", st.level, st.band)),
                "bgy",
                (-15.0, -11.0),
                f"mean {fields.label('flux', st.band)}",
            ),
            "hr2": (fields.column("hr2", st.level), "coolwarm", (-1.0, 1.0), f"mean {fields.label('hr2')}"),
            "hr3": (fields.column("hr3", st.level), "coolwarm", (-1.0, 1.0), f"mean {fields.label('hr3')}"),
            "variable": (
                fields.column("var_flag", st.level),
                "fire",
                (0.0, 0.2),
                f"fraction of {unit} flagged variable",
            ),
            "flagged": ("", "fire", (0.0, 1.0), f"fraction of {unit} flagged by reviewers"),
            "lx": ("LOG_LX", "bgy", (41.0, 46.0), "mean log L_X, 0.2–12 keV rest frame (erg/s)"),
        }[st.colour_by]

    def _image(self, x_range, y_range, width, height, **_):
        index, (xr_, yr_) = self._index(x_range, y_range, width, height)
        # One byte per pixel on the wire (a palette index), not four (RGBA) or eight (float counts).
        kind = self._kind
        assert kind is not None  # set by _index
        return skyplot.to_image_element(index, kind[0], xr_, yr_, cmap=kind[1], dark=self.dark)

    def _index(self, x_range, y_range, width, height) -> tuple[np.ndarray, tuple]:
        """The bottom-up palette-index image of the view to draw, and that view ((x0, x1), (y0, y1)).

        The image computed for this render by a redraw (:meth:`_show`), else computed now; when
        answers come later (a remote engine), an empty image while it is computed off the loop.
        Sets ``_kind``: the palette kind and colour map the index image is meant for.
        """
        view = self._view_ranges(x_range, y_range)
        key, work = self._request(view, width, height)
        ready, self._ready = self._ready, None
        if ready is not None and ready[0] == key:
            answer = ready[1]
        elif self.state.answers_later:
            self.state.answer("sky", work, partial(self._show, key))
            w, h = key[2:]
            answer = (*skyplot.count_index(np.zeros((h, w)), self.state.norm), None, None)
        else:
            answer = work()
        self._adopt(answer)
        return answer[0], view

    def _request(self, view: tuple[tuple, tuple], width, height) -> tuple[tuple, Callable[[], tuple]]:
        """(what the image of ``view`` depends on, work computing it from the state of now)."""
        st = self.state.snapshot()
        w, h = int(width or 900), int(height or 450)
        looks = (st.version, st.level, st.band, st.colour_by, st.norm, st.cmap, st.projection, st.frame)
        key = ((*looks, tuple(st.flag_labels), st.has_selection), view, w, h)
        return key, partial(self.colour_grids, *view, w, h, st)

    def _adopt(self, answer: tuple) -> None:
        """What an image shown means: its palette, and the legend's ticks."""
        _, kind, cmap, ticks = answer
        self._kind = (kind, cmap or self.state.cmap)
        if ticks is not None:
            self._count_ticks = ticks
        self._update_legend()

    def _view(self, **_):
        image = self._image(None, None, self.size.width, self.size.height)
        self._kind_drawn = self._kind
        return hv.Overlay([image])  # the graticule is drawn by the marks (SkyMarks), as Bokeh glyphs

    def _on_projection(self, *_):
        # The old view's coordinates mean nothing in the new projection: show the whole sky.
        full_x, full_y = skyplot.full_extent(self.state.projection)
        self._shown = None
        self.state.param.update(x_range=full_x, y_range=full_y)
        tools = [hover_tool(self.state.projection, self.state.frame)]
        self._rgb_opts = hv.opts.Image(
            **{**self._rgb_opts.kwargs, "tools": ["tap", "box_select", "lasso_select", *tools]}
        )
        self.pane.object = self._compose()

    # --- interaction ---------------------------------------------------------------------------
    def pixel_scale_deg(self) -> float:
        """Degrees of sky per screen pixel at the centre of the current view (the larger of x and y)."""
        view = self._shown if self._shown is not None else skyplot.full_extent(self.state.projection)
        return skyplot.sky_per_pixel(self.state.projection, view, self.size.width or 900)

    def _on_tap(self, x=None, y=None, **_):
        if x is None or y is None:
            return
        st = self.state
        lon, lat = projection.inverse(np.array([x]), np.array([y]), st.projection)
        if not np.isfinite(lon[0]):
            return
        tol = self.pixel_scale_deg() * TAP_PIXELS
        row: pd.Series | None | Literal[False] = False  # False: the catalogue failed to answer
        with st.answering():
            row = st.shown.nearest(st.frame, float(lon[0]), float(lat[0]), tol, fields.column("poserr", st.level))
        if row is False:
            return
        if row is None:
            if self.on_empty_tap is not None:
                self.on_empty_tap(float(lon[0]), float(lat[0]))
            else:
                st.message = "No source under the cursor; zoom in or tap closer to a dot."
            return
        st.message = ""
        st.srcid = int(row["SRCID"])

    def zoom_to_shown(self) -> None:
        """Move the view to where the shown rows are (after a query); say so when none are."""
        st = self.state
        shown, full = st.shown, skyplot.full_extent(st.projection)
        xc, yc = sky_column("x", st.projection, st.frame), sky_column("y", st.projection, st.frame)
        aspect = (self.size.width or 900) / max(self.size.height or 450, 1)
        asked_at = (st.x_range, st.y_range)

        def work():
            if shown.count() == 0:
                return None
            view = full
            for _ in range(2):  # the whole sky at ~0.5 deg a pixel, then that view again, finer
                found = skyplot.extent_of(shown.grid(xc, yc, *view, 720, 360), *view, aspect=aspect)
                view = found if found is not None else view
            return view

        def show(view):
            if (st.x_range, st.y_range) != asked_at:
                return  # the view moved meanwhile (a pan, a go-to): the newer move wins
            if view is None:
                st.message = "No row matches: the sky is empty."
            elif view != full:
                st.param.update(x_range=view[0], y_range=view[1])

        st.answer("zoom", work, show)

    def _on_box(self, bounds=None, **_):
        if not bounds:
            return
        st = self.state
        x0, y0, x1, y1 = bounds
        xc, yc = sky_column("x", st.projection, st.frame), sky_column("y", st.projection, st.frame)
        st.set_part("sky", Box(xc, yc, x0, x1, y0, y1), mode=self.mode)

    def _on_lasso(self, geometry=None, **_):
        if geometry is None or len(geometry) < 3:
            return
        st = self.state
        xc, yc = sky_column("x", st.projection, st.frame), sky_column("y", st.projection, st.frame)
        st.set_part("sky", Lasso(xc, yc, tuple(tuple(map(float, v)) for v in np.asarray(geometry))), mode=self.mode)

    def has_lx(self, st=None) -> bool:
        """Whether the catalogue holds LOG_LX (photometric redshifts attached) at the level of ``st``."""
        st = self.state if st is None else st
        return "LOG_LX" in st.catalogue.columns(st.level)

    def legend_html(self) -> str:
        """What the colours mean: a swatch per class, a colour bar with its name, unit and values, or
        the selection's colour."""
        st = self.state
        small = "<div class='xmm-sky-legend' style='font-size:0.85em'>"
        if st.colour_by == "lx" and not self.has_lx():
            from data_loaders import capabilities

            why = st.catalogue.capabilities.reason(capabilities.PHOTOZ) or "No LOG_LX column in this release."
            return f"{small}{inert(why)} The colour shows the number of sources.</div>"
        if st.has_selection:
            swatch = _swatch(skyplot.SELECTION_COLOUR)
            return f"{small}Grey: passes the filters · {swatch}<b>in your selection</b></div>"
        if st.colour_by in ("class", "citizen"):
            names = [*schema.CLASS_NAMES, "unclassified"]
            items = " ".join(
                f"<span style='white-space:nowrap;margin-right:12px'>{_swatch(colour)}"
                f"{inert(schema.CLASS_LABELS.get(name, name))}</span>"
                for name, colour in zip(names, skyplot.CLASS_COLOURS, strict=True)
            )
            return f"{small}<b>{inert(COLOUR_OPTIONS[st.colour_by])}:</b> {items}</div>"
        if st.colour_by == "count" or (st.colour_by == "lx" and not self.has_lx()):
            unit = "sources" if st.level == "sources" else "detections"
            title, cmap = f"{unit} per pixel", st.cmap
            ticks = [(t, f"{v:,.0f}") for t, v in getattr(self, "_count_ticks", [])]
        else:
            _, cmap, span, title = self.mean_colouring()
            ticks = [(t, f"{v:g}") for t, v in sky_marks.ramp_ticks(np.zeros(0), "linear", span=span)]
        return small + colour_bar_html(title, sky_marks.ramp_colours(cmap, dark=self.dark), ticks) + "</div>"

    def _update_legend(self, *_):
        self.legend.object = self.legend_html()

    def __panel__(self):
        return pn.Column(self.pane, self.legend, sizing_mode="stretch_width")
