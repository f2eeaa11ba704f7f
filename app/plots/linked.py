"""Pure plot functions of the Explore page's linked views: HR diagram and flux distribution.

Each plot is split into the arrays it draws (``hr_index``, ``flux_counts``) and the HoloViews
element built from them, so a view can redraw in place from the arrays alone and still draw
exactly what a fresh render would.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np

from app.plots import sky as skyplot

HR_RANGE = (-1.05, 1.05)
FLUX_BINS = 60


def hr_index(context: np.ndarray, top: np.ndarray | None) -> tuple[np.ndarray, str]:
    """The HR diagram's bottom-up uint8 index image from its grids over ``HR_RANGE`` squared, and its palette kind.

    ``context``: the filtered rows' counts; ``top``: the selected rows' (None without a selection).
    """
    if top is None:
        return skyplot.count_index(context)
    return skyplot.highlight_index(context, top)


def hr_diagram(
    context: np.ndarray,
    top: np.ndarray | None,
    xlabel: str,
    ylabel: str,
    x_range: tuple[float, float] = HR_RANGE,
    y_range: tuple[float, float] = HR_RANGE,
) -> hv.Image:
    """Datashaded hardness-ratio diagram of the filtered rows; the selection drawn on top in colour.

    The axes are hardness ratios by default; another column (the fitted photon index) gives its range.
    """
    index, kind = hr_index(context, top)
    return skyplot.to_image_element(index, kind, x_range, y_range, cmap="kbc").redim.label(x=xlabel, y=ylabel)


def flux_edges(bins: int = FLUX_BINS, lo: float = -16.5, hi: float = -9.0) -> np.ndarray:
    """Edges (log10 flux) of the flux histogram's equal-width bins."""
    return np.linspace(lo, hi, bins + 1)


def flux_histogram(
    counts: np.ndarray, scounts: np.ndarray | None, xlabel: str, lo: float = -16.5, hi: float = -9.0
) -> hv.Overlay:
    """logN-logS-style histogram of log flux: filtered rows in grey, selected rows in colour.

    ``counts`` / ``scounts``: rows per bin of :func:`flux_edges` (``scounts`` None without a selection).
    """
    edges = flux_edges(counts.size, lo, hi)
    dims = dict(kdims=[hv.Dimension("log_flux", label=xlabel)], vdims=[hv.Dimension("N", label="sources per bin")])
    base = hv.Histogram((edges, counts), **dims).opts(color="#8a8aa0", line_color=None, alpha=0.7)
    if scounts is None:
        return base * hv.Histogram((edges, np.zeros_like(counts)), **dims).opts(alpha=0)
    return base * hv.Histogram((edges, scounts), **dims).opts(
        color=skyplot.SELECTION_COLOUR, line_color=None, alpha=0.9
    )
