"""Pure lightcurve plots: a source's long-term flux history and one observation's EPIC lightcurve."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.models import HoverTool

from data_loaders import schema

#: Bands the long-term lightcurve offers: total, soft, hard, then the five narrow bands.
LONGTERM_BANDS = (8, 6, 7, 1, 2, 3, 4, 5)
#: Marker and colour of each mission; other missions are converted to XMM 0.2-12 keV.
MISSION_STYLE = {
    "XMM": ("circle", "#f59e0b"),
    "Swift": ("square", "#38bdf8"),
    "Chandra": ("diamond", "#a78bfa"),
    "eROSITA": ("triangle", "#34d399"),
    "ROSAT": ("hex", "#f472b6"),
}
CAMERA_STYLE = {"PN": ("pn", "#f59e0b"), "M1": ("MOS1", "#38bdf8"), "M2": ("MOS2", "#a78bfa")}
UPPER_LIMIT_COLOUR = "#94a3b8"
#: Length of an upper-limit arrow, as a factor below the limit on the log axis.
ARROW_FACTOR = 0.5
#: Columns of the frame ``longterm_points`` returns.
POINT_COLUMNS = (
    "date",
    "mjd",
    "flux",
    "flux_err",
    "lower",
    "upper",
    "mission",
    "obs_id",
    "sum_flag",
    "upper_limit",
    "converted",
)


def band_label(band: int) -> str:
    lo, hi = schema.BANDS[band]
    return f"band {band} ({lo:g}–{hi:g} keV)"


def mjd_to_datetime(mjd) -> np.ndarray:
    """MJD (days) -> numpy datetime64[ms] (UTC, ignoring the TT offset of ~1 min)."""
    mjd = np.asarray(mjd, dtype=float)
    ms = np.round((mjd - 40587.0) * 86400e3)
    return np.where(np.isfinite(ms), ms, np.nan).astype("int64").astype("datetime64[ms]")


def longterm_points(detections: pd.DataFrame, longterm: pd.DataFrame | None, band: int = 8) -> pd.DataFrame:
    """One row per point of the long-term lightcurve (columns ``POINT_COLUMNS``).

    XMM detections use ``EP_<band>_FLUX`` ± ``_ERR`` (erg/cm²/s). Rows of ``longterm`` (the
    added-value table of one source) with UPPER_LIMIT are limits; points of other missions
    are converted to XMM 0.2-12 keV as flux / ``schema.MISSION_FLUX_FACTORS[mission]``, so
    both limits and other missions are only comparable with band 8 and are left out otherwise.
    """
    flux_col, err_col = f"EP_{band}_FLUX", f"EP_{band}_FLUX_ERR"
    n = len(detections)
    xmm = pd.DataFrame(
        {
            "mjd": detections["MJD_START"].to_numpy(float) if n else np.array([], float),
            # A band the release does not have (no EP_6/EP_7 in a stacked one): no points, not a KeyError.
            "flux": detections[flux_col].to_numpy(float) if n and flux_col in detections else np.full(n, np.nan),
            "flux_err": detections[err_col].to_numpy(float) if n and err_col in detections else np.full(n, np.nan),
            "mission": "XMM",
            "obs_id": detections["OBS_ID"].astype(str).to_numpy() if n else np.array([], str),
            "sum_flag": detections["SUM_FLAG"].to_numpy(float) if n else np.array([], float),
            "upper_limit": False,
            "converted": False,
        }
    )
    parts = [xmm]
    if band == 8 and longterm is not None and len(longterm):
        lt = longterm
        if "OBS_ID" in lt and n:
            # Stacked releases list each detected observation in the long-term table too: draw it once.
            seen = set(detections["OBS_ID"].astype(str))
            repeat = (lt["MISSION"].astype(str) == "XMM") & ~lt["UPPER_LIMIT"].astype(bool)
            lt = lt[~(repeat & lt["OBS_ID"].astype(str).isin(seen))]
        mission = lt["MISSION"].astype(str).to_numpy()
        factor = np.array([schema.MISSION_FLUX_FACTORS.get(m, 1.0) for m in mission])
        is_xmm = mission == "XMM"
        other = pd.DataFrame(
            {
                "mjd": lt["MJD"].to_numpy(float),
                # XMM limits are already XMM 0.2-12 keV; only other missions need a conversion.
                "flux": np.where(is_xmm, 1.0, 1.0 / factor) * lt["FLUX"].to_numpy(float),
                "flux_err": np.where(is_xmm, 1.0, 1.0 / factor) * lt["FLUX_ERR"].to_numpy(float),
                "mission": mission,
                "obs_id": lt["OBS_ID"].astype(str).to_numpy() if "OBS_ID" in lt else "",
                "sum_flag": np.nan,
                "upper_limit": lt["UPPER_LIMIT"].to_numpy(bool),
                "converted": ~is_xmm,
            }
        )
        parts.append(other)
    points = pd.concat(parts, ignore_index=True) if len(parts) > 1 else xmm
    points = points[np.isfinite(points["mjd"]) & (points["flux"] > 0)].sort_values("mjd", kind="stable")
    err = np.nan_to_num(points["flux_err"].to_numpy(float))
    flux = points["flux"].to_numpy(float)
    points = points.assign(
        date=mjd_to_datetime(points["mjd"]),
        # A log axis cannot show a bar reaching zero: clip the lower end at a tenth of the flux.
        lower=np.maximum(flux - err, flux * 0.1),
        upper=flux + err,
    )
    return points[list(POINT_COLUMNS)].reset_index(drop=True)


def _errorbars(frame: pd.DataFrame, x: str = "date") -> hv.ErrorBars:
    """Asymmetric error bars from the ``lower``/``upper`` ends of each point."""
    bars = frame.assign(neg=frame["flux"] - frame["lower"], pos=frame["upper"] - frame["flux"])
    return hv.ErrorBars(bars, kdims=[x], vdims=["flux", "neg", "pos"])


def _hover(extra: list[tuple[str, str]]) -> HoverTool:
    tips = [("OBS_ID", "@obs_id"), ("date", "@date{%F}"), *extra]
    return HoverTool(tooltips=tips, formatters={"@date": "datetime"})


def _date_range(mjd: np.ndarray, extra) -> tuple | None:
    """Dates shown: every point and epoch, padded by 5% and never narrower than a year (one detection)."""
    mjd = np.concatenate([mjd[np.isfinite(mjd)], np.asarray(extra or [], float)])
    if mjd.size == 0:
        return None
    pad = max(0.05 * (mjd.max() - mjd.min()), 182.0)
    lo, hi = mjd_to_datetime([mjd.min() - pad, mjd.max() + pad])
    return (lo, hi)


def longterm_plot(
    points: pd.DataFrame,
    band: int = 8,
    highlight_epochs: list[float] | None = None,
    selected_obs: str | None = None,
    height: int = 320,
) -> hv.Overlay:
    """Flux vs date on a log axis: XMM detections (the first layer, tappable), upper limits as
    downward arrows, other missions with their own markers, highlighted epochs as dashed lines.

    The XMM detections Scatter carries ``obs_id`` so a Selection1D/Tap stream on it selects an
    observation; its index is the row order of XMM detections in ``points``.
    """
    vdims = ["flux", "flux_err", "lower", "upper", "obs_id", "sum_flag", "mission"]
    ylabel = f"Flux {band_label(band)} (erg/cm²/s)"
    xmm = points[(points["mission"] == "XMM") & ~points["upper_limit"]]
    marker, colour = MISSION_STYLE["XMM"]
    scatter = hv.Scatter(xmm, kdims=["date"], vdims=vdims, label="XMM-Newton").opts(
        marker=marker,
        color=colour,
        size=9,
        line_color="white",
        tools=[_hover([("flux", "@flux{0.00e} ± @flux_err{0.0e}"), ("SUM_FLAG", "@sum_flag")]), "tap"],
        nonselection_alpha=0.35,
        selection_color=colour,
    )
    layers: list = [_errorbars(xmm).opts(color=colour, lower_head=None, upper_head=None, line_width=1.5)]
    if selected_obs is not None and (xmm["obs_id"] == selected_obs).any():
        chosen = xmm[xmm["obs_id"] == selected_obs]
        layers.append(
            hv.Scatter(chosen, kdims=["date"], vdims=["flux"], label="selected observation").opts(
                marker="circle", size=17, fill_alpha=0, line_color="#ef4444", line_width=2.5
            )
        )
    limits = points[points["upper_limit"]]
    for mission in limits["mission"].unique():
        lim = limits[limits["mission"] == mission]
        label = f"{mission} upper limit" + (" (→ XMM 0.2–12 keV)" if mission != "XMM" else "")
        colour_l = UPPER_LIMIT_COLOUR if mission == "XMM" else MISSION_STYLE.get(mission, ("", "#cbd5e1"))[1]
        tip = lim.assign(tip=lim["flux"] * ARROW_FACTOR, date_end=lim["date"])
        layers.append(hv.Segments(tip, kdims=["date", "flux", "date_end", "tip"]).opts(color=colour_l, line_width=1.5))
        layers.append(
            hv.Scatter(lim, kdims=["date"], vdims=["flux", "obs_id", "mission"]).opts(
                marker="dash", size=12, color=colour_l, line_width=2
            )
        )
        layers.append(
            hv.Scatter(tip, kdims=["date"], vdims=["tip", "flux", "obs_id", "mission"], label=label).opts(
                marker="inverted_triangle",
                size=9,
                color=colour_l,
                tools=[_hover([("mission", "@mission"), ("3σ upper limit", "@flux{0.00e}")])],
            )
        )
    detected = points[~points["upper_limit"] & (points["mission"] != "XMM")]
    for mission in detected["mission"].unique():
        pts = detected[detected["mission"] == mission]
        marker, colour_m = MISSION_STYLE.get(mission, ("circle_x", "#cbd5e1"))
        layers.append(_errorbars(pts).opts(color=colour_m, lower_head=None, upper_head=None))
        layers.append(
            hv.Scatter(pts, kdims=["date"], vdims=vdims, label=f"{mission} (→ XMM 0.2–12 keV)").opts(
                marker=marker,
                size=8,
                color=colour_m,
                tools=[_hover([("mission", "@mission (converted)"), ("flux", "@flux{0.00e} ± @flux_err{0.0e}")])],
            )
        )
    for mjd in highlight_epochs or []:
        layers.append(hv.VLine(mjd_to_datetime([mjd])[0]).opts(color="#ef4444", line_dash="dashed", line_width=1.5))
    overlay = hv.Overlay([scatter, *layers]).opts(
        hv.opts.Overlay(
            xlim=_date_range(points["mjd"].to_numpy(float), highlight_epochs),
            logy=True,
            responsive=True,
            height=height,
            xlabel="Date (UTC)",
            ylabel=ylabel,
            legend_position="right",
            yformatter="%.1e",
            show_grid=True,
            title="",
        )
    )
    return overlay


def observation_lightcurve_plot(curves: dict, height: int = 300) -> hv.Overlay:
    """Rate (count/s) vs seconds since the earliest camera start, per camera, with ±1σ errors
    and the scaled background (dashed). Gaps are NaN, so lines break there instead of dropping to 0.

    ``curves`` maps camera (PN/M1/M2) to a ``Lightcurve`` (already rebinned).
    """
    t0 = min(float(lc.time[0]) for lc in curves.values()) if curves else 0.0
    layers = []
    for camera, lc in curves.items():
        name, colour = CAMERA_STYLE.get(camera, (camera, "#cbd5e1"))
        frame = pd.DataFrame(
            {"t": lc.time - t0, "rate": lc.rate, "error": lc.error, "background": lc.background, "fracexp": lc.fracexp}
        )
        layers.append(
            hv.Curve(frame, "t", "rate", label=name).opts(color=colour, line_width=1.5, interpolation="steps-mid")
        )
        layers.append(
            hv.ErrorBars(frame, "t", ["rate", "error"]).opts(color=colour, lower_head=None, upper_head=None, alpha=0.6)
        )
        layers.append(
            hv.Curve(frame, "t", "background", label=f"{name} background").opts(
                color=colour, line_dash="dashed", alpha=0.6, interpolation="steps-mid"
            )
        )
    if not layers:
        layers.append(hv.Curve([], "t", "rate"))
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(
            responsive=True,
            height=height,
            xlabel="Time since start (s)",
            ylabel="Rate (count/s)",
            legend_position="top_right",
            show_grid=True,
            title="",
        )
    )
