"""Pure plot functions of the Explore page's linked views: HR diagram and flux distribution.

Each plot is split into the arrays it draws (``hr_index``, ``flux_counts``) and the HoloViews
element built from them, so a view can redraw in place from the arrays alone and still draw
exactly what a fresh render would.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np

from app.plots import sky as skyplot
from data_loaders.grid import uniform_bins

HR_RANGE = (-1.05, 1.05)
FLUX_BINS = 60


def hr_index(
    hx: np.ndarray,
    hy: np.ndarray,
    mask: np.ndarray,
    selected: np.ndarray | None,
    width: int = 400,
    height: int = 400,
) -> tuple[np.ndarray, str]:
    """The HR diagram's bottom-up uint8 index image over ``HR_RANGE`` squared, and its palette kind."""
    ok = mask & np.isfinite(hx) & np.isfinite(hy)
    return skyplot.sky_index(hx, hy, ok, HR_RANGE, HR_RANGE, width, height, highlight=selected)


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
    index, kind = hr_index(hx, hy, mask, selected, width, height)
    return skyplot.to_image_element(index, kind, HR_RANGE, HR_RANGE, cmap="kbc").redim.label(x=xlabel, y=ylabel)


def flux_edges(bins: int = FLUX_BINS, lo: float = -16.5, hi: float = -9.0) -> np.ndarray:
    """Edges (log10 flux) of the flux histogram's equal-width bins."""
    return np.linspace(lo, hi, bins + 1)


def flux_bins(log_flux: np.ndarray, bins: int = FLUX_BINS, lo: float = -16.5, hi: float = -9.0) -> np.ndarray:
    """Bin of each row's log flux in the flux histogram (``bins`` where outside or NaN), uint8.

    It does not depend on the filters: a view computes it once per column and counts the
    bins of the filtered rows at each change.
    """
    if bins > 255:
        raise ValueError(f"at most 255 flux bins fit a byte, not {bins}")
    return uniform_bins(log_flux, flux_edges(bins, lo, hi)).astype(np.uint8)


def flux_counts(
    row_bins: np.ndarray, mask: np.ndarray, selected: np.ndarray | None, bins: int = FLUX_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Bar heights of the flux histogram: the filtered rows, and the selected ones (zeros without a selection)."""
    counts = np.bincount(row_bins[mask], minlength=bins + 1)[:bins]
    if selected is None:
        return counts, np.zeros_like(counts)
    return counts, np.bincount(row_bins[mask & selected], minlength=bins + 1)[:bins]


def flux_histogram(
    row_bins: np.ndarray,
    mask: np.ndarray,
    selected: np.ndarray | None,
    xlabel: str,
    bins: int = FLUX_BINS,
    lo: float = -16.5,
    hi: float = -9.0,
) -> hv.Overlay:
    """logN-logS-style histogram of log flux: filtered rows in grey, selected rows in colour.

    ``row_bins``: each row's bin, from :func:`flux_bins` with the same ``bins``, ``lo`` and ``hi``.
    """
    edges = flux_edges(bins, lo, hi)
    counts, scounts = flux_counts(row_bins, mask, selected, bins)
    dims = dict(kdims=[hv.Dimension("log_flux", label=xlabel)], vdims=[hv.Dimension("N", label="sources per bin")])
    base = hv.Histogram((edges, counts), **dims).opts(color="#8a8aa0", line_color=None, alpha=0.7)
    if selected is None:
        return base * hv.Histogram((edges, scounts), **dims).opts(alpha=0)
    return base * hv.Histogram((edges, scounts), **dims).opts(color="#fd8d3c", line_color=None, alpha=0.9)
