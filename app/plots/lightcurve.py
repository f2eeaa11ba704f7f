"""Lightcurve data for plots: a source's long-term flux history (points, styles, date range)."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def log_ticks(values: np.ndarray) -> list[float] | int:
    """Ticks for a log flux axis: the decades spanned; 2x and 5x under two decades, 2x..7x under one.

    Bokeh's own log ticks label every mantissa inside a decade (1e-12, 1.5e-12, 2e-12, ...), and
    in a narrow panel those labels collide.
    """
    v = values[np.isfinite(values) & (values > 0)]
    if v.size == 0:
        return 4
    lo, hi = int(np.floor(np.log10(v.min()))), int(np.ceil(np.log10(v.max())))
    span = np.log10(v.max() / v.min())
    steps = (1.0,) if span >= 2 else (1.0, 2.0, 5.0) if span >= 1 else (1.0, 2.0, 3.0, 5.0, 7.0)
    return [m * 10.0**k for k in range(lo, hi + 1) for m in steps]


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


def _date_range(mjd: np.ndarray, extra) -> tuple | None:
    """Dates shown: every point and epoch, padded by 5% and never narrower than a year (one detection)."""
    mjd = np.concatenate([mjd[np.isfinite(mjd)], np.asarray(extra or [], float)])
    if mjd.size == 0:
        return None
    pad = max(0.05 * (mjd.max() - mjd.min()), 182.0)
    lo, hi = mjd_to_datetime([mjd.min() - pad, mjd.max() + pad])
    return (lo, hi)
