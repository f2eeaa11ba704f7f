"""Pure plot functions of the Explore page's linked views: HR diagram and flux distribution."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from app.plots import sky as skyplot

HR_RANGE = (-1.05, 1.05)


def hr_diagram(
    hx: np.ndarray,
    hy: np.ndarray,
    mask: np.ndarray,
    selected: np.ndarray | None,
    xlabel: str,
    ylabel: str,
    width: int = 400,
    height: int = 400,
) -> hv.Image:
    """Datashaded hardness-ratio diagram of the filtered rows; the selection drawn on top in colour."""
    ok = mask & np.isfinite(hx) & np.isfinite(hy)
    highlight = None if selected is None else selected
    index, kind = skyplot.sky_index(hx, hy, ok, HR_RANGE, HR_RANGE, width, height, highlight=highlight)
    return skyplot.to_image_element(index, kind, HR_RANGE, HR_RANGE, cmap="kbc").redim.label(x=xlabel, y=ylabel)


def uniform_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` for equal-width ``edges``, without sorting (NaN ignored).

    The bin of each value is computed, then moved by one where floating-point rounding put
    it beside an edge, so the counts are exactly numpy's.
    """
    n = edges.size - 1
    v = values[(values >= edges[0]) & (values <= edges[-1])].astype(np.float64)  # drops NaN too
    k = np.clip(((v - edges[0]) * (n / (edges[-1] - edges[0]))).astype(np.intp), 0, n - 1)
    k -= v < edges[k]
    k += (v >= edges[np.minimum(k + 1, n)]) & (k < n - 1)
    return np.bincount(k, minlength=n)


def flux_histogram(
    log_flux: np.ndarray,
    mask: np.ndarray,
    selected: np.ndarray | None,
    xlabel: str,
    bins: int = 60,
    lo: float = -16.5,
    hi: float = -9.0,
) -> hv.Overlay:
    """logN-logS-style histogram of log flux: filtered rows in grey, selected rows in colour."""
    edges = np.linspace(lo, hi, bins + 1)
    counts = uniform_counts(log_flux[mask], edges)
    dims = dict(kdims=[hv.Dimension("log_flux", label=xlabel)], vdims=[hv.Dimension("N", label="sources per bin")])
    base = hv.Histogram((edges, counts), **dims).opts(color="#8a8aa0", line_color=None, alpha=0.7)
    if selected is None:
        return base * hv.Histogram((edges, np.zeros_like(counts)), **dims).opts(alpha=0)
    scounts = uniform_counts(log_flux[mask & selected], edges)
    return base * hv.Histogram((edges, scounts), **dims).opts(color="#fd8d3c", line_color=None, alpha=0.9)
