"""Datashader aggregates of a pandas frame's points: the one grid both catalogue engines draw with.

The in-memory engine calls :func:`points` on its selected rows; the Dask engine on each
partition, then adds the partitions' grids up (:func:`combine`), so both give the same pixels.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

HOWS = ("count", "mean", "max", "min", "by")


def check(how: str, column: str | None) -> None:
    if how not in HOWS:
        raise ValueError(f"unknown aggregation {how!r}; expected one of {', '.join(HOWS)}")
    if how != "count" and column is None:
        raise ValueError(f"how={how!r} needs a column")


def canvas(x_range, y_range, width: int, height: int):
    import datashader as ds

    return ds.Canvas(
        plot_width=max(int(width), 2),
        plot_height=max(int(height), 2),
        x_range=tuple(map(float, x_range)),
        y_range=tuple(map(float, y_range)),
    )


def partial_grid(frame: pd.DataFrame, xcol: str, ycol: str, spec: tuple):
    """One frame's grid in a form that adds up: counts, (sum, count) for a mean, max/min, or counts per category.

    ``spec``: (x_range, y_range, width, height, how, column, n_categories).
    """
    import datashader as ds

    x_range, y_range, width, height, how, column, n_cat = spec
    cvs = canvas(x_range, y_range, width, height)
    if how in ("mean", "max", "min") and not np.issubdtype(frame[column].dtype, np.floating):
        frame = frame.assign(**{column: np.asarray(frame[column], dtype=np.float32)})  # e.g. a flag's fraction
    if how == "count":
        return cvs.points(frame, xcol, ycol, agg=ds.count()).values
    if how == "mean":
        total = cvs.points(frame, xcol, ycol, agg=ds.sum(column)).values.astype(np.float64)
        n = cvs.points(frame, xcol, ycol, agg=ds.count(column)).values
        return np.nan_to_num(total), n
    if how == "by":
        codes = np.asarray(frame[column], dtype=np.int64)
        codes = np.where((codes >= 0) & (codes < n_cat), codes, n_cat - 1)
        cat = pd.Categorical.from_codes(codes, categories=range(n_cat))
        pts = pd.DataFrame({xcol: frame[xcol].to_numpy(), ycol: frame[ycol].to_numpy(), "v": cat}, copy=False)
        return cvs.points(pts, xcol, ycol, agg=ds.by("v", ds.count())).values
    return cvs.points(frame, xcol, ycol, agg=getattr(ds, how)(column)).values


def combine(how: str, *grids):
    """Add up (or take the max/min of) partial grids of the same spec."""
    if how == "max":
        return functools.reduce(np.fmax, grids)
    if how == "min":
        return functools.reduce(np.fmin, grids)
    if isinstance(grids[0], tuple):
        return tuple(np.sum([g[k] for g in grids], axis=0) for k in range(len(grids[0])))
    return np.sum(grids, axis=0)


def finish(how: str, grid) -> np.ndarray:
    """The final grid from a combined partial one: a mean divides, NaN where no point fell."""
    if how == "mean":
        total, n = grid
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)
    return np.asarray(grid)


def points(frame: pd.DataFrame, xcol: str, ycol: str, spec: tuple) -> np.ndarray:
    """The grid of one in-memory frame (rows of height, columns of width; a third axis for 'by')."""
    return finish(spec[4], partial_grid(frame, xcol, ycol, spec))


def empty(spec: tuple) -> np.ndarray:
    """The grid of no points."""
    frame = pd.DataFrame({"x": np.zeros(0, np.float32), "y": np.zeros(0, np.float32), "v": np.zeros(0, np.float32)})
    how = spec[4]
    if how == "by":
        return np.zeros((max(int(spec[3]), 2), max(int(spec[2]), 2), spec[6]), dtype=np.uint32)
    return points(frame, "x", "y", (*spec[:5], "v" if how != "count" else None, spec[6]))


def uniform_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value on equal-width ``edges`` as ``np.histogram`` counts it; ``edges.size - 1`` outside.

    NaN is outside too. The bin is computed, then moved by one where floating-point rounding
    put it beside an edge, so counting the bins gives exactly numpy's counts.
    """
    n = edges.size - 1
    out = np.full(values.shape, n, dtype=np.intp)
    inside = (values >= edges[0]) & (values <= edges[-1])  # False for NaN
    v = values[inside].astype(np.float64)
    k = np.clip(((v - edges[0]) * (n / (edges[-1] - edges[0]))).astype(np.intp), 0, n - 1)
    k -= v < edges[k]
    k += (v >= edges[np.minimum(k + 1, n)]) & (k < n - 1)
    out[inside] = k
    return out


def uniform_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` for equal-width ``edges``, without sorting (NaN ignored)."""
    n = edges.size - 1
    return np.bincount(uniform_bins(values, edges), minlength=n + 1)[:n]


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` of the finite values (without sorting for equal-width edges)."""
    edges = np.asarray(edges, dtype=np.float64)
    values = np.asarray(values)
    if edges.size > 2 and np.allclose(np.diff(edges), edges[1] - edges[0], rtol=1e-9, atol=0):
        return uniform_counts(values, edges)
    v = values.astype(np.float64, copy=False)
    return np.histogram(v[np.isfinite(v)], bins=edges)[0]
