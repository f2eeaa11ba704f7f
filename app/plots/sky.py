"""The datashaded sky: pure functions from arrays and view parameters to images and overlays.

Aggregation and shading run on the server (datashader); the browser receives one RGBA
image per render, never the points. The projection grid is drawn as HoloViews paths and
labels because Bokeh's Cartesian axes mean nothing on an all-sky projection.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import colorcet
import datashader as ds
import datashader.transfer_functions as tf
import holoviews as hv
import numpy as np
import pandas as pd
import xarray as xr

from data_loaders import projection

#: Perceptually uniform colormaps (colorcet through datashader), by name.
COLORMAPS = {name: list(colorcet.palette[name]) for name in ("fire", "bmy", "kbc", "bgy", "CET_L17")}
COLORMAPS["viridis"] = list(colorcet.palette["bgy"])  # colorcet's perceptually uniform stand-in
COLORMAPS["coolwarm"] = list(colorcet.palette["coolwarm"])  # diverging: hardness ratios
NORMALISATIONS = ("eq_hist", "log", "linear", "cbrt")
#: Colours of the classifier's classes, in schema.CLASS_NAMES order (distinct on dark and light).
CLASS_COLOURS = ("#4c9be8", "#f2c14e", "#e4572e", "#a05ad8", "#17bebb", "#f78fb3", "#9bc53d", "#6b6b6b")
#: The one colour of selected rows in every view (sky, HR diagram, flux histogram), both themes:
#: a magenta no colour map or class uses, 3.6:1 on white and 5.9:1 on black.
SELECTION_COLOUR = "#f02cc8"
SELECTED_CMAP = [SELECTION_COLOUR, SELECTION_COLOUR]
CONTEXT_CMAP = ["#3a3a4a", "#8a8aa0"]


def full_extent(proj: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y ranges (deg) that contain the whole projected sky."""
    x, y = projection.outline(proj)
    pad = 1.02
    return (float(np.nanmin(x)) * pad, float(np.nanmax(x)) * pad), (
        float(np.nanmin(y)) * pad,
        float(np.nanmax(y)) * pad,
    )


def sky_per_pixel(proj: str, view, width_px: float) -> float:
    """Degrees of sky per screen pixel at the centre of ``view`` ((x0, x1), (y0, y1)), the larger of x and y.

    Outside the projected sky (a view centred off the map) the plane's own scale stands in.
    """
    (x0, x1), (y0, y1) = view
    per_plane = abs(x1 - x0) / max(float(width_px), 1.0)
    sx, sy = projection.plane_scale((x0 + x1) / 2, (y0 + y1) / 2, proj)
    factor = max(sx, sy) if np.isfinite(sx) and np.isfinite(sy) else 1.0
    return per_plane * factor


def extent_of(counts: np.ndarray, x_range, y_range, aspect: float = 2.0, pad: float = 0.15, least: float = 0.1):
    """The view ((x0, x1), (y0, y1)) around the non-empty pixels of a bottom-up count grid over the ranges.

    Padded by ``pad`` of its size, at least ``least`` degrees high, widened or heightened to
    ``aspect`` (width / height) and kept inside the ranges; None when the grid is empty.
    """
    rows, cols = np.nonzero(np.nan_to_num(counts))
    if rows.size == 0:
        return None
    h, w = counts.shape
    (gx0, gx1), (gy0, gy1) = x_range, y_range
    px, py = (gx1 - gx0) / w, (gy1 - gy0) / h
    x0, x1 = gx0 + cols.min() * px, gx0 + (cols.max() + 1) * px
    y0, y1 = gy0 + rows.min() * py, gy0 + (rows.max() + 1) * py
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    height = max((y1 - y0) * (1 + 2 * pad), (x1 - x0) * (1 + 2 * pad) / aspect, least)
    height = min(height, gy1 - gy0, (gx1 - gx0) / aspect)
    width = height * aspect
    cx = min(max(cx, gx0 + width / 2), gx1 - width / 2)
    cy = min(max(cy, gy0 + height / 2), gy1 - height / 2)
    return (cx - width / 2, cx + width / 2), (cy - height / 2, cy + height / 2)


def aggregate(
    x: np.ndarray,
    y: np.ndarray,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    width: int,
    height: int,
    values: np.ndarray | None = None,
    how: str = "count",
    categories: list[str] | None = None,
) -> xr.DataArray:
    """Aggregate points on a ``width`` x ``height`` canvas over the given ranges.

    ``how``: 'count' (detections per pixel), 'mean' (mean of ``values``), or 'by'
    (counts per category of the integer codes in ``values``; ``categories`` names them).
    """
    cvs = ds.Canvas(plot_width=max(int(width), 2), plot_height=max(int(height), 2), x_range=x_range, y_range=y_range)
    cols = {"x": x, "y": y}
    if values is not None:
        cols["v"] = values
    frame = pd.DataFrame(cols, copy=False)
    if how == "count":
        return cvs.points(frame, "x", "y", agg=ds.count())
    if how == "mean":
        return cvs.points(frame, "x", "y", agg=ds.mean("v"))
    if how == "by":
        codes = pd.Categorical.from_codes(np.asarray(values, dtype=np.int16), categories=categories)
        frame["v"] = codes
        return cvs.points(frame, "x", "y", agg=ds.by("v", ds.count()))
    raise ValueError(f"unknown aggregation {how!r}")


def _palette_lut(palette: list[str]) -> np.ndarray:
    """Hex colours -> (N, 3) uint8 array."""
    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in palette], dtype=np.uint8)


_LUTS: dict[str, np.ndarray] = {}


def _lut(cmap: str | list[str]) -> np.ndarray:
    key = cmap if isinstance(cmap, str) else "|".join(cmap)
    if key not in _LUTS:
        palette = COLORMAPS.get(cmap) if isinstance(cmap, str) else list(cmap)
        if palette is None:
            raise ValueError(f"unknown colormap {cmap!r}; expected one of {sorted(COLORMAPS)}")
        # Interpolate short palettes to 256 entries.
        base = _palette_lut(palette).astype(np.float64)
        pos = np.linspace(0, len(base) - 1, 256)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(base) - 1)
        frac = (pos - lo)[:, None]
        _LUTS[key] = np.round(base[lo] * (1 - frac) + base[hi] * frac).astype(np.uint8)
    return _LUTS[key]


def normalise(values: np.ndarray, how: str = "eq_hist", span: tuple[float, float] | None = None) -> np.ndarray:
    """Map finite, non-empty pixel values to [0, 1] (NaN elsewhere) by eq_hist, log, cbrt or linear.

    Zero counts are empty pixels for every normalisation but 'linear' of a mean.
    """
    v = np.asarray(values)
    ok = np.isfinite(v) if v.dtype.kind == "f" else np.ones(v.shape, bool)
    if how != "linear":
        ok &= v > 0
    out = np.full(v.shape, np.nan, dtype=np.float32)
    if not ok.any():
        return out
    vals = v[ok]
    if how == "eq_hist":
        # Rank of each pixel's value among the distinct values: histogram equalisation.
        if vals.dtype.kind in "iu" and vals.max() < 50_000_000:
            present = np.zeros(int(vals.max()) + 1, dtype=np.int64)
            present[vals] = 1
            rank = np.cumsum(present) - 1
            out[ok] = rank[vals] / max(rank[-1], 1) if rank[-1] > 0 else 1.0
        else:
            uniq, inv = np.unique(vals, return_inverse=True)
            out[ok] = inv / max(len(uniq) - 1, 1) if len(uniq) > 1 else 1.0
        return out
    vals = vals.astype(np.float64)
    if how == "log":
        vals = np.log1p(vals - min(vals.min(), 0))
    elif how == "cbrt":
        vals = np.cbrt(vals)
    lo, hi = span if span is not None else (vals.min(), vals.max())
    out[ok] = np.clip((vals - lo) / (hi - lo), 0, 1) if hi > lo else 1.0
    return out


def _lut32(cmap: str | list[str], min_alpha: int) -> np.ndarray:
    """256 packed RGBA (little-endian uint32) colours whose alpha ramps from ``min_alpha`` to 255."""
    rgb = _lut(cmap).astype(np.uint32)
    alpha = np.linspace(min_alpha, 255, 256).astype(np.uint32)
    return rgb[:, 0] | (rgb[:, 1] << 8) | (rgb[:, 2] << 16) | (alpha << 24)


def shade_array(
    values: np.ndarray,
    cmap: str | list[str] = "fire",
    how: str = "eq_hist",
    span: tuple[float, float] | None = None,
    min_alpha: int = 60,
) -> np.ndarray:
    """Shade a 2-D aggregate to an (H, W) uint32 image of packed RGBA through a 256-entry table.

    Equivalent to ``datashader.transfer_functions.shade`` for one aggregate, several times
    faster because it gathers from a packed lookup table. Empty pixels are transparent (0).
    """
    t = normalise(values, how, span)
    ok = np.isfinite(t)
    img = np.zeros(values.shape, dtype=np.uint32)
    img[ok] = _lut32(cmap, min_alpha)[(t[ok] * 255 + 0.5).astype(np.intp)]
    return img


def spread(img: np.ndarray, px: int = 1) -> np.ndarray:
    """Grow isolated pixels into (2 px + 1)-wide dots so single sources stay visible when zoomed."""
    if px <= 0:
        return img
    out = img.copy()
    h, w = img.shape
    for dy in range(-px, px + 1):
        for dx in range(-px, px + 1):
            if dx == 0 and dy == 0:
                continue
            src = img[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
            dst = out[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
            np.copyto(dst, src, where=(dst == 0) & (src != 0))
    return out


def auto_spread(agg_values: np.ndarray) -> int:
    """How many pixels to spread: more when the image is sparse (zoomed in), none when dense."""
    filled = np.count_nonzero(np.nan_to_num(agg_values)) / max(agg_values.size, 1)
    return 2 if filled < 0.002 else 1 if filled < 0.02 else 0


def shade_categories(agg: xr.DataArray, color_key: list[str] | None = None, how: str = "eq_hist") -> np.ndarray:
    """Shade a categorical (``ds.by``) aggregate by mixing class colours; returns RGBA uint8."""
    img = tf.shade(agg, color_key=list(color_key or CLASS_COLOURS), how=how, min_alpha=60)
    return np.ascontiguousarray(img.data, dtype=np.uint32)


def to_rgba(img: np.ndarray) -> np.ndarray:
    """Packed uint32 image -> (H, W, 4) uint8 RGBA view (no copy)."""
    return np.ascontiguousarray(img).view(np.uint8).reshape(img.shape + (4,))


def to_rgb_element(img: np.ndarray, x_range, y_range) -> hv.RGB:
    """A HoloViews RGB element (uint8 RGBA, the compact payload) from a bottom-up packed image."""
    return hv.RGB(
        to_rgba(img)[::-1],
        bounds=(x_range[0], y_range[0], x_range[1], y_range[1]),
        kdims=["x", "y"],
        vdims=list("RGBA"),
    )


def composite(under: np.ndarray, over: np.ndarray) -> np.ndarray:
    """Put ``over`` on top of ``under`` wherever ``over`` is not transparent."""
    return np.where(over != 0, over, under)


def sky_rgba(
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None,
    x_range,
    y_range,
    width: int,
    height: int,
    *,
    values: np.ndarray | None = None,
    how: str = "count",
    norm: str = "eq_hist",
    cmap: str | list[str] = "fire",
    highlight: np.ndarray | None = None,
    categories: list[str] | None = None,
    span: tuple[float, float] | None = None,
) -> np.ndarray:
    """The sky of the rows in ``mask`` as a bottom-up packed-RGBA uint32 image (H, W).

    With ``highlight`` (a boolean mask of selected rows), the rows in ``mask`` are drawn as
    grey context and the highlighted ones in colour on top.
    """
    if mask is not None and mask.all():
        mask = None  # skip copying a million coordinates when nothing is filtered out
    sel = slice(None) if mask is None else mask
    if highlight is not None:
        ctx = aggregate(x[sel], y[sel], x_range, y_range, width, height).values
        top_rows = highlight if mask is None else mask & highlight
        top = aggregate(x[top_rows], y[top_rows], x_range, y_range, width, height).values
        px = auto_spread(ctx)
        return composite(
            spread(shade_array(ctx, CONTEXT_CMAP, norm), px), spread(shade_array(top, SELECTED_CMAP, norm), px)
        )
    vs = values[sel] if values is not None else None
    agg = aggregate(x[sel], y[sel], x_range, y_range, width, height, values=vs, how=how, categories=categories)
    if agg.ndim == 3:
        return spread(shade_categories(agg), auto_spread(agg.sum(axis=2).values))
    if how == "mean":
        counts = aggregate(x[sel], y[sel], x_range, y_range, width, height).values
        return spread(shade_array(agg.values, cmap, "linear", span=span), auto_spread(counts))
    return spread(shade_array(agg.values, cmap, norm, span=span), auto_spread(agg.values))


def format_lon(lon: float, frame: str) -> str:
    """Graticule label: RA in hours for equatorial, degrees for galactic longitude."""
    if frame == "icrs":
        return f"{round(lon / 15.0) % 24:d}h"
    return f"{round(lon) % 360:d}°"


@dataclass(frozen=True)
class Graticule:
    """What the all-sky graticule draws (every 30 deg, 2h in RA), in projected coordinates.

    ``lines``: the meridians and parallels as one NaN-broken polyline (N x 2); ``outline``: the
    edge of the sky (M x 2); ``labels``: (x, y, text, text align) of each label; ``colour``.
    """

    lines: np.ndarray
    outline: np.ndarray
    labels: tuple[tuple[float, float, str, str], ...]
    colour: str


#: Styles of the graticule's parts, shared by the HoloViews and the Bokeh drawings.
GRATICULE_LINES = {"line_alpha": 0.35, "line_width": 0.8, "line_dash": "dotted"}
GRATICULE_OUTLINE = {"line_alpha": 0.8, "line_width": 1.2}
GRATICULE_TEXT = {"text_font_size": "9pt", "text_alpha": 0.9}


@functools.lru_cache(maxsize=16)
def graticule(proj: str, frame: str, dark: bool = True) -> Graticule:
    """The graticule of a projection and frame (computed once per process)."""
    lines, labels = projection.graticule(proj)
    # One polyline with NaN breaks, not one per meridian and parallel: each polyline is two arrays
    # (two binary websocket buffers, four frames) in every page's document.
    gap = np.full((1, 2), np.nan)
    joined = np.concatenate([part for xy in lines for part in (np.column_stack(xy), gap)][:-1])
    ox, oy = projection.outline(proj)
    lon_lab = [(x, y - 4.0, format_lon(v, frame), "center") for x, y, v, k in labels if k == "lon"]
    # Latitudes start just inside the outline at its left end: centred on it, the equator's label
    # (where the outline meets the edge of the view) was cut in half.
    lat_lab = [(x + 1.5, y, f"{v:+.0f}°", "left") for x, y, v, k in labels if k == "lat"]
    colour = "#8c8ca0" if dark else "#6b6b7b"
    return Graticule(joined, np.column_stack([ox, oy]), tuple(lon_lab + lat_lab), colour)


@functools.lru_cache(maxsize=16)
def graticule_overlay(proj: str, frame: str, dark: bool = True) -> hv.Overlay:
    """Meridians/parallels every 30 deg (2h in RA) with labels, and the outline of the sky.

    Built once per process and projection/frame (elements are immutable; each session's
    plot is its own). The Explore sky draws the same :func:`graticule` as Bokeh glyphs
    (:class:`app.views.sky_marks.SkyMarks`): three HoloViews element plots cost half of its render.
    """
    g = graticule(proj, frame, dark)
    paths = hv.Path([g.lines], kdims=["x", "y"]).opts(color=g.colour, **GRATICULE_LINES)
    edge = hv.Path([g.outline], kdims=["x", "y"]).opts(color=g.colour, **GRATICULE_OUTLINE)
    text = hv.Labels(list(g.labels), kdims=["x", "y"], vdims=["text", "align"]).opts(
        text_color=g.colour, text_align=hv.dim("align"), **GRATICULE_TEXT
    )
    return paths * edge * text


# --- compact payload: one byte per pixel -------------------------------------------------------
# An RGBA image costs 4 bytes per pixel on the wire at every pan and zoom; an index into a
# 255-colour palette costs one. Index 0 is an empty pixel, drawn transparent by the colour mapper.

N_LEVELS = 255
_CLASS_LEVELS = 31  # 8 classes x 31 intensities fit in 255 palette entries


def _palette_hex(cmap: str | list[str], n: int, start: int = 0) -> list[str]:
    lut = _lut(cmap)
    idx = np.round(np.linspace(start, 255, n)).astype(int)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in lut[idx]]


#: On the light theme a ramp keeps only the colours with at least this contrast against white
#: (WCAG's 3:1 for graphics), so that a single source is never a near-white dot on white.
LIGHT_RAMP_CONTRAST = 3.0


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of (N, 3) uint8 colours."""
    c = rgb.astype(np.float64) / 255
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ np.array([0.2126, 0.7152, 0.0722])


def ramp_positions(cmap: str | list[str], dark: bool = True) -> np.ndarray:
    """Indices into the 256-colour table of ``cmap`` for palette levels 1..255, faint to strong.

    The one place the sky's ramp depends on the theme. Dark: the map as it is, without its
    darkest sixth (single sources must stand out on the dark sky). Light: the map running
    towards its darkest end, keeping only colours that contrast with white
    (:data:`LIGHT_RAMP_CONTRAST`): fire goes from orange to near black instead of towards white.
    """
    if dark:
        return np.round(np.linspace(40, 255, N_LEVELS)).astype(int)
    lum = _luminance(_lut(cmap))
    # A sequential map that brightens (fire, bgy...) runs backwards, its darkest end last; a diverging
    # one (coolwarm: both ends alike) keeps its direction, which carries the meaning.
    order = np.arange(256)[::-1] if lum[-1] > lum[0] + 0.3 else np.arange(256)
    keep = order[(1.05 / (lum[order] + 0.05)) >= LIGHT_RAMP_CONTRAST]
    if keep.size == 0:
        keep = order[-1:]
    return keep[np.round(np.linspace(0, keep.size - 1, N_LEVELS)).astype(int)]


@functools.lru_cache(maxsize=64)
def palette(kind: str, cmap: str = "fire", dark: bool = True) -> tuple[str, ...]:
    """The 255 colours behind indices 1..255 for a kind of image: 'ramp', 'highlight' or 'classes'.

    ``dark``: the page's theme, which chooses the part of the colour map a ramp uses
    (:func:`ramp_positions`); the other kinds read on both.
    """
    if kind == "ramp":
        return tuple(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in _lut(cmap)[ramp_positions(cmap, dark)])
    if kind == "highlight":
        return tuple(_palette_hex(CONTEXT_CMAP, 127) + _palette_hex(SELECTED_CMAP, 128))
    if kind == "classes":
        out = []
        for colour in CLASS_COLOURS:
            rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
            for t in np.linspace(0.35, 1.0, _CLASS_LEVELS):
                r, g, b = np.round(rgb * t).astype(int)
                out.append(f"#{r:02x}{g:02x}{b:02x}")
        return tuple(out + [out[-1]] * (N_LEVELS - len(out)))
    raise ValueError(f"unknown palette kind {kind!r}")


def index_array(values: np.ndarray, how: str = "eq_hist", span=None, lo: int = 1, hi: int = N_LEVELS) -> np.ndarray:
    """Pixel values -> uint8 palette indices in [lo, hi] (0 where empty)."""
    t = normalise(values, how, span)
    ok = np.isfinite(t)
    out = np.zeros(values.shape, dtype=np.uint8)
    out[ok] = (lo + t[ok] * (hi - lo) + 0.5).astype(np.uint8)
    return out


def sky_index(
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None,
    x_range,
    y_range,
    width: int,
    height: int,
    *,
    values: np.ndarray | None = None,
    how: str = "count",
    norm: str = "eq_hist",
    highlight: np.ndarray | None = None,
    categories: list[str] | None = None,
    span: tuple[float, float] | None = None,
) -> tuple[np.ndarray, str]:
    """Like :func:`sky_rgba`, but a bottom-up uint8 index image and its palette kind.

    Kinds: 'ramp' (counts or a mean, via the chosen colormap), 'highlight' (1-127 grey context,
    128-255 selection) and 'classes' (majority class per pixel, brighter where denser).
    """
    if mask is not None and mask.all():
        mask = None
    sel = slice(None) if mask is None else mask
    if highlight is not None:
        ctx = aggregate(x[sel], y[sel], x_range, y_range, width, height).values
        top_rows = highlight if mask is None else mask & highlight
        top = aggregate(x[top_rows], y[top_rows], x_range, y_range, width, height).values
        return highlight_index(ctx, top, norm)
    vs = values[sel] if values is not None else None
    if how == "by":
        agg = aggregate(x[sel], y[sel], x_range, y_range, width, height, values=vs, how="by", categories=categories)
        return class_index(agg.values, norm)
    agg = aggregate(x[sel], y[sel], x_range, y_range, width, height, values=vs, how=how)
    if how == "mean":
        counts = aggregate(x[sel], y[sel], x_range, y_range, width, height).values
        return mean_index(agg.values, counts, span)
    return count_index(agg.values, norm, span)


def count_index(counts: np.ndarray, norm: str = "eq_hist", span=None) -> tuple[np.ndarray, str]:
    """Index image of a count grid (brighter = more), spread where points are sparse."""
    return spread(index_array(counts, norm, span=span), auto_spread(counts)), "ramp"


def mean_index(means: np.ndarray, counts: np.ndarray, span=None) -> tuple[np.ndarray, str]:
    """Index image of a grid of means (linear over ``span``), spread as the counts are."""
    return spread(index_array(means, "linear", span=span), auto_spread(counts)), "ramp"


def highlight_index(context: np.ndarray, top: np.ndarray, norm: str = "eq_hist") -> tuple[np.ndarray, str]:
    """Index image of a grey context grid (1-127) with a selection's grid on top in colour (128-255).

    Selected rows are spread at least one pixel further than the context, so a single selected
    source is a dot of 3 px or more at every zoom, never one pixel lost among grey ones.
    """
    px = auto_spread(context)
    under = spread(index_array(context, norm, lo=1, hi=127), px)
    over = spread(index_array(top, norm, lo=128, hi=255), max(px, auto_spread(top)) + 1)
    return np.where(over != 0, over, under), "highlight"


def class_index(counts: np.ndarray, norm: str = "eq_hist") -> tuple[np.ndarray, str]:
    """Index image of per-class count grids (height, width, classes): majority class, brighter where denser."""
    total = counts.sum(axis=2)
    level = index_array(total, norm, lo=0, hi=_CLASS_LEVELS - 1)
    majority = counts.argmax(axis=2).astype(np.int64)
    idx = np.where(total > 0, 1 + np.minimum(majority, len(CLASS_COLOURS) - 1) * _CLASS_LEVELS + level, 0)
    return spread(idx.astype(np.uint8), auto_spread(total)), "classes"


def to_image_element(index: np.ndarray, kind: str, x_range, y_range, cmap: str = "fire", dark: bool = True) -> hv.Image:
    """A HoloViews Image of palette indices (one byte per pixel on the wire) with its palette for the theme."""
    img = hv.Image(
        np.ascontiguousarray(index[::-1]),
        bounds=(x_range[0], y_range[0], x_range[1], y_range[1]),
        kdims=["x", "y"],
        vdims=[hv.Dimension("level", range=(0.5, N_LEVELS + 0.5))],
    )
    return img.opts(
        cmap=list(palette(kind, cmap, dark)), clim=(0.5, N_LEVELS + 0.5), clipping_colors={"min": "transparent"}
    )
