"""Redraw a drawn HoloViews plot by replacing its data source's columns, not by re-rendering it.

A HoloViews update of a DynamicMap rebuilds the element, recomputes ranges and walks every
Bokeh model of the document (~30–70 ms per plot here); replacing the columns of the plot's
``ColumnDataSource`` costs the computation of the new data and one small patch. The views use
these for changes that keep the look (same palette, axes and styles) and fall back to a
HoloViews re-render for everything else.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
from bokeh.events import RangesUpdate
from panel.io import hold


def weak_hook(method):
    """A HoloViews plot hook that calls ``method`` without keeping its object alive.

    HoloViews keeps every ``.opts(...)`` of an object in a process-wide option tree
    (``hv.Store``) that outlives the session; a bound method in ``hooks=`` would keep the
    whole session (views, state, plots) in memory after the browser tab has closed.
    """
    ref = weakref.WeakMethod(method)

    def hook(plot, element):
        target = ref()
        if target is not None:
            target(plot, element)

    hook.__qualname__ = f"weak_hook({method.__qualname__})"
    return hook


def view_of(event) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """((x0, x1), (y0, y1)), each ordered, from Bokeh's ``RangesUpdate``; None when not all finite."""
    bounds = [event.x0, event.x1, event.y0, event.y1]
    if any(v is None for v in bounds) or not np.all(np.isfinite(bounds)):
        return None
    x0, x1, y0, y1 = map(float, bounds)
    return (min(x0, x1), max(x0, x1)), (min(y0, y1), max(y0, y1))


def _source(plot):
    return plot.handles.get("source") if plot is not None else None


def replace_index(plot, index: np.ndarray, x_range, y_range) -> bool:
    """Put a bottom-up palette-index image over ``x_range`` x ``y_range`` into the drawn image ``plot``.

    The array an element from ``sky.to_image_element`` would carry, without building the element.
    False when the plot is not drawn yet.
    """
    source = _source(plot)
    if source is None or "image" not in source.data:
        return False
    (left, right), (bottom, top) = x_range, y_range
    # Inside Panel's hold: a widget event may run where Bokeh's document lock is not held (Panel
    # handles some in a coroutine), and changing a model there raises in a served session.
    with hold():
        source.data = {
            **source.data,
            "image": [index],
            "x": [left],
            "y": [bottom],
            "dw": [right - left],
            "dh": [top - bottom],
        }
    return True


def replace_bars(overlay_plot, tops: list[np.ndarray], padding: float = 0.1) -> bool:
    """Put new bar heights (same bins), one array per histogram, into the drawn ``overlay_plot``.

    The y axis is rescaled from 0 to the highest bar plus ``padding`` of it, as HoloViews does
    for a framewise histogram. False when the plot is not drawn yet or the bins differ.
    """
    subplots = list(getattr(overlay_plot, "subplots", {}).values()) if overlay_plot is not None else []
    if len(subplots) != len(tops):
        return False
    sources = [_source(p) for p in subplots]
    for source, top in zip(sources, tops, strict=True):
        if source is None or "top" not in source.data or len(source.data["top"]) != len(top):
            return False
    highest = max((float(t.max()) for t in tops if t.size), default=0.0)
    y_range = overlay_plot.handles.get("y_range")
    with hold():  # see replace_index
        for source, top in zip(sources, tops, strict=True):
            source.data = {**source.data, "top": top}
        if y_range is not None:
            y_range.update(start=0.0, end=highest * (1 + padding) if highest > 0 else 1.0)
    return True


class InPlaceImageLayer:
    """A sky layer drawn as one image whose data each pan or zoom replaces in place (footprints, HiPS).

    The layer sets ``_plot = None``, ``_hooked = set()``, a HoloViews ``stream`` that re-renders
    it and a ``toggle``, draws its element with ``hooks=[weak_hook(self._on_drawn)]`` and defines
    ``image(view)``; a pan or zoom while the toggle is on replaces the image, and a layer not yet
    drawn (or whose image changed shape) is re-rendered through the stream.
    """

    _plot: Any
    _hooked: set[str]
    stream: Any
    toggle: Any

    def image(self, view) -> np.ndarray:
        raise NotImplementedError

    def _on_drawn(self, plot, element) -> None:
        self._plot = plot
        fig = plot.state
        if fig.id not in self._hooked:
            self._hooked.add(fig.id)
            fig.on_event(RangesUpdate, self._on_ranges_update)

    def _on_ranges_update(self, event) -> None:
        view = view_of(event)
        if view is not None and self.toggle.value:
            self._redraw(view)

    def _redraw(self, view) -> None:
        if self._plot is None or not replace_index(self._plot, self.image(view), *view):
            self.stream.trigger([self.stream])
