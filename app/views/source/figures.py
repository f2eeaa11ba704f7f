"""Bokeh figures of the Source view, built once per view and then updated in place.

Giving a pane a new HoloViews object makes HoloViews and Panel build a whole new Bokeh figure
(axes, tools, legend, renderers) and send it to the browser: hundreds of milliseconds per tap
for the six figures of a source. These figures keep their models: showing another source only
replaces the data of their ``ColumnDataSource``s and the start/end of their ranges.

Each class has ``figure`` (the Bokeh model for ``pn.pane.Bokeh``) and ``update(...)``; the data
come from the pure functions in ``app.plots`` and the looks follow the HoloViews plots there.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
from bokeh.core.properties import field
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    FixedTicker,
    HoverTool,
    NoOverlap,
    PrintfTickFormatter,
    Range1d,
    TapTool,
)

# From their subpackages: the stubs of bokeh.models do not re-export these (mypy cannot follow a
# star import whose __all__ is computed).
from bokeh.models.annotations import Legend, LegendItem, Span, Title
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure as bokeh_figure
from panel.io import hold

from app.plots.classification import HIGHLIGHT, OTHER
from app.plots.classify import FONTS
from app.plots.lightcurve import (
    ARROW_FACTOR,
    CAMERA_STYLE,
    MISSION_STYLE,
    UPPER_LIMIT_COLOUR,
    _date_range,
    log_ticks,
    mjd_to_datetime,
)
from app.plots.spectrum import ENERGY_RANGE, ENERGY_TICKS
from data_loaders import schema

if TYPE_CHECKING:
    from bokeh.core.enums import TooltipFieldFormatterType
    from bokeh.models.tools import CustomJSHover

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
#: Cameras drawn, in this order; each has its own layers, hidden when it has no product.
CAMERAS = tuple(CAMERA_STYLE)
#: Fraction of the (log) data span added on each side of an axis.
PADDING = 0.05
#: Padding (fraction of the span) of axes whose markers are large: a marker at the edge stays whole.
MARKER_PADDING = 0.12
#: Colours of the citizen-consensus bars per origin (as ``app.plots.classify.class_bars``).
ORIGIN_COLOURS = {"machine": "#60a5fa", "citizens": "#f59e0b"}
#: Missions of the long-term lightcurve with layers of their own; "other" takes any further mission.
MISSIONS = (*MISSION_STYLE, "other")
_UNSET = object()


def held(method):
    """Run ``method`` (a callback changing Bokeh models in place) inside Panel's ``hold``: the changes
    go to the browser as one message, and they may be made where Bokeh's document lock is not held
    (Panel runs some widget events in a coroutine), which outside ``hold`` raises in a served session.
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with hold():
            return method(*args, **kwargs)

    return wrapper


def show(pane, visible: bool) -> None:
    """Show or hide the figure of a ``pn.pane.Bokeh``: the figure *is* the pane's model, so its own
    ``visible`` hides it in the browser. Not ``pane.visible``: Panel 1.9's Bokeh pane then copies every
    layout property of the figure back into the pane, which fails once a design has added its style
    sheets (Bokeh models, not strings) to the figure, and a pane shown again reads back a hidden figure.
    """
    if pane.object is not None and pane.object.visible != visible:
        pane.object.visible = visible


def lean_renderers(fig, keep=()) -> None:
    """Let BokehJS derive the non-selected glyph of the renderers of ``fig`` nobody can select.

    Bokeh's plotting API gives every renderer a non-selected glyph model of its own (one of its ~six
    models); only the renderers in ``keep`` are selectable (a tap), the others' is never drawn.
    (Muted glyphs stay: BokehJS's "auto" one would dim only the fill, not the lines.)
    """
    for renderer in fig.renderers:
        if isinstance(renderer, GlyphRenderer) and renderer not in keep and renderer.nonselection_glyph != "auto":
            renderer.nonselection_glyph = "auto"


def _figure(height: int, width: int | None = None, toolbar: bool = True, tools: str = TOOLS, **kwargs):
    """A figure with explicit ranges (set by ``update``, so a zoom never sticks to the previous source).

    ``tools=""``: no pan, zoom, reset or save (a chart with nothing to zoom into, e.g. probabilities).
    """
    kwargs.setdefault("x_range", Range1d(start=0, end=1))
    kwargs.setdefault("y_range", Range1d(start=0, end=1))
    fig = bokeh_figure(
        height=height,
        width=width or 600,
        sizing_mode="fixed" if width else "stretch_width",
        tools=tools,
        active_drag="pan" if "pan" in tools else None,
        active_scroll="wheel_zoom" if "wheel_zoom" in tools else None,
        toolbar_location="right" if toolbar and tools else None,
        **kwargs,
    )
    fig.toolbar.logo = None
    assert isinstance(fig.title, Title)  # a figure's title is always a Title model (a str is converted)
    fig.title.text = ""
    return fig


def set_log_ticks(axis, lo: float, hi: float) -> None:
    """Decade ticks (with 2x and 5x over a narrow range) on a log axis showing ``lo``..``hi``.

    Bokeh's log ticker labels every mantissa inside a decade (7.0e-11, 6.0e-11, ...) and the
    labels collide on a short axis.
    """
    ticks = log_ticks(np.array([lo, hi], dtype=float))
    if isinstance(ticks, list) and list(axis.ticker.ticks if isinstance(axis.ticker, FixedTicker) else []) != ticks:
        axis.ticker = FixedTicker(ticks=ticks)


def _flux_label(band: int) -> str:
    """The long-term lightcurve's y label, short enough for the axis height ("Flux 0.2–12 keV (erg/cm²/s)")."""
    lo, hi = schema.BANDS[band]
    return f"Flux {lo:g}–{hi:g} keV (erg/cm²/s)"


def set_range(rng: Range1d, lo, hi) -> None:
    """Show ``lo``..``hi``, also after a reset (a no-op when both are unchanged)."""
    lo, hi = float(lo), float(hi)
    if (rng.start, rng.end, rng.reset_start, rng.reset_end) != (lo, hi, lo, hi):
        rng.update(start=lo, end=hi, reset_start=lo, reset_end=hi)


def linear_extent(lo, hi, pad: float = PADDING) -> tuple[float, float] | None:
    """Finite min of ``lo`` .. max of ``hi``, padded; None without finite values."""
    lo, hi = np.asarray(lo, float).ravel(), np.asarray(hi, float).ravel()
    lo, hi = lo[np.isfinite(lo)], hi[np.isfinite(hi)]
    if lo.size == 0 or hi.size == 0:
        return None
    a, b = float(lo.min()), float(hi.max())
    span = b - a if b > a else max(abs(a), 1.0)
    return a - pad * span, b + pad * span


def log_extent(lo, hi, pad: float = PADDING) -> tuple[float, float] | None:
    """Like ``linear_extent`` on a log axis: only positive values, padded by a fraction of the decades."""
    lo, hi = np.asarray(lo, float).ravel(), np.asarray(hi, float).ravel()
    lo, hi = lo[np.isfinite(lo) & (lo > 0)], hi[np.isfinite(hi) & (hi > 0)]
    if lo.size == 0 or hi.size == 0:
        return None
    a, b = math.log10(float(lo.min())), math.log10(float(hi.max()))
    span = b - a if b > a else 1.0
    return 10 ** (a - pad * span), 10 ** (b + pad * span)


def set_data(source: ColumnDataSource, data: dict) -> None:
    """Replace the data of ``source``; empty columns go as plain lists, not as zero-length binary
    buffers attached to the message (one header frame and one empty frame each, for nothing)."""
    source.data = {k: v if len(v) else [] for k, v in data.items()}


def _data(frame: pd.DataFrame, columns) -> dict:
    return {c: frame[c].to_numpy() for c in columns}


def _empty(columns) -> dict:
    return {c: [] for c in columns}


class LongtermFigure:
    """Flux vs date on a log axis: XMM detections (tappable, ``xmm``), the selected observation's
    ring, upper limits as a bar with a downward arrow, other missions with their own markers and
    colours, highlighted epochs as dashed lines.

    Limits and other missions have one source and fixed renderers per mission (``limits``,
    ``others``; unknown missions share ``"other"``), shown in the legend only when they have points.
    A mission's layers are built the first time a source has points of it: most sources have one or
    two of the eleven (XMM limits, five missions' limits and detections), and each layer is a dozen
    Bokeh models every visitor's page would build, send and render for nothing.
    One renderer with per-row colours and a legend grouped by a label column would be fewer models,
    but BokehJS draws such a legend from the previous data while new data arrive and fails.
    """

    XMM_COLUMNS = ("date", "flux", "flux_err", "lower", "upper", "obs_id", "sum_flag", "mission")
    LIMIT_COLUMNS = ("date", "flux", "tip", "obs_id", "mission")

    def __init__(self, height: int = 320):
        fig = self.figure = _figure(
            height, x_axis_type="datetime", y_axis_type="log", y_range=Range1d(start=1e-15, end=1e-11)
        )
        fig.xaxis.axis_label = "Date (UTC)"
        fig.yaxis.axis_label = _flux_label(8)
        fig.yaxis.formatter = PrintfTickFormatter(format="%.1e")
        # Less than a decade shown gives ticks at 6, 7, 8, 9, 10e-15...: their labels would run together.
        fig.yaxis.major_label_policy = NoOverlap(min_distance=4)
        self.xmm = ColumnDataSource(_empty(self.XMM_COLUMNS))
        self.selected = ColumnDataSource(_empty(("date", "flux")))
        #: Sources of the mission layers built so far (see ``_layer``).
        self.limits: dict[str, ColumnDataSource] = {}
        self.others: dict[str, ColumnDataSource] = {}
        self.epochs = ColumnDataSource(_empty(("date",)))
        self.obs_ids: list[str] = []
        self._ringed: object = _UNSET
        marker, colour = MISSION_STYLE["XMM"]
        xmm_bars = fig.segment("date", "lower", "date", "upper", source=self.xmm, color=colour, line_width=1.5)
        self.xmm_renderer = fig.scatter(
            "date",
            "flux",
            source=self.xmm,
            marker=marker,
            size=9,
            fill_color=colour,
            line_color="white",
            nonselection_alpha=0.35,
            selection_color=colour,
            muted_alpha=0.2,
        )
        ring = fig.scatter(
            "date", "flux", source=self.selected, size=17, fill_alpha=0, line_color="#ef4444", line_width=2.5
        )
        self.ring_item = LegendItem(label="selected observation", renderers=[ring], visible=False)
        self.items: dict[tuple[str, str], LegendItem] = {}
        fig.vspan("date", source=self.epochs, line_color="#ef4444", line_dash="dashed", line_width=1.5)
        self.legend = Legend(
            items=[LegendItem(label="XMM-Newton", renderers=[self.xmm_renderer, xmm_bars]), self.ring_item],
            location=(0, 0),
            click_policy="mute",
        )
        fig.add_layout(self.legend, "right")
        when = [("OBS_ID", "@obs_id"), ("date", "@date{%F}")]
        datetime: dict[str, TooltipFieldFormatterType | CustomJSHover] = {"@date": "datetime"}
        self.hovers = {
            "limit": HoverTool(
                renderers=[],
                tooltips=[*when, ("mission", "@mission"), ("3σ upper limit", "@flux{0.00e}")],
                formatters=datetime,
            ),
            "detection": HoverTool(
                renderers=[],
                tooltips=[*when, ("mission", "@mission (converted)"), ("flux", "@flux{0.00e} ± @flux_err{0.0e}")],
                formatters=datetime,
            ),
        }
        fig.add_tools(
            HoverTool(
                renderers=[self.xmm_renderer],
                tooltips=[*when, ("flux", "@flux{0.00e} ± @flux_err{0.0e}"), ("SUM_FLAG", "@sum_flag")],
                formatters=datetime,
            ),
            *self.hovers.values(),
            TapTool(renderers=[self.xmm_renderer]),
        )
        lean_renderers(fig, keep=[self.xmm_renderer])

    def _layer(self, kind: str, mission: str) -> ColumnDataSource:
        """The source of ``mission``'s upper limits (``kind`` "limit") or detections ("detection"),
        its renderers, hover and legend entry built on first use, the entry in its fixed legend place."""
        layers = self.limits if kind == "limit" else self.others
        if mission in layers:
            return layers[mission]
        fig = self.figure
        if kind == "limit":
            src = layers[mission] = ColumnDataSource(_empty(self.LIMIT_COLUMNS))
            colour = UPPER_LIMIT_COLOUR if mission == "XMM" else _mission_style(mission)[1]
            fig.segment("date", "flux", "date", "tip", source=src, color=colour, line_width=1.5)
            fig.scatter("date", "flux", source=src, marker="dash", size=12, color=colour, line_width=2)
            shown = fig.scatter(
                "date", "tip", source=src, marker="inverted_triangle", size=9, color=colour, muted_alpha=0.2
            )
            label = (
                "XMM upper limit" if mission == "XMM" else f"{_mission_name(mission)} upper limit (→ XMM 0.2–12 keV)"
            )
            legend_renderers = [shown]
        else:
            src = layers[mission] = ColumnDataSource(_empty(self.XMM_COLUMNS))
            marker, colour = _mission_style(mission)
            bars = fig.segment("date", "lower", "date", "upper", source=src, color=colour)
            shown = fig.scatter("date", "flux", source=src, marker=marker, size=8, color=colour, muted_alpha=0.2)
            label = f"{_mission_name(mission)} (→ XMM 0.2–12 keV)"
            legend_renderers = [shown, bars]
        lean_renderers(fig, keep=[self.xmm_renderer])
        hover = self.hovers[kind]
        hover.renderers = [*hover.renderers, shown]
        self.items[kind, mission] = LegendItem(label=label, renderers=legend_renderers, visible=False)
        order = [("limit", m) for m in MISSIONS] + [("detection", m) for m in MISSIONS]
        # XMM-Newton, selected observation. Bokeh turns (label, renderers) tuples given to ``items``
        # into LegendItems: what it returns is LegendItems only (its stub gives the setter's types).
        fixed = cast("list[LegendItem]", self.legend.items)[:2]
        self.legend.items = fixed + [self.items[k] for k in order if k in self.items]
        return src

    def update(self, points: pd.DataFrame, band: int = 8, highlight_epochs=None, selected_obs: str | None = None):
        """Show ``points`` (a ``longterm_points`` frame); returns the OBS_IDs of the tappable detections."""
        mission = points["mission"].astype(str).to_numpy()
        group = np.where(np.isin(mission, MISSIONS), mission, "other")
        limit = points["upper_limit"].to_numpy(bool)
        xmm = points[(mission == "XMM") & ~limit]
        set_data(self.xmm, _data(xmm, self.XMM_COLUMNS))
        self.xmm.selected.indices = []
        self.obs_ids = xmm["obs_id"].astype(str).tolist()
        self._ringed = _UNSET
        for name in MISSIONS:
            rows = points[limit & (group == name)]
            if len(rows) or name in self.limits:
                data = {
                    **_data(rows, ("date", "flux", "obs_id", "mission")),
                    "tip": rows["flux"].to_numpy(float) * ARROW_FACTOR,
                }
                self._fill(self._layer("limit", name), data, self.items["limit", name])
            if name == "XMM":
                continue
            rows = points[~limit & (group == name)]
            if len(rows) or name in self.others:
                self._fill(self._layer("detection", name), _data(rows, self.XMM_COLUMNS), self.items["detection", name])
        epochs = [float(m) for m in highlight_epochs or []]
        set_data(self.epochs, {"date": mjd_to_datetime(epochs) if epochs else []})
        fig = self.figure
        fig.yaxis.axis_label = _flux_label(band)
        dates = _date_range(points["mjd"].to_numpy(float), epochs)
        if dates is not None:
            set_range(fig.x_range, *(d.astype("datetime64[ms]").astype("int64") for d in dates))
        flux = points["flux"].to_numpy(float)
        low = np.where(limit, flux * ARROW_FACTOR, points["lower"].to_numpy(float))
        # Every marker inside, with room for its radius (points without an error bar count too).
        extent = log_extent(np.r_[low, flux], np.r_[points["upper"].to_numpy(float), flux], pad=MARKER_PADDING)
        if extent is not None:
            set_range(fig.y_range, *extent)
            set_log_ticks(fig.yaxis[0], *extent)
        self.select(selected_obs)
        return self.obs_ids

    @staticmethod
    def _fill(source: ColumnDataSource, data: dict, item: LegendItem) -> None:
        """New rows of one mission's layers (no message when it had and has none); legend entry if any."""
        shown = len(next(iter(data.values()))) > 0
        if shown or len(next(iter(source.data.values()))):
            set_data(source, data)
        if item.visible != shown:
            item.visible = shown

    def select(self, obs_id: str | None) -> None:
        """Ring the detection of ``obs_id`` (none for None or an observation not drawn)."""
        if obs_id == self._ringed:
            return
        self._ringed = obs_id
        data = self.xmm.data
        chosen = [i for i, o in enumerate(self.obs_ids) if obs_id and o == obs_id]
        set_data(
            self.selected,
            {
                "date": np.asarray(data["date"])[chosen] if chosen else [],
                "flux": np.asarray(data["flux"], float)[chosen] if chosen else [],
            },
        )
        self.ring_item.visible = bool(chosen)


def _mission_style(mission: str) -> tuple[str, str]:
    """Marker and colour of a mission (``"other"``: any mission without a style of its own)."""
    return MISSION_STYLE.get(mission, ("circle_x", "#cbd5e1"))


def _mission_name(mission: str) -> str:
    return "other missions" if mission == "other" else mission


def camera_legend(items: list[LegendItem], ncols: int) -> Legend:
    """A compact legend laid out in rows of ``ncols`` entries, for a place beside the plot area."""
    return Legend(
        items=items,
        orientation="horizontal",
        ncols=ncols,
        click_policy="mute",
        label_text_font_size="11px",
        label_height=14,
        glyph_height=14,
        glyph_width=18,
        spacing=10,
        padding=2,  # type: ignore[arg-type]  # Bokeh's stub types Padding as a Property, not its value
        margin=2,
        border_line_alpha=0,
        background_fill_alpha=0,
    )


def energy_axis(fig) -> None:
    """Energy ticks at 0.2, 0.5, 1, 2, 5, 10 keV; labels that would overlap a neighbour (a narrow
    plot) are left out instead of running together."""
    fig.xaxis.axis_label = "Energy (keV)"
    fig.xaxis.ticker = FixedTicker(ticks=list(ENERGY_TICKS))
    fig.xaxis.major_label_policy = NoOverlap(min_distance=6)


class _CameraFigure:
    """Shared parts of the per-camera figures: one source per camera, its layers hidden without data."""

    #: Camera -> its renderers (set by the subclass), hidden with its legend entries without data.
    renderers: dict[str, list[GlyphRenderer]]

    def _camera_legend(self, fig, items: list[tuple[str, str, list]]) -> None:
        """The legend above the plot, where it covers no data: a row of cameras over a row of their
        backgrounds (dashed), an entry shown only while its camera has data; a click mutes it."""
        self.items: dict[str, list[LegendItem]] = {}
        legend_items = []
        for camera, label, renderers in sorted(items, key=lambda item: "background" in item[1]):
            item = LegendItem(label=label, renderers=renderers, visible=False)
            self.items.setdefault(camera, []).append(item)
            legend_items.append(item)
        fig.add_layout(camera_legend(legend_items, ncols=len(CAMERAS)), "above")

    def _show_camera(self, camera: str, shown: bool) -> None:
        for renderer in self.renderers[camera]:
            if renderer.visible != shown:
                renderer.visible = shown
        for item in self.items[camera]:
            if item.visible != shown:
                item.visible = shown


class LightcurveFigure(_CameraFigure):
    """Rate (count/s) vs seconds since the earliest camera start, per camera: steps with ±1σ bars
    and the scaled background (dashed). Gaps are NaN, so lines break there instead of dropping to 0.
    """

    #: Only what the glyphs draw: these columns go to the browser on every change.
    COLUMNS = ("t", "rate", "lower", "upper", "background")

    def __init__(self, height: int = 340):
        fig = self.figure = _figure(height)
        fig.xaxis.axis_label = "Time since start (s)"
        fig.yaxis.axis_label = "Rate (count/s)"
        self.sources = {c: ColumnDataSource(_empty(self.COLUMNS)) for c in CAMERAS}
        self.renderers = {}
        items = []
        for camera in CAMERAS:
            name, colour = CAMERA_STYLE[camera]
            src = self.sources[camera]
            rate = fig.step("t", "rate", source=src, mode="center", color=colour, line_width=1.5, muted_alpha=0.2)
            bars = fig.segment("t", "lower", "t", "upper", source=src, color=colour, alpha=0.6, muted_alpha=0.1)
            bkg = fig.step(
                "t",
                "background",
                source=src,
                mode="center",
                color=colour,
                line_dash="dashed",
                alpha=0.6,
                muted_alpha=0.1,
            )
            self.renderers[camera] = [rate, bars, bkg]
            items += [(camera, name, [rate, bars]), (camera, f"{name} background", [bkg])]
        self._camera_legend(fig, items)
        lean_renderers(fig)

    def update(self, curves: dict) -> None:
        """Show ``curves`` (camera -> ``Lightcurve``, already rebinned); other cameras are hidden."""
        curves = {c: lc for c, lc in curves.items() if c in self.sources}
        t0 = min(float(lc.time[0]) for lc in curves.values()) if curves else 0.0
        lows, highs, times = [], [], []
        for camera, src in self.sources.items():
            lc = curves.get(camera)
            if lc is None:
                if len(src.data["t"]):
                    set_data(src, _empty(self.COLUMNS))
                self._show_camera(camera, False)
                continue
            t = np.asarray(lc.time, float) - t0
            rate, error = np.asarray(lc.rate, float), np.asarray(lc.error, float)
            background = np.asarray(lc.background, float)
            set_data(
                src,
                {"t": t, "rate": rate, "lower": rate - error, "upper": rate + error, "background": background},
            )
            self._show_camera(camera, True)
            lows += [rate - error, background]
            highs += [rate + error, background]
            times.append(t)
        t = np.concatenate(times or [np.array([])])
        x = linear_extent(t, t, pad=0.0)
        if x is not None and x[1] > x[0]:
            set_range(self.figure.x_range, *x)
        y = linear_extent(np.concatenate(lows or [[]]), np.concatenate(highs or [[]]))
        if y is not None:
            set_range(self.figure.y_range, *y)


class SpectrumFigure(_CameraFigure):
    """Net spectrum per camera (points with 1σ errors) and its scaled background (dashed), log-log."""

    COLUMNS = ("energy", "value", "error", "lower", "upper")

    def __init__(self, height: int = 340):
        fig = self.figure = _figure(
            height,
            x_axis_type="log",
            y_axis_type="log",
            x_range=Range1d(start=ENERGY_RANGE[0], end=ENERGY_RANGE[1]),
            y_range=Range1d(start=1e-3, end=1),
        )
        set_range(fig.x_range, *ENERGY_RANGE)
        energy_axis(fig)
        self.ylabel(False)
        self.sources = {c: ColumnDataSource(_empty(self.COLUMNS)) for c in CAMERAS}
        self.backgrounds = {c: ColumnDataSource(_empty(("energy", "background"))) for c in CAMERAS}
        self.renderers = {}
        items, points = [], []
        for camera in CAMERAS:
            name, colour = CAMERA_STYLE[camera]
            src = self.sources[camera]
            bars = fig.segment("energy", "lower", "energy", "upper", source=src, color=colour, alpha=0.7)
            dots = fig.scatter("energy", "value", source=src, size=4, color=colour, muted_alpha=0.2)
            bkg = fig.step(
                "energy",
                "background",
                source=self.backgrounds[camera],
                mode="center",
                color=colour,
                line_dash="dashed",
                alpha=0.6,
                muted_alpha=0.1,
            )
            self.renderers[camera] = [bars, dots, bkg]
            items += [(camera, name, [dots, bars]), (camera, f"{name} background", [bkg])]
            points.append(dots)
        self._camera_legend(fig, items)
        lean_renderers(fig)
        fig.add_tools(
            HoverTool(
                renderers=points, tooltips=[("energy", "@energy{0.00} keV"), ("net", "@value{0.00e} ± @error{0.0e}")]
            )
        )

    def ylabel(self, effective_area: bool) -> None:
        unit = "photon/cm²/s/keV" if effective_area else "count/s/keV"
        self.figure.yaxis.axis_label = f"Net rate ({unit})"

    def update(self, frames: dict[str, pd.DataFrame], effective_area: bool = False) -> None:
        """Show ``spectrum_points`` frames per camera. Bins whose net value is not positive cannot sit on
        a log axis and are left out."""
        self.ylabel(effective_area)
        lows, highs = [], []
        for camera in CAMERAS:
            frame = frames.get(camera)
            if frame is None:
                if len(self.sources[camera].data["energy"]) or len(self.backgrounds[camera].data["energy"]):
                    set_data(self.sources[camera], _empty(self.COLUMNS))
                    set_data(self.backgrounds[camera], _empty(("energy", "background")))
                self._show_camera(camera, False)
                continue
            shown = frame[frame["value"] > 0]
            value, error = shown["value"].to_numpy(float), shown["error"].to_numpy(float)
            lower = value - np.minimum(error, 0.9 * value)
            set_data(
                self.sources[camera],
                {
                    "energy": shown["energy"].to_numpy(float),
                    "value": value,
                    "error": error,
                    "lower": lower,
                    "upper": value + error,
                },
            )
            bkg = frame[frame["background"] > 0]
            set_data(self.backgrounds[camera], _data(bkg, ("energy", "background")))
            self._show_camera(camera, True)
            lows += [lower, bkg["background"].to_numpy(float)]
            highs += [value + error, bkg["background"].to_numpy(float)]
        y = log_extent(np.concatenate(lows or [[]]), np.concatenate(highs or [[]]))
        if y is not None:
            set_range(self.figure.y_range, *y)


class SedFigure:
    """Step spectrum of F_E (erg/cm²/s/keV) over the five bands, log-log, with 1σ error bars.

    Bands with no positive flux are left out (a log axis cannot show them).
    """

    COLUMNS = ("band", "e_lo", "e_hi", "energy", "density", "lower", "upper", "flux", "flux_err")

    def __init__(self, height: int = 260):
        fig = self.figure = _figure(
            height, x_axis_type="log", y_axis_type="log", y_range=Range1d(start=1e-15, end=1e-12)
        )
        set_range(fig.x_range, 0.15, 15.0)
        energy_axis(fig)
        fig.yaxis.axis_label = "F_E (erg/cm²/s/keV)"
        fig.yaxis.formatter = PrintfTickFormatter(format="%.1e")
        self.source = ColumnDataSource(_empty(self.COLUMNS))
        colour = "#f59e0b"
        fig.segment("e_lo", "density", "e_hi", "density", source=self.source, color=colour, line_width=3)
        fig.segment("energy", "lower", "energy", "upper", source=self.source, color=colour)
        dots = fig.scatter("energy", "density", source=self.source, size=6, color=colour)
        fig.add_tools(
            HoverTool(
                renderers=[dots],
                tooltips=[
                    ("band", "@band"),
                    ("energy", "@energy{0.00} keV"),
                    ("F_E", "@density{0.00e}"),
                    ("flux", "@flux{0.00e} ± @flux_err{0.0e} erg/cm²/s"),
                ],
            )
        )
        # XMM-OM magnitudes of the matched UV/optical counterpart, as F_E at each filter's energy.
        self.om_source = ColumnDataSource(_empty(("filter", "energy", "density", "lower", "upper", "flag")))
        om_colour = "#a78bfa"
        fig.segment("energy", "lower", "energy", "upper", source=self.om_source, color=om_colour)
        om_dots = fig.scatter(
            "energy", "density", source=self.om_source, size=8, marker="diamond", color=om_colour, legend_label="OM"
        )
        fig.legend.location = "bottom_left"
        fig.legend.visible = False
        fig.add_tools(
            HoverTool(
                renderers=[om_dots],
                tooltips=[("OM filter", "@filter"), ("energy", "@energy{0.0000} keV"), ("F_E", "@density{0.00e}"),
                          ("quality flag", "@flag")],
            )
        )  # fmt: skip
        lean_renderers(fig)

    def update(self, sed: pd.DataFrame, om: pd.DataFrame | None = None) -> None:
        """Show a ``band_sed`` frame and, when given, an ``om_sed`` frame (OM filters) on the same axes."""
        shown = sed[sed["density"] > 0]
        density = shown["density"].to_numpy(float)
        err = np.nan_to_num(shown["density_err"].to_numpy(float))
        lower = density - np.minimum(err, 0.9 * density)
        set_data(
            self.source,
            {
                **_data(shown, ("band", "e_lo", "e_hi", "energy", "density", "flux", "flux_err")),
                "lower": lower,
                "upper": density + err,
            },
        )
        om = om[om["density"] > 0] if om is not None else None
        if om is not None and len(om) == 0:
            om = None  # no OM point to draw
        has_om = om is not None
        om_d = om["density"].to_numpy(float) if om is not None else np.array([])
        om_e = np.nan_to_num(om["density_err"].to_numpy(float)) if om is not None else np.array([])
        om_lower = om_d - np.minimum(om_e, 0.9 * om_d)
        set_data(
            self.om_source,
            {
                "filter": list(om["filter"]) if om is not None else [],
                "energy": om["energy"].to_numpy(float) if om is not None else [],
                "density": om_d,
                "lower": om_lower,
                "upper": om_d + om_e,
                "flag": om["flag"].to_numpy(int) if om is not None else [],
            },
        )
        self.figure.legend.visible = has_om
        set_range(self.figure.x_range, 1.5e-3 if has_om else 0.15, 15.0)
        y = log_extent(np.concatenate([lower, om_lower]), np.concatenate([density + err, om_d + om_e]))
        if y is not None:
            set_range(self.figure.y_range, *y)
            set_log_ticks(self.figure.yaxis[0], *y)


class HardnessFigure:
    """HR1..HR4 with 1σ errors on a fixed [-1, 1] axis (hard sources up, soft down)."""

    def __init__(self, width: int = 230, height: int = 260, n: int = 4):
        fig = self.figure = _figure(height, width=width, toolbar=False)
        set_range(fig.x_range, 0.5, n + 0.5)
        set_range(fig.y_range, -1.05, 1.05)
        fig.yaxis.axis_label = "Hardness ratio"
        fig.xaxis.ticker = FixedTicker(ticks=list(range(1, n + 1)))
        fig.xaxis.major_label_overrides = {i: f"HR{i}" for i in range(1, n + 1)}
        fig.add_layout(Span(location=0, dimension="width", line_color="#64748b", line_dash="dotted"))
        self.source = ColumnDataSource(_empty(("x", "hr", "value", "error", "lower", "upper")))
        colour = "#38bdf8"
        fig.segment("x", "lower", "x", "upper", source=self.source, color=colour)
        dots = fig.scatter("x", "value", source=self.source, size=9, color=colour)
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[("", "@hr"), ("value", "@value{0.00} ± @error{0.00}")]))
        lean_renderers(fig)

    def update(self, hr: pd.DataFrame) -> None:
        """Show a ``hardness_ratios`` frame (ratios without a value are not drawn)."""
        frame = hr.assign(x=np.arange(1, len(hr) + 1))
        shown = frame[np.isfinite(frame["value"].to_numpy(float))]
        value, error = shown["value"].to_numpy(float), np.nan_to_num(shown["error"].to_numpy(float))
        set_data(
            self.source,
            {
                "x": shown["x"].to_numpy(),
                "hr": shown["hr"].to_numpy(str),
                "value": value,
                "error": error,
                "lower": value - error,
                "upper": value + error,
            },
        )


class ClassificationFigure:
    """Horizontal bars of P(class) in PbaC order (first on top), the most probable highlighted; 0..1."""

    def __init__(self, height: int = 240):
        labels = [schema.CLASS_LABELS[n] for n in schema.CLASS_NAMES]
        # Probabilities on a fixed 0..1 axis: nothing to pan or zoom, only the hover (fewer models to
        # build and draw on every Source page, issue 18 item 8).
        fig = self.figure = _figure(height, tools="", y_range=FactorRange(factors=labels[::-1]))
        set_range(fig.x_range, 0.0, 1.0)
        fig.xaxis.axis_label = "Probability"
        self.source = ColumnDataSource(
            {
                "label": labels,
                "class": list(schema.CLASS_NAMES),
                "probability": np.zeros(len(labels)),
                "colour": [OTHER] * len(labels),
            }
        )
        bars = fig.hbar(y="label", right="probability", height=0.8, source=self.source, color=field("colour"))
        fig.add_tools(
            HoverTool(renderers=[bars], tooltips=[("class", "@label"), ("probability", "@probability{0.00}")])
        )
        fig.ygrid.grid_line_color = None
        lean_renderers(fig)

    def update(self, probs: pd.DataFrame) -> None:
        """Show a ``class_probabilities`` frame."""
        set_data(
            self.source,
            {
                "label": probs["label"].tolist(),
                "class": probs["class"].tolist(),
                "probability": probs["probability"].to_numpy(float),
                "colour": np.where(probs["best"].to_numpy(bool), HIGHLIGHT, OTHER).tolist(),
            },
        )


class ConsensusFigure:
    """Grouped bars of class probabilities per origin (machine, citizens), as ``class_bars``."""

    def __init__(self, height: int = 280, width: int = 520):
        fig = self.figure = _figure(height, width=width, toolbar=False, x_range=FactorRange(factors=[]))
        set_range(fig.y_range, 0.0, 1.0)
        fig.yaxis.axis_label = "probability"
        fig.xaxis.major_label_orientation = math.radians(30)
        fig.xaxis.major_label_text_font_size = f"{FONTS['xticks']}pt"
        fig.yaxis.major_label_text_font_size = f"{FONTS['yticks']}pt"
        fig.yaxis.axis_label_text_font_size = f"{FONTS['labels']}pt"
        fig.grid.grid_line_color = None
        self.source = ColumnDataSource(_empty(("x", "class", "origin", "probability", "colour")))
        fig.vbar(x="x", top="probability", width=0.8, source=self.source, color=field("colour"))
        lean_renderers(fig)

    def update(self, probabilities: dict) -> None:
        """``probabilities`` maps an origin ('machine', 'citizens') to PbaC0..6."""
        rows = [
            (schema.CLASS_LABELS[name], origin, float(p[i]))
            for i, name in enumerate(schema.CLASS_NAMES)
            for origin, p in probabilities.items()
        ]
        factors = [(c, o) for c, o, _ in rows]
        if list(self.figure.x_range.factors) != factors:
            self.figure.x_range.factors = factors
        set_data(
            self.source,
            {
                "x": factors,
                "class": [c for c, _, _ in rows],
                "origin": [o for _, o, _ in rows],
                "probability": [p for _, _, p in rows],
                "colour": [ORIGIN_COLOURS.get(o, "#a3a3a3") for _, o, _ in rows],
            },
        )
