"""Linked views of Explore: the HR diagram and the flux distribution, each a selection source."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import panel as pn
import param

from app import fields
from app.plots import linked as plots
from app.selection import Box, Lasso, Range
from app.state import LOG_FLUX_BOUNDS, ExploreState
from app.text import inert
from app.views import inplace
from data_loaders import capabilities
from data_loaders.catalogue import log_column


class _InPlace(pn.viewable.Viewer):
    """A linked view whose plot is redrawn in place when only the filters or selection change.

    The look (palette, styles) depends on whether there is a selection; while that stays, a new
    ``version`` of the state replaces the plot's data. Anything else bumps ``redraw``, which
    HoloViews answers with a full re-render.
    """

    redraw = param.Integer(default=0)

    def __init__(self, state: ExploreState, **params):
        super().__init__(**params)
        self.state = state
        self._drawn = None  # the HoloViews plot, once rendered
        self._look_drawn = None  # the look it was drawn with
        state.param.watch(self._on_version, ["version"])

    def _look(self):
        return not self.state.has_selection

    def _capture(self, plot, element) -> None:
        self._drawn = plot

    def _replace(self) -> bool:
        raise NotImplementedError

    def _on_version(self, *_):
        with self.state.answering():
            if self._drawn is None or self._look() != self._look_drawn or not self._replace():
                self.redraw += 1


class HRView(_InPlace):
    """Hardness-ratio diagram (axes selectable); box or lasso selects on the two HR columns."""

    def __init__(self, state: ExploreState, **params):
        super().__init__(state, **params)
        stream = hv.streams.Params(state, ["hr_x", "hr_y", "level"])
        self.dmap = hv.DynamicMap(self._plot, streams=[stream, hv.streams.Params(self, ["redraw"])])
        self.box = hv.streams.BoundsXY(source=self.dmap, transient=True)
        self.box.add_subscriber(self._on_box)
        self.lasso = hv.streams.Lasso(source=self.dmap)
        self.lasso.add_subscriber(self._on_lasso)
        self.plot = self.dmap.opts(
            hv.opts.Image(
                responsive=True,
                min_height=320,
                tools=["box_select", "lasso_select"],
                active_tools=["lasso_select"],
                default_tools=["reset"],
                framewise=True,
                show_grid=True,
                hooks=[inplace.weak_hook(self._capture)],
            )
        )
        self.x_select = pn.widgets.Select.from_param(state.param.hr_x, label="x axis", width=90)
        self.y_select = pn.widgets.Select.from_param(state.param.hr_y, label="y axis", width=90)
        caps = getattr(state.catalogue, "capabilities", None)
        missing = caps.first_reason(capabilities.BAND_FIT, capabilities.SOURCE_BAND_FIT) if caps else ""
        # On a release without the five-band fit, Γ is not among the axes; one line says why.
        self.missing_fit = pn.pane.Markdown(
            f"{inert(missing)} <code>{inert(f'xmm-explorer bandfit --release {state.catalogue.name}')}</code> adds it."
            if missing
            else "",
            visible=bool(missing),
            styles={"color": "#666", "font-size": "0.85em"},
            margin=(0, 5),
        )
        self.pane = pn.pane.HoloViews(self.plot, sizing_mode="stretch_width", height=340)
        self.absent = pn.pane.Markdown("", visible=False, sizing_mode="stretch_width")
        state.param.watch(self._show_absent, ["level"])
        self._show_absent()

    def _show_absent(self, *_):
        """A release without the level's hardness ratios (data_loaders.capabilities): the reason, no plot."""
        need = capabilities.HARDNESS if self.state.level == "detections" else capabilities.SOURCE_HARDNESS
        reason = self.state.catalogue.capabilities.reason(need)
        self.absent.object, self.absent.visible = reason, bool(reason)
        self.pane.visible = self.x_select.visible = self.y_select.visible = not reason

    def _cols(self):
        st = self.state
        return fields.column(st.hr_x, st.level), fields.column(st.hr_y, st.level)

    def _plot(self, **_):
        self._look_drawn = self._look()
        return self._element()

    def _replace(self) -> bool:
        # The image's array only: building the HoloViews element costs more than computing it.
        index, _ = plots.hr_index(*self._grids())
        return inplace.replace_index(self._drawn, index, *self._ranges())

    def _ranges(self):
        return fields.axis_range(self.state.hr_x), fields.axis_range(self.state.hr_y)

    def _grids(self):
        """(filtered counts, selected counts or None): what the diagram is drawn from."""
        st = self.state
        view = (*self._cols(), *self._ranges(), 400, 400)
        if view[0] == view[1] or not all(c in st.catalogue.columns(st.level) for c in view[:2]):
            # Absent columns (the reason is shown), or one axis left for both (a release whose only
            # diagram column is Γ): nothing to draw.
            return np.zeros((400, 400), np.uint32), None
        return st.filtered.grid(*view), st.shown.grid(*view) if st.has_selection else None

    def _element(self):
        st = self.state
        return plots.hr_diagram(*self._grids(), fields.label(st.hr_x), fields.label(st.hr_y), *self._ranges())

    def _on_box(self, bounds=None, **_):
        if bounds:
            xc, yc = self._cols()
            self.state.set_part("hr", Box(xc, yc, bounds[0], bounds[2], bounds[1], bounds[3]))

    def _on_lasso(self, geometry=None, **_):
        if geometry is not None and len(geometry) >= 3:
            xc, yc = self._cols()
            self.state.set_part("hr", Lasso(xc, yc, [tuple(map(float, v)) for v in np.asarray(geometry)]))

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("**Hardness ratios**", margin=(8, 5)), self.x_select, self.y_select),
            self.absent,
            self.pane,
            self.missing_fit,
            sizing_mode="stretch_width",
        )


class FluxView(_InPlace):
    """Distribution of log flux in the chosen band; a horizontal box selects a flux range."""

    def __init__(self, state: ExploreState, **params):
        super().__init__(state, **params)
        stream = hv.streams.Params(state, ["band", "level"])
        self.dmap = hv.DynamicMap(self._plot, streams=[stream, hv.streams.Params(self, ["redraw"])])
        self.box = hv.streams.BoundsX(source=self.dmap, transient=True)
        self.box.add_subscriber(self._on_box)
        self.plot = self.dmap.opts(
            hv.opts.Histogram(
                responsive=True,
                min_height=320,
                tools=["xbox_select"],
                active_tools=["xbox_select"],
                default_tools=["reset"],
                framewise=True,
                logy=False,
            ),
            hv.opts.Overlay(hooks=[inplace.weak_hook(self._capture)]),
        )
        self.band_select = pn.widgets.Select.from_param(state.param.band, label="band", width=80)

    def _column(self) -> str:
        return fields.column("flux", self.state.level, self.state.band)

    def _counts(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows per flux bin: the filtered ones, and the selected ones (None without a selection)."""
        st = self.state
        edges, column = plots.flux_edges(lo=LOG_FLUX_BOUNDS[0], hi=LOG_FLUX_BOUNDS[1]), log_column(self._column())
        counts = st.filtered.histogram(column, edges)
        return counts, st.shown.histogram(column, edges) if st.has_selection else None

    def _plot(self, **_):
        self._look_drawn = self._look()
        return self._element()

    def _replace(self) -> bool:
        # The bar heights only: building the HoloViews elements costs more than counting them.
        counts, scounts = self._counts()
        return inplace.replace_bars(self._drawn, [counts, np.zeros_like(counts) if scounts is None else scounts])

    def _element(self):
        st = self.state
        return plots.flux_histogram(
            *self._counts(), fields.label("flux", st.band), lo=LOG_FLUX_BOUNDS[0], hi=LOG_FLUX_BOUNDS[1]
        )

    def _on_box(self, boundsx=None, **_):
        if boundsx:
            lo, hi = sorted(boundsx)
            self.state.set_part("flux", Range(self._column(), 10.0**lo, 10.0**hi))

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("**Flux distribution**", margin=(8, 5)), self.band_select),
            pn.pane.HoloViews(self.plot, sizing_mode="stretch_width", height=340),
            sizing_mode="stretch_width",
        )
