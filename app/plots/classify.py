"""Pictures of one source's clues for the Classify game, the tutorial and the consensus bars.

Every function is pure: plain numbers or small frames in, a HoloViews element out. None of
them ever receives a class answer, so no picture of an unanswered source can leak one.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from app.plots.sky import to_rgb_element
from data_loaders import projection
from data_loaders.schema import BANDS, CLASS_LABELS, CLASS_NAMES

#: Fonts readable on a tablet at arm's length.
FONTS = {"title": 17, "labels": 15, "xticks": 13, "yticks": 13, "legend": 13}
#: One colour per X-ray "colour" band, soft (red) to hard (violet), as in the tutorial.
BAND_COLOURS = ("#ef4444", "#f59e0b", "#22c55e", "#3b82f6", "#8b5cf6")
BAND_NAMES = ("very soft", "soft", "medium", "hard", "very hard")
MISSION_COLOURS = {"XMM": "#f59e0b", "Swift": "#38bdf8", "Chandra": "#a78bfa", "eROSITA": "#34d399", "ROSAT": "#f472b6"}
MARKER = "#facc15"
MJD_J2000, DAYS_PER_YEAR = 51544.5, 365.25


def _common(height: int, width: int) -> dict:
    # Fixed sizes: responsive plots with an aspect get clipped inside a grid cell.
    return {"height": height, "width": width, "fontsize": FONTS, "toolbar": None, "show_grid": False}


def band_shares(fluxes: list[float]) -> np.ndarray:
    """Fraction of the 0.2-12 keV energy flux in each of the five bands (negative fluxes count as 0)."""
    f = np.clip(np.nan_to_num(np.asarray(fluxes, dtype=np.float64)), 0.0, None)
    total = f.sum()
    return f / total if total > 0 else np.zeros(5)


def spectrum_shape(
    fluxes: list[float], title: str = "Its X-ray colours", height: int = 260, width: int = 360
) -> hv.Bars:
    """Bars of the share of X-rays in each band, soft (red) to hard (violet): the spectrum's shape."""
    shares = band_shares(fluxes) * 100
    data = pd.DataFrame({"band": list(BAND_NAMES), "share": shares, "colour": list(BAND_COLOURS)})
    return hv.Bars(data, kdims=["band"], vdims=["share", "colour"]).opts(
        color="colour",
        line_color=None,
        ylim=(0, max(60.0, float(shares.max()) * 1.1)),
        xrotation=25,
        xlabel=f"soft → hard ({BANDS[1][0]:g}-{BANDS[5][1]:g} keV)",
        ylabel="% of its X-rays",
        title=title,
        tools=["hover"],
        **_common(height, width),
    )


def lightcurve(
    mjd: np.ndarray,
    flux: np.ndarray,
    upper_limit: np.ndarray | None = None,
    mission: np.ndarray | None = None,
    title: str = "Over the years",
    height: int = 260,
    width: int = 360,
) -> hv.Overlay:
    """Long-term lightcurve: log10 of flux over its median detection against year; limits as triangles.

    ``flux`` in erg/cm2/s; only the ratios are drawn.
    """
    mjd = np.asarray(mjd, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    ul = np.zeros(mjd.shape, bool) if upper_limit is None else np.asarray(upper_limit, bool)
    mission = np.full(mjd.shape, "XMM", dtype=object) if mission is None else np.asarray(mission, dtype=object)
    ok = np.isfinite(mjd) & np.isfinite(flux) & (flux > 0)
    frame = pd.DataFrame({"year": 2000 + (mjd - MJD_J2000) / DAYS_PER_YEAR, "flux": flux, "mission": mission})[ok]
    frame["colour"] = frame["mission"].map(MISSION_COLOURS).fillna("#e5e7eb")
    det, lim = frame[~ul[ok]].sort_values("year").copy(), frame[ul[ok]].copy()
    kdims, vdims = ["year"], ["flux", "mission", "colour"]
    # Relative to its usual (median detected) brightness: "times brighter" reads better than erg/cm2/s.
    usual = float(np.median(det["flux"])) if len(det) else float(np.median(frame["flux"])) if len(frame) else 1.0
    # Drawn as log10 of the ratio with worded ticks: robust where Bokeh log axes meet empty layers.
    for part in (frame, det, lim):
        part["flux"] = np.log10(part["flux"] / usual)
    line = hv.Curve(det, kdims, ["flux"]).opts(color="#9ca3af", line_width=1.5, line_dash="dashed")
    points = hv.Scatter(det, kdims, vdims).opts(color="colour", size=13, line_color="white")
    limits = hv.Scatter(lim, kdims, vdims).opts(color="colour", size=13, marker="inverted_triangle", alpha=0.6)
    years, fluxes = frame["year"], frame["flux"]
    span = (float(years.min()) - 2, float(years.max()) + 2) if len(frame) else (2000.0, 2025.0)
    step = max(int(round((span[1] - span[0]) / 4)), 1)
    year_ticks = list(range(int(np.ceil(span[0])), int(span[1]) + 1, step))
    yspan = (min(float(fluxes.min()) - 0.3, -0.5), max(float(fluxes.max()) + 0.3, 0.5)) if len(frame) else (-1.0, 1.0)
    ticks = [(-2, "÷100"), (-1, "÷10"), (0, "usual"), (1, "×10"), (2, "×100"), (3, "×1000")]
    return (line * limits * points).opts(
        hv.opts.Scatter(tools=["hover"]),
        hv.opts.Overlay(
            xlim=span,
            ylim=yspan,
            xlabel="year",
            ylabel="brightness",
            yticks=[t for t in ticks if yspan[0] <= t[0] <= yspan[1]],
            xticks=year_ticks,
            title=title,
            **_common(height, width),
        ),
    )


def variability_factor(flux: np.ndarray, upper_limit: np.ndarray | None = None) -> float:
    """Brightest over faintest detected flux (1 when seen fewer than twice)."""
    f = np.asarray(flux, dtype=np.float64)
    if upper_limit is not None:
        f = f[~np.asarray(upper_limit, bool)]
    f = f[np.isfinite(f) & (f > 0)]
    return float(f.max() / f.min()) if f.size >= 2 else 1.0


def sky_position(
    background: np.ndarray,
    lon: float,
    lat: float,
    title: str = "Where it is on the sky",
    height: int = 260,
    width: int = 360,
    proj: str = "hammer",
) -> hv.Overlay:
    """A small all-sky map in galactic coordinates (Milky Way across the middle) with the source marked.

    ``background``: packed-RGBA image of the whole sky from ``sky.sky_rgba`` over ``sky.full_extent``.
    """
    from app.plots.sky import full_extent

    xr_, yr_ = full_extent(proj)
    img = to_rgb_element(background, xr_, yr_)
    ox, oy = projection.outline(proj)
    edge = hv.Path([np.column_stack([ox, oy])], kdims=["x", "y"]).opts(color="#64748b", line_width=1.5)
    px, py = projection.forward(np.array([lon]), np.array([lat]), proj)
    plane = hv.Path([np.column_stack([[xr_[0] * 0.98, xr_[1] * 0.98], [0.0, 0.0]])], kdims=["x", "y"]).opts(
        color="#93c5fd", line_alpha=0.35, line_width=6
    )
    label = hv.Labels([(0.0, -12.0, "Milky Way")], kdims=["x", "y"], vdims=["text"]).opts(
        text_color="#bfdbfe", text_font_size="12pt", text_alpha=0.85
    )
    marker = hv.Points([(float(px[0]), float(py[0]))], kdims=["x", "y"]).opts(
        color=MARKER, size=26, marker="star", line_color="black", line_width=1.5
    )
    return (img * plane * edge * label * marker).opts(
        hv.opts.RGB(xaxis=None, yaxis=None),
        hv.opts.Overlay(title=title, xaxis=None, yaxis=None, xlim=xr_, ylim=yr_, **_common(height, width)),
    )


def apparent_shape(
    extent_arcsec: float, title: str = "How it looks", height: int = 260, width: int = 260, psf: float = 6.0
) -> hv.Image:
    """A picture of the source in a 2-arcmin box: a sharp point (the telescope's blur) or a fuzzy cloud."""
    ext = float(np.nan_to_num(extent_arcsec))
    sigma = np.hypot(psf, ext)
    axis = np.linspace(-60, 60, 121)
    xx, yy = np.meshgrid(axis, axis)
    z = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return hv.Image((axis, axis, z), kdims=["x (arcsec)", "y (arcsec)"], vdims=["brightness"]).opts(
        cmap="inferno", colorbar=False, xaxis=None, yaxis=None, title=title, **_common(height, width)
    )


def class_bars(
    probabilities: dict[str, np.ndarray | list[float]],
    title: str = "Classification",
    height: int = 280,
    width: int = 520,
) -> hv.Bars:
    """Grouped bars of class probabilities per origin (e.g. ``{"machine": PbaC, "citizens": PbaC}``)."""
    rows = [
        (CLASS_LABELS[name], origin, float(p[i]))
        for origin, p in probabilities.items()
        for i, name in enumerate(CLASS_NAMES)
    ]
    data = pd.DataFrame(rows, columns=["class", "origin", "probability"])
    return hv.Bars(data, kdims=["class", "origin"], vdims=["probability"]).opts(
        ylim=(0, 1),
        xrotation=30,
        title=title,
        color=hv.dim("origin").categorize({"machine": "#60a5fa", "citizens": "#f59e0b"}, default="#a3a3a3"),
        **_common(height, width),
    )
