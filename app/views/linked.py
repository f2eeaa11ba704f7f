"""Linked views of Explore: the HR diagram and the flux distribution, each a selection source."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

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

    Its data are computed by :meth:`ExploreState.answer` (off the event loop on a remote
    engine) from :meth:`_request`, and shown by :meth:`_show` on the loop; a HoloViews render
    draws the data computed for it, and on a remote engine draws empty data while they are
    computed rather than waiting on the loop.
    """

    redraw = param.Integer(default=0)
    key = "linked"  # the view's name for ExploreState.answer (newest request wins)

    def __init__(self, state: ExploreState, **params):
        super().__init__(**params)
        self.state = state
        self._drawn = None  # the HoloViews plot, once rendered
        self._look_drawn = None  # the look it was drawn with
        self._ready: tuple | None = None  # (request key, data) computed for the next render
        state.param.watch(self._on_version, ["version"])

    def _look(self):
        return not self.state.has_selection

    def _capture(self, plot, element) -> None:
        self._drawn = plot

    def _request(self) -> tuple[tuple, Callable[[], tuple]]:
        """(what the data depend on, work computing them from the state of now)."""
        raise NotImplementedError

    def _empty(self) -> tuple:
        """Data to draw while the real ones are computed (no rows)."""
        raise NotImplementedError

    def _put(self, data: tuple) -> bool:
        """Replace the drawn plot's data; False when that cannot do."""
        raise NotImplementedError

    def _on_version(self, *_):
        key, work = self._request()
        self.state.answer(self.key, work, partial(self._show, key))

    def _show(self, key: tuple, data: tuple) -> None:
        if self._drawn is not None and self._look() == self._look_drawn and self._put(data):
            return
        self._ready = (key, data)
        self.redraw += 1

    def _data(self) -> tuple:
        """The data for a HoloViews render: computed for it, computed now, or (remote engine) empty
        while they are computed off the event loop."""
        key, work = self._request()
        ready, self._ready = self._ready, None
        if ready is not None and ready[0] == key:
            return ready[1]
        if self.state.answers_later:
            self.state.answer(self.key, work, partial(self._show, key))
            return self._empty()
        return work()

    def _plot(self, **_):
        self._look_drawn = self._look()
        return self._element(self._data())

    def _element(self, data: tuple):
        raise NotImplementedError


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

    key = "hr"

    def _put(self, data: tuple) -> bool:
        # The image's array only: building the HoloViews element costs more than computing it.
        index, _ = plots.hr_index(*data)
        return inplace.replace_index(self._drawn, index, *self._ranges())

    def _ranges(self):
        return fields.axis_range(self.state.hr_x), fields.axis_range(self.state.hr_y)

    def _empty(self) -> tuple:
        return np.zeros((400, 400), np.uint32), None

    def _request(self) -> tuple[tuple, Callable[[], tuple]]:
        """(filtered counts, selected counts or None): what the diagram is drawn from."""
        st = self.state
        view = (*self._cols(), *self._ranges(), 400, 400)
        key = (st.version, st.level, view[:2], st.has_selection)
        if view[0] == view[1] or not all(c in st.catalogue.columns(st.level) for c in view[:2]):
            # Absent columns (the reason is shown), or one axis left for both (a release whose only
            # diagram column is Γ): nothing to draw.
            return key, self._empty
        filtered, shown, selecting = st.filtered, st.shown, st.has_selection
        return key, lambda: (filtered.grid(*view), shown.grid(*view) if selecting else None)

    def _element(self, data: tuple):
        st, (counts, selected) = self.state, data
        return plots.hr_diagram(counts, selected, fields.label(st.hr_x), fields.label(st.hr_y), *self._ranges())

    def _on_box(self, bounds=None, **_):
        if bounds:
            xc, yc = self._cols()
            self.state.set_part("hr", Box(xc, yc, bounds[0], bounds[2], bounds[1], bounds[3]))

    def _on_lasso(self, geometry=None, **_):
        if geometry is not None and len(geometry) >= 3:
            xc, yc = self._cols()
            self.state.set_part("hr", Lasso(xc, yc, tuple(tuple(map(float, v)) for v in np.asarray(geometry))))

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

    key = "flux"

    def _request(self) -> tuple[tuple, Callable[[], tuple]]:
        """Rows per flux bin: the filtered ones, and the selected ones (None without a selection)."""
        st = self.state
        edges, column = plots.flux_edges(lo=LOG_FLUX_BOUNDS[0], hi=LOG_FLUX_BOUNDS[1]), log_column(self._column())
        filtered, shown, selecting = st.filtered, st.shown, st.has_selection
        key = (st.version, st.level, column, selecting)
        return key, lambda: (filtered.histogram(column, edges), shown.histogram(column, edges) if selecting else None)

    def _empty(self) -> tuple:
        return np.zeros(plots.flux_edges(lo=LOG_FLUX_BOUNDS[0], hi=LOG_FLUX_BOUNDS[1]).size - 1, np.int64), None

    def _put(self, data: tuple) -> bool:
        # The bar heights only: building the HoloViews elements costs more than counting them.
        counts, scounts = data
        return inplace.replace_bars(self._drawn, [counts, np.zeros_like(counts) if scounts is None else scounts])

    def _element(self, data: tuple):
        counts, selected = data
        label = fields.label("flux", self.state.band)
        return plots.flux_histogram(counts, selected, label, lo=LOG_FLUX_BOUNDS[0], hi=LOG_FLUX_BOUNDS[1])

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
