"""Views of the Explore page on a Dask-backed catalogue: sky, filters, count, cone search, card, export.

Every answer comes from the cluster, which may take a second on a big catalogue, so no view
computes in a Panel callback: :class:`Runner` runs the blocking ``DaskExploreState.compute_*``
calls on a thread, keeps only the newest request of each kind (a zoom that arrives while the
previous one is drawn replaces any zoom still waiting), shows what is running next to the count,
and applies the result in a Bokeh next-tick callback (the document lock held). Errors become one
sentence on the page (:func:`app.dask_backend.describe_error`); the traceback goes to the log.
Without a server session (tests, scripts) the same calls run synchronously.

The sky is a plain Bokeh figure: a pan or zoom arrives as Bokeh's ``RangesUpdate`` event and
is answered by replacing the image's data in place (as :mod:`app.views.sky` does), one byte
per pixel through a 255-colour palette (:mod:`app.plots.sky`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.document import without_document_lock
from bokeh.events import RangesUpdate, Tap
from bokeh.models import (
    ColumnDataSource,
    LinearColorMapper,
    NumberFormatter,
    Range1d,
    ScientificFormatter,
    WheelZoomTool,
)
from bokeh.plotting import figure

from app import fields
from app.dask_backend import cluster_summary, describe_error, raised_in_dask
from app.dask_state import (
    DEFAULT_CONE_RADIUS_DEG,
    HR_BOUNDS,
    LOG_FLUX_BOUNDS,
    PRESETS,
    ConeResult,
    Counts,
    DaskExploreState,
    SkyImage,
)
from app.plots import sky as skyplot
from app.search import Position, SearchError, parse_target
from app.text import inert
from app.views import inplace
from app.views.sky import hover_tool
from app.views.source_card import fmt as _fmt
from app.views.source_card import source_card_html
from data_loaders import projection, schema
from data_loaders.errors import XmmExplorerError

log = logging.getLogger("xmm_explorer.dask_explore")


def _timeout() -> float:
    """Seconds to wait for the cluster before telling the user it does not answer."""
    try:
        return max(float(os.environ.get("XMM_EXPLORER_DASK_TIMEOUT", "120")), 1.0)
    except ValueError:
        return 120.0


TIMEOUT_S = _timeout()
TAP_PIXELS = 6
EXPORT_FORMATS = {"CSV": "csv", "FITS": "fits", "Parquet": "parquet"}
_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dask-explore")
_EXPORT_DIR: Path | None = None
_EXPORT_DIR_LOCK = threading.Lock()


def _export_dir() -> Path:
    """A private directory of this server process for prepared downloads."""
    global _EXPORT_DIR
    with _EXPORT_DIR_LOCK:
        if _EXPORT_DIR is None or not _EXPORT_DIR.exists():
            _EXPORT_DIR = Path(tempfile.mkdtemp(prefix="xmm-dask-export-"))
        return _EXPORT_DIR


class Runner:
    """Runs blocking Dask work off the event loop; the newest request of each kind wins.

    ``submit(kind, work, apply, label)``: ``work()`` runs on a thread, then ``apply(result)`` runs
    with the document lock. A request made while one of the same kind runs waits, replacing any
    request of that kind already waiting; a result already superseded is not applied.
    ``on_error(sentence)`` and ``on_status(labels of running work)`` report to the page.
    """

    def __init__(self, doc=None, on_error: Callable[[str], None] | None = None, address: str | None = None):
        self.doc = doc if doc is not None and getattr(doc, "session_context", None) is not None else None
        self.on_error = on_error or (lambda text: None)
        self.on_status: Callable[[list[str]], None] = lambda labels: None
        self.address = address
        self._pending: dict[str, tuple] = {}
        self._running: dict[str, str] = {}
        self.errors: list[str] = []

    @property
    def synchronous(self) -> bool:
        return self.doc is None

    def submit(
        self, kind: str, work: Callable, apply: Callable, label: str, failed: Callable[[], None] | None = None
    ) -> None:
        """Run ``work()`` off the event loop, then ``apply(result)``; on an error, report it and call ``failed()``."""
        if self.synchronous:
            try:
                result = work()
            except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence on the page
                self._fail(exc, failed)
                return
            apply(result)
            return
        self._pending[kind] = (work, apply, label, failed)
        if kind not in self._running:
            self._running[kind] = label
            self._report_status()

            @without_document_lock
            async def drain():
                await self._drain(kind)

            self.doc.add_next_tick_callback(drain)

    async def _drain(self, kind: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while kind in self._pending:
                work, apply, label, failed = self._pending.pop(kind)
                self._running[kind] = label
                try:
                    result = await asyncio.wait_for(loop.run_in_executor(_EXECUTOR, work), TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001 - reported on the page
                    self._later(partial(self._fail, exc, failed))
                    continue
                if kind not in self._pending:  # else a newer request supersedes this result
                    self._later(partial(self._apply, apply, result))
        finally:
            self._running.pop(kind, None)
            self._later(self._report_status)

    def on_document(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` where it may change Bokeh models: now without a server, else on the next
        tick with the document lock (Panel runs widget callbacks without it)."""
        if self.synchronous:
            callback()
        else:
            self._later(partial(self._apply, lambda _: callback(), None))

    def _later(self, callback) -> None:
        try:
            self.doc.add_next_tick_callback(callback)
        except Exception:  # noqa: BLE001 - the session was closed meanwhile
            log.debug("session gone; dropped a callback", exc_info=True)

    def _apply(self, apply, result) -> None:
        try:
            apply(result)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _fail(self, exc: BaseException, failed: Callable[[], None] | None = None) -> None:
        if raised_in_dask(exc) or not isinstance(exc, XmmExplorerError | ValueError):
            log.warning("Dask computation failed", exc_info=exc)  # ours are one sentence already
        text = describe_error(exc, self.address)
        self.errors.append(text)
        self.on_error(text)
        if failed is not None:
            failed()

    def _report_status(self) -> None:
        self.on_status(list(self._running.values()))

    def run_status(self) -> list[str]:
        return list(self._running.values())


# --- the sky ------------------------------------------------------------------------------------
def _fit(view, width: int, height: int, contain: bool = True):
    """Ranges around the view's centre with the pixels' aspect (equal degrees per pixel on x and y).

    ``contain``: grow the short side (the whole view stays visible); else keep the x span.
    """
    (x0, x1), (y0, y1) = view
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sx, sy = abs(x1 - x0), abs(y1 - y0)
    if width <= 0 or height <= 0 or sx <= 0 or sy <= 0:
        return view
    scale = max(sx / width, sy / height) if contain else sx / width
    hx, hy = scale * width / 2, scale * height / 2
    return (cx - hx, cx + hx), (cy - hy, cy + hy)


def cone_outline(ra: float, dec: float, radius_deg: float, frame: str, proj: str, n: int = 181):
    """Projected (x, y) lists of the cone's edge, broken (NaN) where it wraps around the sky's edge."""
    th = np.radians(np.linspace(0.0, 360.0, n))
    d, phi1, lam1 = np.radians(radius_deg), np.radians(dec), np.radians(ra)
    phi2 = np.arcsin(np.sin(phi1) * np.cos(d) + np.cos(phi1) * np.sin(d) * np.cos(th))
    lam2 = lam1 + np.arctan2(np.sin(th) * np.sin(d) * np.cos(phi1), np.cos(d) - np.sin(phi1) * np.sin(phi2))
    lon, lat = np.degrees(lam2) % 360.0, np.degrees(phi2)
    if frame == "galactic":
        import astropy.units as u
        from astropy.coordinates import SkyCoord

        gal = SkyCoord(lon * u.deg, lat * u.deg, frame="icrs").galactic
        lon, lat = gal.l.deg, gal.b.deg
    x, y = projection.forward(lon, lat, proj)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    jump = np.flatnonzero(np.abs(np.diff(x)) > 90) + 1
    x, y = np.insert(x, jump, np.nan), np.insert(y, jump, np.nan)
    return x.tolist(), y.tolist()


def _reported(fig, name: str) -> int:
    """A size the browser reports (``inner_width``...), or 0 before it has."""
    try:
        value = getattr(fig, name)
    except Exception:  # noqa: BLE001 - bokeh's UnsetValueError until the browser reports it
        return 0
    return int(value) if isinstance(value, int | float) else 0


class DaskSkyView(pn.viewable.Viewer):
    """The filtered sky, aggregated by datashader on the cluster; tap picks the nearest source."""

    picked = param.Parameter(default=None, doc="The row of the last tapped source (pandas Series)")
    n_points = param.Integer(default=0, doc="Points in the image last drawn")

    def __init__(self, state: DaskExploreState, runner: Runner, height: int = 520, **params):
        super().__init__(**params)
        self.state, self.runner = state, runner
        full = skyplot.full_extent(state.projection)
        self._shown = (tuple(state.x_range), tuple(state.y_range)) if state.x_range and state.y_range else full
        self._fitted = False
        fig = figure(
            sizing_mode="stretch_width",
            height=height,
            x_range=Range1d(*self._shown[0]),
            y_range=Range1d(*self._shown[1]),
            tools="pan,reset",
            toolbar_location="above",
            x_axis_type=None,
            y_axis_type=None,
            output_backend="canvas",  # WebGL paints cost ~150 ms each in GPU-less browsers
            min_border=0,
        )
        wheel = WheelZoomTool(zoom_on_axis=False)
        fig.add_tools(wheel)
        fig.toolbar.active_scroll = wheel
        fig.grid.visible = False
        fig.outline_line_color = None
        fig.lod_timeout, fig.lod_interval = 30, 30  # report the view as soon as a wheel gesture ends
        self.source = ColumnDataSource(
            data={"image": [np.zeros((2, 2), np.uint8)], "x": [full[0][0]], "y": [full[1][0]], "dw": [1.0], "dh": [1.0]}
        )
        self.mapper = LinearColorMapper(
            palette=list(skyplot.palette("ramp", state.cmap)),
            low=0.5,
            high=skyplot.N_LEVELS + 0.5,
            low_color=(0, 0, 0, 0),
        )
        self.image = fig.image(
            image="image", x="x", y="y", dw="dw", dh="dh", source=self.source, color_mapper=self.mapper
        )
        colour = "#8c8ca0"
        self.grid_source = ColumnDataSource(data={"xs": [], "ys": []})
        self.edge_source = ColumnDataSource(data={"x": [], "y": []})
        self.label_source = ColumnDataSource(data={"x": [], "y": [], "text": []})
        fig.multi_line(
            xs="xs", ys="ys", source=self.grid_source, line_color=colour, line_alpha=0.35, line_width=0.8,
            line_dash="dotted",
        )  # fmt: skip
        fig.line(x="x", y="y", source=self.edge_source, line_color=colour, line_alpha=0.8, line_width=1.2)
        self.cone_source = ColumnDataSource(data={"x": [], "y": []})
        fig.line(x="x", y="y", source=self.cone_source, line_color="#f59e0b", line_width=1.5, line_dash="dashed")
        fig.text(
            x="x", y="y", text="text", source=self.label_source, text_color=colour, text_font_size="9pt",
            text_alpha=0.9, text_align="center", text_baseline="middle",
        )  # fmt: skip
        self.hover = hover_tool(state.projection, state.frame)
        self.hover.renderers = [self.image]
        fig.add_tools(self.hover)
        fig.on_event(RangesUpdate, self._on_ranges_update)
        fig.on_event(Tap, self._on_tap)
        fig.on_change("inner_width", self._on_resize)
        fig.on_change("inner_height", self._on_resize)
        self.fig = fig
        self.last_image: SkyImage | None = None
        self._draw_graticule()
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width", min_height=height)
        # The spinner goes on a wrapper: Panel fails to set ``loading`` on a Bokeh pane itself.
        self.holder = pn.Column(self.pane, sizing_mode="stretch_width", min_height=height, margin=0)
        state.param.watch(self._on_rows, ["version", "norm", "cmap"])
        state.param.watch(self._on_projection, ["projection", "frame"])
        state.param.watch(self._on_view_request, ["x_range", "y_range"])

    # --- drawing -----------------------------------------------------------------------------
    def size(self) -> tuple[int, int]:
        """The plot frame's size in screen pixels (a guess until the browser reports it)."""
        w, h = _reported(self.fig, "inner_width"), _reported(self.fig, "inner_height")
        return (w, h) if w > 10 and h > 10 else (900, 450)

    def render(self) -> None:
        """Aggregate the current view on the cluster and replace the image in place."""
        q = self.state.query()
        (xr_, yr_), (w, h) = self._shown, self.size()
        work = partial(self.state.compute_sky, q, xr_, yr_, w, h)
        if self.last_image is None and not self.runner.synchronous:
            self.holder.loading = True  # the first image of a big catalogue can take a few seconds
        self.runner.submit("sky", work, self._apply_image, "drawing the sky", failed=self._not_loading)

    def _not_loading(self) -> None:
        self.holder.loading = False

    def _apply_image(self, img: SkyImage) -> None:
        (x0, x1), (y0, y1) = img.x_range, img.y_range
        palette = list(skyplot.palette(img.kind, img.cmap))
        if list(self.mapper.palette) != palette:
            self.mapper.palette = palette
        self.source.data = {"image": [img.index], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}
        self.n_points = img.n_points
        self.last_image = img
        self._draw_cone(img)
        self.holder.loading = False

    def _draw_cone(self, img: SkyImage) -> None:
        cone = self.state.cone
        if cone is None or img.kind != "highlight":
            self.cone_source.data = {"x": [], "y": []}
            return
        x, y = cone_outline(*cone, self.state.frame, self.state.projection)
        self.cone_source.data = {"x": x, "y": y}

    def _draw_graticule(self) -> None:
        self.runner.on_document(partial(self._set_graticule, self.state.projection, self.state.frame))

    def _set_graticule(self, proj: str, frame: str) -> None:
        lines, labels = projection.graticule(proj)
        self.grid_source.data = {"xs": [list(x) for x, _ in lines], "ys": [list(y) for _, y in lines]}
        ox, oy = projection.outline(proj)
        self.edge_source.data = {"x": list(ox), "y": list(oy)}
        lon_lab = [(x, y - 4.0, skyplot.format_lon(v, frame)) for x, y, v, k in labels if k == "lon"]
        lat_lab = [(x - 3.0, y, f"{v:+.0f}°") for x, y, v, k in labels if k == "lat"]
        xs, ys, texts = zip(*(lon_lab + lat_lab), strict=True) if labels else ((), (), ())
        self.label_source.data = {"x": list(xs), "y": list(ys), "text": list(texts)}
        code = hover_tool(proj, frame).formatters["$x"].code
        self.hover.formatters["$x"].code = code

    def show_view(self, view) -> None:
        """Move the figure to ``view`` (fitted to the frame's aspect) and draw it."""
        view = _fit(view, *self.size())
        self._shown = shown = (tuple(map(float, view[0])), tuple(map(float, view[1])))

        def move() -> None:
            self.fig.x_range.update(start=shown[0][0], end=shown[0][1])
            self.fig.y_range.update(start=shown[1][0], end=shown[1][1])

        self.runner.on_document(move)
        self.render()

    # --- events ----------------------------------------------------------------------------------
    def _on_rows(self, *_):
        self.render()

    def _on_projection(self, *_):
        self._draw_graticule()
        full = skyplot.full_extent(self.state.projection)
        self.state.param.update(x_range=None, y_range=None)
        self.show_view(full)

    def _on_view_request(self, *_):
        st = self.state
        if st.x_range is None or st.y_range is None:
            return
        view = (tuple(st.x_range), tuple(st.y_range))
        if not np.allclose(view, self._shown, rtol=0, atol=1e-5):
            self.show_view(view)

    def _on_resize(self, attr, old, new) -> None:
        w, h = _reported(self.fig, "inner_width"), _reported(self.fig, "inner_height")
        if not (w > 10 and h > 10):
            return
        # First report of the frame's size: show the whole view asked for with square pixels;
        # later resizes keep the x span and recompute the y span.
        self.show_view(_fit(self._shown, w, h, contain=not self._fitted))
        self._fitted = True

    def _on_ranges_update(self, event) -> None:
        view = inplace.view_of(event)
        if view is None or np.allclose(view, self._shown, rtol=0, atol=1e-9):
            return
        self._shown = view
        self.render()
        self.state.param.update(
            x_range=tuple(round(v, 6) for v in view[0]), y_range=tuple(round(v, 6) for v in view[1])
        )

    def pixel_scale_deg(self) -> float:
        return abs(self._shown[0][1] - self._shown[0][0]) / max(self.size()[0], 1)

    def tap(self, x: float, y: float) -> None:
        """Pick the source nearest the tapped point (within a few screen pixels) that passes the filters."""
        lon, lat = projection.inverse(np.array([x]), np.array([y]), self.state.projection)
        if not np.isfinite(lon[0]):
            return
        tol = max(self.pixel_scale_deg() * TAP_PIXELS, 2.0 / 3600)
        q = self.state.query()
        work = partial(self.state.compute_nearest, q, float(lon[0]), float(lat[0]), tol)
        self.runner.submit("tap", work, self._apply_pick, "finding the nearest source")

    def _apply_pick(self, row) -> None:
        if row is None:
            self.state.message = "No source under the cursor; zoom in or tap closer to a dot."
            return
        self.state.message = ""
        self.picked = row

    def _on_tap(self, event) -> None:
        if event.x is not None and event.y is not None:
            self.tap(float(event.x), float(event.y))

    def __panel__(self):
        legend = pn.pane.HTML(
            "<div style='font-size:0.85em'><b>Colour:</b> number of sources per pixel (brighter = more) · "
            "a cone search draws its rows in colour over the grey sky</div>",
            sizing_mode="stretch_width",
            margin=(0, 12),
        )
        return pn.Column(self.holder, legend, sizing_mode="stretch_width")


# --- the count, status and errors -----------------------------------------------------------------
class DaskCountView(pn.viewable.Viewer):
    """Always-visible count of the rows passing the filters (and in the cone), with a busy spinner."""

    def __init__(self, state: DaskExploreState, runner: Runner, **params):
        super().__init__(**params)
        self.state, self.runner = state, runner
        self.counts: Counts | None = None
        self.count = pn.pane.HTML(
            "<span class='xmm-empty'>Counting on the cluster…</span>",
            css_classes=["xmm-count"],
            sizing_mode="stretch_width",
        )
        self.spinner = pn.indicators.LoadingSpinner(value=False, size=18, margin=(6, 4), visible=False)
        self.status = pn.pane.HTML("", sizing_mode="stretch_width", margin=(4, 4), styles={"opacity": "0.75"})
        self.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        runner.on_status = self._on_status
        state.param.watch(self._on_rows, ["version"])
        state.param.watch(self._on_message, ["message"])

    def refresh(self) -> None:
        q = self.state.query()
        self.runner.submit("count", partial(self.state.compute_count, q), self._apply, "counting")

    def _on_rows(self, *_):
        self.refresh()

    def _apply(self, counts: Counts) -> None:
        self.counts = counts
        unit = "sources" if self.state.level == "sources" else "detections"
        cone = f" · <b>{counts.in_cone:,}</b> in the cone" if counts.in_cone is not None else ""
        self.count.object = f"<b>{counts.filtered:,}</b> of {counts.total:,} {unit} pass the filters{cone}"

    def _on_status(self, labels: list[str]) -> None:
        busy = bool(labels)
        self.spinner.param.update(value=busy, visible=busy)
        self.status.object = f"<small>Dask: {inert(', '.join(labels))}…</small>" if busy else ""

    def _on_message(self, *_):
        self.message.object = inert(self.state.message)
        self.message.visible = bool(self.state.message)

    def __panel__(self):
        return pn.Column(
            pn.Row(self.count, self.spinner, sizing_mode="stretch_width"),
            self.status,
            self.message,
            sizing_mode="stretch_width",
        )


# --- filters ------------------------------------------------------------------------------------
def _throttled(widget, state: DaskExploreState, name: str, convert=lambda v: v):
    """Link a slider to a state parameter on release (one cluster query per drag, not per pixel)."""
    widget.param.watch(lambda e: setattr(state, name, convert(e.new)), "value_throttled")
    state.param.watch(lambda e: widget.param.update(value=e.new), name)
    return widget


class DaskFilterPanel(pn.viewable.Viewer):
    """Level, frame, projection, scale and the filters; each compiles to an ``app.selection`` term."""

    def __init__(self, state: DaskExploreState, **params):
        super().__init__(**params)
        self.state = state
        sp = state.param
        presets = []
        for name in PRESETS:
            b = pn.widgets.Button(label=name, color="light", margin=(2, 3))
            b.on_click(lambda e, n=name: state.apply_preset(n))
            presets.append(b)
        reset = pn.widgets.Button(label="reset filters", color="default", margin=(2, 3))
        reset.on_click(lambda e: state.reset_filters())
        flux = pn.widgets.RangeSlider(
            label=fields.label("flux", 8), start=LOG_FLUX_BOUNDS[0], end=LOG_FLUX_BOUNDS[1], value=state.log_flux,
            step=0.1, sizing_mode="stretch_width",
        )  # fmt: skip
        hr = [
            pn.widgets.RangeSlider(
                label=fields.label(n),
                start=HR_BOUNDS[0],
                end=HR_BOUNDS[1],
                value=getattr(state, n),
                step=0.05,
                sizing_mode="stretch_width",
            )  # fmt: skip
            for n in ("hr2", "hr3")
        ]
        det_ml = pn.widgets.FloatSlider(
            label="Detection likelihood ≥",
            start=0,
            end=100,
            step=1,
            value=state.det_ml_min,
            sizing_mode="stretch_width",
        )
        self.sliders = {
            "log_flux": _throttled(flux, state, "log_flux", tuple),
            "hr2": _throttled(hr[0], state, "hr2", tuple),
            "hr3": _throttled(hr[1], state, "hr3", tuple),
            "det_ml_min": _throttled(det_ml, state, "det_ml_min", float),
        }
        self.widgets = pn.Column(
            pn.widgets.RadioButtonGroup.from_param(sp.level, color="primary", variant="outline"),
            pn.Row(
                pn.widgets.Select.from_param(sp.frame, label="Frame", width=95),
                pn.widgets.Select.from_param(sp.projection, label="Projection", width=110),
            ),
            pn.Row(
                pn.widgets.Select.from_param(sp.norm, label="Scale", width=95),
                pn.widgets.Select.from_param(sp.cmap, label="Colours", width=110),
            ),
            pn.pane.Markdown("**Presets**", margin=(10, 5, 0, 5)),
            pn.FlexBox(*presets, reset),
            pn.pane.Markdown("**Filters**", margin=(10, 5, 0, 5)),
            flux,
            *hr,
            det_ml,
            pn.widgets.RadioButtonGroup.from_param(sp.extent, color="default"),
            pn.widgets.Select.from_param(sp.quality, label="Quality (clean: SUM_FLAG < 3, good: = 0)"),
            sizing_mode="stretch_width",
        )

    def __panel__(self):
        return self.widgets


# --- cone search ----------------------------------------------------------------------------------
def cone_from_text(text: str) -> tuple[float, float, float]:
    """(RA, Dec, radius) in degrees from what a user types (app.search syntax; default radius 5′)."""
    target = parse_target(text)
    if not isinstance(target, Position):
        raise SearchError("The cone search takes a position or a field name with an optional radius, e.g. M31 r=10'.")
    return target.ra, target.dec, target.radius_deg or DEFAULT_CONE_RADIUS_DEG


#: Columns of the cone table: logical field, title, Bokeh formatter.
TABLE_SPEC = (
    ("name", "name", None),
    ("ra", "RA", NumberFormatter(format="0.00000")),
    ("dec", "Dec", NumberFormatter(format="+0.00000")),
    ("flux", "flux", ScientificFormatter(precision=2)),
    ("det_ml", "DET_ML", NumberFormatter(format="0.0")),
)


class ConeSearchView(pn.viewable.Viewer):
    """A position and radius → the rows in that cone (reading only its partitions), nearest first."""

    def __init__(self, state: DaskExploreState, runner: Runner, sky: DaskSkyView | None = None, **params):
        super().__init__(**params)
        self.state, self.runner, self.sky = state, runner, sky
        self.result: ConeResult | None = None
        self.text = pn.widgets.TextInput(
            label="Cone search (position or field, radius)", placeholder="M31 r=10'   ·   266.4 -29.0 r=1deg",
            sizing_mode="stretch_width",
        )  # fmt: skip
        self.text.param.watch(lambda e: self.search(), "enter_pressed")
        go = pn.widgets.Button(label="Search", color="primary", margin=(4, 5))
        go.on_click(lambda e: self.search())
        clear = pn.widgets.Button(label="Clear cone", color="default", margin=(4, 5))
        clear.on_click(lambda e: self.clear())
        self.buttons = pn.Row(go, clear)
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 5))
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(),
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            height=260,
            visible=False,
            selectable=1,
            layout="fit_columns",
        )
        self.table.on_click(self._on_row_click)
        state.param.watch(self._on_rows, ["version"])

    def search(self, text: str | None = None) -> None:
        text = (text if text is not None else (self.text.value_input or self.text.value or "")).strip()
        if not text:
            self.clear()
            return
        try:
            ra, dec, r = cone_from_text(text)
            self.state.set_cone(ra, dec, r)
        except (SearchError, ValueError) as exc:
            self.state.message = str(exc)
            return
        self.state.message = ""
        if self.sky is not None:
            from app.views.goto import zoom_window

            lon, lat = ra, dec
            if self.state.frame == "galactic":
                gal = Position(ra, dec).skycoord.galactic
                lon, lat = float(gal.l.deg), float(gal.b.deg)
            xr_, yr_ = zoom_window(self.state.projection, lon, lat, max(r, 0.05) * 1.5)
            self.state.param.update(x_range=xr_, y_range=yr_)

    def clear(self) -> None:
        self.state.clear_cone()
        self.result = None
        self.summary.object = ""
        self.table.visible = False

    def _on_rows(self, *_):
        if self.state.cone is None:
            self.result = None
            self.summary.object = ""
            self.table.visible = False
            return
        q = self.state.query()
        self.runner.submit("cone", partial(self.state.compute_cone, q), self._apply, "searching the cone")

    def _apply(self, res: ConeResult) -> None:
        self.result = res
        unit = "sources" if self.state.level == "sources" else "detections"
        radius = f"{res.radius_deg * 60:.3g}′" if res.radius_deg < 1 else f"{res.radius_deg:.3g}°"
        self.summary.object = (
            f"<div style='font-size:0.9em'><b>{len(res.rows):,}</b> {unit} passing the filters within {radius} of "
            f"{res.ra:.4f}°, {res.dec:+.4f}° · read {res.row_groups_read:,} of {res.row_groups_total:,} row groups"
            + (f" · nearest {min(len(res.rows), 20):d} below" if len(res.rows) else "")
            + "</div>"
        )
        level, rows = self.state.level, res.rows
        cols, titles, formatters = [], {}, {}
        for field, title, fmt in TABLE_SPEC:
            col = fields.column(field, level)
            if col in rows.columns:
                cols.append(col)
                titles[col] = title
                if fmt is not None:
                    formatters[col] = fmt
        if level == "detections" and "DETID" in rows.columns:
            cols.insert(1, "DETID")
        shown = rows.head(20)[[*cols, "SEPARATION"]].reset_index(drop=True)
        if "DETID" in shown:  # an identifier, not a quantity: no thousands separators
            shown["DETID"] = shown["DETID"].astype(str)
        self.table.titles = titles | {"SEPARATION": "sep (″)"}
        self.table.widths = {cols[0]: 185} if cols else {}  # IAU names are 21 characters
        self.table.formatters = formatters | {"SEPARATION": NumberFormatter(format="0.0")}
        self.table.value = shown
        self.table.visible = len(shown) > 0

    def _on_row_click(self, event) -> None:
        if self.result is None or self.sky is None or event.row is None or event.row >= len(self.result.rows):
            return
        self.sky.picked = self.result.rows.iloc[int(event.row)]

    def controls(self) -> pn.Column:
        """The search box and its buttons (the page puts them in the sidebar)."""
        return pn.Column(self.text, self.buttons, sizing_mode="stretch_width")

    def results(self) -> pn.Column:
        """What the cone holds: a summary line and the nearest rows."""
        return pn.Column(
            pn.pane.Markdown("**Cone search**", margin=(8, 5)), self.summary, self.table, sizing_mode="stretch_width"
        )

    def __panel__(self):
        return pn.Column(self.controls(), self.results(), sizing_mode="stretch_width")


# --- the tapped source ----------------------------------------------------------------------------
def detection_card_html(row, release: str) -> str:
    """Key values of one detection row (every value escaped)."""
    srcid = int(row["SRCID"])
    flag = row.get("SUM_FLAG")
    flag = int(flag) if flag is not None and np.isfinite(flag) else None
    items = [
        ("DETID · SRCID", f"{int(row['DETID'])} · {srcid}"),
        ("OBS_ID", str(row.get("OBS_ID", "—"))),
        (
            "RA, Dec",
            f"{_fmt(row['RA'], '{:.5f}')}°, {_fmt(row['DEC'], '{:+.5f}')}° ± {_fmt(row.get('POSERR'), '{:.2f}')}″",
        ),
        ("Flux 0.2–12 keV", f"{_fmt(row.get('EP_8_FLUX'))} erg/cm²/s"),
        ("HR1…HR4", ", ".join(_fmt(row.get(f"EP_HR{i}"), "{:+.2f}") for i in range(1, 5))),
        ("Detection likelihood", _fmt(row.get("EP_8_DET_ML"), "{:.1f}")),
        ("Extent", f"{_fmt(row.get('EP_EXTENT'), '{:.1f}')}″"),
        ("Quality", f"SUM_FLAG {flag} ({schema.SUM_FLAG_MEANING.get(flag, '?')})" if flag is not None else "—"),
        ("Start (MJD)", _fmt(row.get("MJD_START"), "{:.3f}")),
    ]
    rows = "".join(f"<tr><th>{inert(k)}</th><td>{inert(v)}</td></tr>" for k, v in items)
    name = inert(str(row.get("IAUNAME", "")))
    link = f"source?release={inert(release)}&srcid={srcid}"
    return (
        f"<div class='xmm-card'><h3 style='margin:2px 0 6px 0'>{name}</h3><table class='xmm-kv'>{rows}</table>"
        f"<a class='xmm-open' href='{link}' target='_blank'>Open the full source page →</a></div>"
    )


class DaskSourceCard(pn.viewable.Viewer):
    """Key values of the source (or detection) last tapped on the sky or clicked in the cone table."""

    def __init__(self, state: DaskExploreState, sky: DaskSkyView, **params):
        super().__init__(**params)
        self.state = state
        self.pane = pn.pane.HTML(
            "<div class='xmm-empty'>Tap a source on the sky (zoom in first) or search a cone.</div>",
            sizing_mode="stretch_width",
            min_height=120,
        )
        sky.param.watch(self._show, ["picked"])

    def _show(self, event) -> None:
        row = event.new
        if row is None:
            return
        if "DETID" in row.index:
            self.pane.object = detection_card_html(row, self.state.catalogue.name)
        else:
            self.pane.object = source_card_html(row, self.state.catalogue.name)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("**Source**", margin=(8, 5)), self.pane, sizing_mode="stretch_width")


# --- export -------------------------------------------------------------------------------------
class DaskExportPanel(pn.viewable.Viewer):
    """Write the rows counted (filters, and the cone if any) to a file, streamed from the cluster."""

    def __init__(self, state: DaskExploreState, runner: Runner, count: DaskCountView, **params):
        super().__init__(**params)
        self.state, self.runner, self.count = state, runner, count
        self.format = pn.widgets.Select(label="Format", options=EXPORT_FORMATS, value="fits", width=120)
        self.button = pn.widgets.Button(label="Write the selection to a file", color="primary", margin=(24, 5, 5, 5))
        self.button.on_click(lambda e: self.prepare())
        self.progress = pn.indicators.Progress(value=0, max=1, visible=False, sizing_mode="stretch_width", height=14)
        self.info = pn.pane.HTML("", sizing_mode="stretch_width")
        self.download = pn.widgets.FileDownload(
            label="Download", filename="selection.fits", visible=False, color="success", embed=False
        )
        self.path: Path | None = None
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(lambda ctx: self._remove_file())

    def _remove_file(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def prepare(self) -> Path | None:
        """Start writing the file (in the background on a server); the download appears when done."""
        from app.export_service import current_user, limit_sentence, row_limit

        fmt = self.format.value
        limit = row_limit(current_user())
        counts = self.count.counts
        n = None if counts is None else counts.in_cone if self.state.cone is not None else counts.filtered
        if limit is not None and n is not None and n > limit:
            self.state.message = limit_sentence(limit, n)
            return None
        q = self.state.query()
        cat = self.state.catalogue
        fd, name = tempfile.mkstemp(prefix=f"{cat.name}-{q.level}-", suffix="." + fmt, dir=_export_dir())
        os.close(fd)
        target = Path(name)
        self.progress.param.update(value=0, max=1, visible=True)
        self.download.visible = False
        self.info.object = "<small>Writing… (streamed from the cluster one partition at a time)</small>"

        def progress(done: int, total: int) -> None:
            if self.runner.synchronous:
                return
            self.runner._later(lambda: self.progress.param.update(max=max(total, 1), value=min(done, total)))

        def work() -> int:
            try:
                return self.state.export_to(target, fmt, q, max_rows=limit, progress=progress)
            except BaseException:
                target.unlink(missing_ok=True)
                raise

        def done(rows: int) -> None:
            self._remove_file()
            self.path = target
            filename = f"{cat.name}-{q.level}-{rows}.{fmt}"
            size = target.stat().st_size
            self.progress.visible = False
            self.info.object = f"<small>{rows:,} rows · {size / 1e6:.1f} MB · {inert(fmt.upper())}</small>"
            self.download.file = str(target)  # sets the file name from the path: name it afterwards
            self.download.param.update(filename=filename, label=f"Download {filename}", visible=True)

        self.runner.submit("export", work, done, "writing the export")
        return target

    def __panel__(self):
        return pn.Column(
            pn.Row(self.format, self.button),
            self.progress,
            self.info,
            self.download,
            sizing_mode="stretch_width",
        )


# --- the banner -----------------------------------------------------------------------------------
def banner_html(summary: dict, catalogue) -> str:
    """Which cluster computes this page (scheduler, workers, threads, memory) and how big the release is."""
    where = "a local Dask cluster" if summary.get("local") else "the Dask cluster"
    mem = f" · {summary['memory'] / 1e9:.1f} GB" if summary.get("memory") else ""
    parts = catalogue.npartitions
    return (
        f"<div class='xmm-dask-banner'><b>Dask backend</b> — this page runs on {where}: scheduler "
        f"<code>{inert(str(summary.get('address')))}</code> · {inert(summary.get('workers', 0))} worker"
        f"{'s' if summary.get('workers') != 1 else ''} · {inert(summary.get('threads', 0))} thread"
        f"{'s' if summary.get('threads') != 1 else ''}{mem}. "
        f"{catalogue.n_rows('detections'):,} detections in {parts:,} partition{'s' if parts != 1 else ''}; "
        "sky, counts, cone searches and exports are computed on the cluster.</div>"
    )


def cluster_banner(client, catalogue) -> pn.pane.Alert:
    try:
        summary = cluster_summary(client)
    except Exception as exc:  # noqa: BLE001 - the banner must not take the page down
        return pn.pane.Alert(inert(describe_error(exc)), alert_type="danger", sizing_mode="stretch_width")
    return pn.pane.Alert(banner_html(summary, catalogue), alert_type="info", sizing_mode="stretch_width")


def remove_export_dir() -> None:
    """Delete this process's prepared downloads (tests, shutdown)."""
    global _EXPORT_DIR
    with _EXPORT_DIR_LOCK:
        if _EXPORT_DIR is not None:
            shutil.rmtree(_EXPORT_DIR, ignore_errors=True)
            _EXPORT_DIR = None
