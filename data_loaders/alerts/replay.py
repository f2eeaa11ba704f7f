"""Alert-rate estimates: replay a time window as the real-time pipeline would have seen it; monthly rates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_loaders.alerts.compute import compute_alerts
from data_loaders.alerts.criteria import ALERT_TYPES, DEFAULT_PRESET, STONKS_TYPES

_MJD_UNIX_EPOCH = 40587.0  # MJD of 1970-01-01
DAYS_PER_MONTH = 365.25 / 12
#: STONKS' published rate, all 483 EPIC imaging observations of 2021: 0.7 (+0.7/-0.5) alerts per day
#: (Quintin et al. 2024, A&A 687, A250): (value, low, high).
STONKS_ALERTS_PER_DAY = (0.7, 0.2, 1.4)
STONKS_OBSERVATIONS_2021 = 483


def stonks_per_observation() -> tuple[float, float, float]:
    """STONKS' published rate as alerts per observation, (value, low, high): 0.53 (0.15-1.06)."""
    v, lo, hi = (r * 365.0 / STONKS_OBSERVATIONS_2021 for r in STONKS_ALERTS_PER_DAY)
    return v, lo, hi


def mjd_to_datetime(mjd: np.ndarray | pd.Series) -> pd.DatetimeIndex:
    """MJD (UTC-ish, days) to pandas datetimes."""
    return pd.to_datetime((np.asarray(mjd, dtype=np.float64) - _MJD_UNIX_EPOCH) * 86400.0, unit="s")


def known_before(
    detections: pd.DataFrame, longterm: pd.DataFrame | None, end_mjd: float
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """What the pipeline knew at ``end_mjd``: detections with MJD_START and long-term points with MJD before it."""
    d_mjd = pd.to_numeric(detections["MJD_START"], errors="coerce")
    known = detections.loc[(d_mjd < end_mjd).to_numpy()]
    lt_known = None
    if longterm is not None:
        lt_known = longterm.loc[(pd.to_numeric(longterm["MJD"], errors="coerce") < end_mjd).to_numpy()]
    return known, lt_known


def replay_alerts(
    detections: pd.DataFrame,
    longterm: pd.DataFrame | None,
    start_mjd: float,
    end_mjd: float,
    preset: str = DEFAULT_PRESET,
    factor: float | None = None,
    confidence: float | None = None,
) -> pd.DataFrame:
    """The alerts of detections with ``start_mjd <= MJD_START < end_mjd``, knowing only what came before ``end_mjd``."""
    if not end_mjd > start_mjd:
        raise ValueError(f"empty window: start {start_mjd} >= end {end_mjd}")
    known, lt_known = known_before(detections, longterm, end_mjd)
    alerts = compute_alerts(known, lt_known, since_mjd=None, preset=preset, factor=factor, confidence=confidence)
    return alerts.loc[(alerts["MJD"] >= start_mjd).to_numpy()]


def replay_rate(
    detections: pd.DataFrame,
    longterm: pd.DataFrame | None,
    start_mjd: float,
    end_mjd: float,
    preset: str = DEFAULT_PRESET,
    factor: float | None = None,
    confidence: float | None = None,
) -> pd.DataFrame:
    """Alert counts per type for detections with ``start_mjd <= MJD_START < end_mjd``.

    Replays the window as if the pipeline ran once at ``end_mjd``: the history it knows is every
    detection with MJD_START < end_mjd and every long-term point with MJD < end_mjd (nothing from
    the future); each window detection is compared with all of that (including the other window
    detections). Returns one row per alert type plus ``"any"`` (distinct detections with at least
    one alert), with N_ALERTS, N_SOURCES, N_DETECTIONS (in the window), DAYS, PER_DAY and
    PER_MONTH (30.44 days). ``attrs`` carries the window and the criterion.
    """
    alerts = replay_alerts(detections, longterm, start_mjd, end_mjd, preset, factor, confidence)
    return rate_table(alerts, detections, start_mjd, end_mjd)


def rate_table(alerts: pd.DataFrame, detections: pd.DataFrame, start_mjd: float, end_mjd: float) -> pd.DataFrame:
    """:func:`replay_rate`'s table from the window's alerts (:func:`replay_alerts`) and the detections."""
    d_mjd = pd.to_numeric(detections["MJD_START"], errors="coerce")
    in_window = int(((d_mjd >= start_mjd) & (d_mjd < end_mjd)).sum())
    days = float(end_mjd - start_mjd)
    counts = alerts.groupby("ALERT_TYPE").agg(N_ALERTS=("ALERT_ID", "size"), N_SOURCES=("SRCID", "nunique"))
    counts = counts.reindex(list(ALERT_TYPES), fill_value=0)
    out = pd.DataFrame(
        {
            "ALERT_TYPE": list(ALERT_TYPES) + ["any"],
            "STONKS_TYPE": [STONKS_TYPES[t] for t in ALERT_TYPES] + ["any"],
            "N_ALERTS": np.append(counts["N_ALERTS"].to_numpy(), alerts["DETID"].nunique()),
            "N_SOURCES": np.append(counts["N_SOURCES"].to_numpy(), alerts["SRCID"].nunique()),
        }
    )
    out["N_ALERTS"] = out["N_ALERTS"].astype(np.int64)
    out["N_SOURCES"] = out["N_SOURCES"].astype(np.int64)
    out["N_DETECTIONS"] = in_window
    out["DAYS"] = days
    out["PER_DAY"] = out["N_ALERTS"] / days
    out["PER_MONTH"] = out["PER_DAY"] * DAYS_PER_MONTH
    out.attrs.update(alerts.attrs)
    out.attrs.update({"start_mjd": float(start_mjd), "end_mjd": float(end_mjd)})
    return out


def monthly_rate(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alerts per calendar month and type (long format: MONTH, ALERT_TYPE, N_ALERTS), zero-filled.

    MONTH is the month's first day (datetime64); every month between the first and last alert
    and every alert type appear, so the frame plots directly as a rate chart.
    """
    cols = ["MONTH", "ALERT_TYPE", "N_ALERTS"]
    mjd = pd.to_numeric(alerts["MJD"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(mjd)
    if not ok.any():
        dtypes = ["datetime64[ns]", "str", "int64"]
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(cols, dtypes, strict=True)})
    month = mjd_to_datetime(mjd[ok]).to_period("M")
    frame = pd.DataFrame({"MONTH": month, "ALERT_TYPE": alerts["ALERT_TYPE"].to_numpy()[ok]})
    counts = frame.groupby(["MONTH", "ALERT_TYPE"]).size()
    months = pd.period_range(month.min(), month.max(), freq="M")
    full = pd.MultiIndex.from_product([months, list(ALERT_TYPES)], names=["MONTH", "ALERT_TYPE"])
    counts = counts.reindex(full, fill_value=0).rename("N_ALERTS").reset_index()
    counts["MONTH"] = counts["MONTH"].dt.to_timestamp()
    counts["ALERT_TYPE"] = counts["ALERT_TYPE"].astype("str")
    counts["N_ALERTS"] = counts["N_ALERTS"].astype(np.int64)
    return counts[cols]
