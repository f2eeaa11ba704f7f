"""Vectorised alert computation: every detection against all other epochs of its source."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_loaders.alerts.criteria import (
    ALERT_TYPES,
    SHORT_TERM_CHI2PROB,
    STONKS_TYPES,
    Criteria,
    low_high,
    resolve_criteria,
    significant,
)
from data_loaders.alerts.history import FLUX_COL, FLUX_ERR_COL, build_points
from data_loaders.alerts.ids import alert_ids

#: Output columns, in order (EP_CHI2PROB is an extra for short-term alerts).
ALERT_COLUMNS = (
    "ALERT_ID",
    "SRCID",
    "DETID",
    "OBS_ID",
    "MJD",
    "ALERT_TYPE",
    "RATIO",
    "RATIO_LOW",
    "FACTOR",
    "CONFIDENCE",
    "PRESET",
    "MJD_COMPARED",
    "FLUX",
    "FLUX_ERR",
    "COMPARED_FLUX",
    "COMPARED_IS_UPPER_LIMIT",
    "COMPARED_MISSION",
    "STONKS_TYPE",
    "EP_CHI2PROB",
)
_TYPE_RANK = {t: i for i, t in enumerate(ALERT_TYPES)}


def _group_codes(srcid: np.ndarray) -> np.ndarray:
    """0..G-1 codes of a SRCID array that is already sorted."""
    if srcid.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(srcid[1:] != srcid[:-1])]).astype(np.int64)


def _other_extreme(group: np.ndarray, values: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per row: min (or max) of ``values`` over the OTHER rows of its group, and that row (-1: none).

    ``group`` must be sorted (contiguous codes 0..G-1). Non-finite values never win; ties go to
    the lower row number (rows are in a deterministic order), so equal epochs or equal fluxes
    give the same answer on every run. Top-2 per group with ``reduceat``: O(n), no loop.
    """
    n = values.size
    idx = np.arange(n)
    if n == 0:
        return np.full(0, np.nan), np.full(0, -1, dtype=np.int64)
    valid = np.isfinite(values)
    key = np.where(valid, values if kind == "min" else -values, np.inf)
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))

    def first_best(k: np.ndarray) -> np.ndarray:
        best = np.minimum.reduceat(k, starts)
        at = np.minimum.reduceat(np.where(k == best[group], idx, n), starts)
        return np.where(np.isfinite(best), at, -1)

    first = first_best(key)
    f = first[group]
    key2 = key.copy()
    key2[first[first >= 0]] = np.inf
    s = first_best(key2)[group]
    pick = np.where(f == idx, s, f)
    ok = pick >= 0
    val = np.full(n, np.nan)
    val[ok] = values[pick[ok]]
    return val, np.where(ok, pick, -1)


def _earlier_stats(
    group: np.ndarray, mjd: np.ndarray, measured: np.ndarray, ul_value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row (rows sorted by group, MJD): number of measured points strictly earlier, the deepest
    strictly-earlier upper limit and its row (-1: none). Points at the same MJD are not earlier."""
    n = mjd.size
    idx = np.arange(n)
    if n == 0:
        return np.zeros(0, np.int64), np.full(0, np.inf), np.full(0, -1, np.int64)
    new_group = np.concatenate([[True], group[1:] != group[:-1]])
    new_block = new_group | np.concatenate([[True], mjd[1:] != mjd[:-1]])
    gstart = np.maximum.accumulate(np.where(new_group, idx, 0))
    bstart = np.maximum.accumulate(np.where(new_block, idx, 0))
    cs = np.concatenate([[0], np.cumsum(measured)])
    n_earlier = cs[bstart] - cs[gstart]

    ul = pd.Series(np.where(np.isfinite(ul_value), ul_value, np.inf))
    cummin = ul.groupby(group).cummin().to_numpy()
    prev = np.where(new_group, np.inf, np.concatenate([[np.inf], cummin[:-1]]))
    record = ul.to_numpy() < prev
    arg = pd.Series(np.where(record, idx, -1)).groupby(group).cummax().to_numpy()
    has_earlier = bstart > gstart
    last = np.maximum(bstart - 1, 0)
    min_ul = np.where(has_earlier, cummin[last], np.inf)
    min_arg = np.where(has_earlier & np.isfinite(min_ul), arg[last], -1)
    return n_earlier, min_ul, min_arg


def _as_str(s: pd.Series) -> np.ndarray:
    return s.astype(str).str.strip().to_numpy(dtype=object)


def compute_alerts(
    detections: pd.DataFrame,
    longterm: pd.DataFrame | None = None,
    *,
    since_mjd: float | None = None,
    preset: str = "seed",
    factor: float | None = None,
    confidence: float | None = None,
    mission_factors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Transient/variability alerts, one row per alert (columns :data:`ALERT_COLUMNS`).

    Default preset ``seed``: factor 3 with 90% two-sided error bars (1-sigma errors x 1.645), the
    SSC seed's example. ``stonks``: factor 5 with 1-sigma errors (Quintin et al. 2024).
    ``factor`` / ``confidence`` (two-sided, e.g. 0.9) override the preset's values. Upper limits
    (3-sigma, long-term table) are used as given by every preset.

    Which detections: all of them, or those with ``MJD_START > since_mjd``. Each is compared with
    ALL OTHER epochs of its source present in the inputs, before and after it (other XMM
    detections, XMM upper limits, other missions' points harmonised with
    :func:`~data_loaders.alerts.history.build_points`). A real-time run passes only what was
    known at the time (see :func:`~data_loaders.alerts.replay.replay_rate`).

    With ``lo = F - k*err``, ``hi = F + k*err`` (an upper limit: ``hi`` = the limit, no ``lo``):

    - ``up``: ``lo_d / min(hi of other epochs) > factor`` (STONKS High-state formula);
      ``down``: ``max(lo of other epochs) / hi_d > factor`` (Low-state formula).
    - ``rising``: ``up`` and F_d is the highest measured flux of the source (brighter than all
      history). ``falling``: ``down`` and F_d the lowest measured flux. ``long_term_variable``:
      ``up`` or ``down`` but the detection is neither extreme, i.e. the history changed both
      ways. The three are exclusive. RATIO compares with the point that gives the largest
      RATIO_LOW (for long_term_variable, the larger of the two directions).
    - ``new_source``: no measured point (any mission) strictly before MJD_START and
      ``lo_d / (deepest earlier upper limit) > factor``; it replaces ``rising`` for that detection.
    - ``short_term_variable``: ``EP_CHI2PROB <= 1e-5`` or ``VAR_FLAG``; it needs no history and no
      flux (FLUX may be null in that row).

    NaN fluxes/errors/epochs are ignored (never alerted on, never compared with). Equal epochs are
    "other epochs" for the ratios but not "earlier" for new_source; ties resolve by a
    deterministic point order. Output sorted by MJD, SRCID, DETID, type; ALERT_ID depends only on
    SRCID, DETID, ALERT_TYPE and PRESET. ``DataFrame.attrs`` holds the criterion metadata.
    """
    crit = resolve_criteria(preset, factor, confidence)
    det = detections.reset_index(drop=True)
    pts = build_points(det, longterm, mission_factors)
    names = np.array(pts.attrs["missions"], dtype=object)

    src = pts["SRCID"].to_numpy()
    mjd = pts["MJD"].to_numpy()
    flux = pts["FLUX"].to_numpy()
    err = pts["FLUX_ERR"].to_numpy()
    ul = pts["UPPER_LIMIT"].to_numpy()
    det_row = pts["DET_ROW"].to_numpy()
    group = _group_codes(src)
    lo, hi = low_high(flux, err, ul, crit.sigma)
    measured_flux = np.where(ul, np.nan, flux)

    min_hi, min_hi_at = _other_extreme(group, hi, "min")
    max_lo, max_lo_at = _other_extreme(group, np.where(ul, np.nan, lo), "max")
    # Is the detection the brightest (faintest) measurement of its source? Comparing with the group's
    # own extreme is the same as with the extreme of the other points (a tie counts as extreme, and a
    # source with no other measurement is its own extreme), at one reduceat instead of a top-2 pass.
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if group.size else np.zeros(0, np.intp)
    with np.errstate(invalid="ignore"):
        g_max = np.fmax.reduceat(measured_flux, starts)[group] if group.size else measured_flux
        g_min = np.fmin.reduceat(measured_flux, starts)[group] if group.size else measured_flux
    n_earlier, min_ul, min_ul_at = _earlier_stats(group, mjd, ~ul, np.where(ul, flux, np.inf))

    cand = det_row >= 0
    if since_mjd is not None:
        cand &= mjd > since_mjd
    up = cand & significant(lo, min_hi, crit.factor)
    down = cand & significant(max_lo, hi, crit.factor)
    is_max = flux >= g_max  # candidates are measurements: finite flux, so the group's extreme is finite
    is_min = flux <= g_min
    rising = up & is_max
    falling = down & is_min
    ltv = (up | down) & ~rising & ~falling
    new_source = cand & (n_earlier == 0) & significant(lo, min_ul, crit.factor)
    rising &= ~new_source

    with np.errstate(divide="ignore", invalid="ignore"):
        up_low = lo / min_hi
        up_ratio = flux / flux[np.maximum(min_hi_at, 0)]  # an upper limit's FLUX is the limit
        down_low = max_lo / hi
        down_ratio = flux[np.maximum(max_lo_at, 0)] / flux
        new_low = lo / min_ul
        new_ratio = flux / min_ul

    frames = []

    def add(mask: np.ndarray, atype: str, ratio, ratio_low, cmp_at) -> None:
        rows = np.flatnonzero(mask)
        cmp = np.asarray(cmp_at)[rows]
        frames.append(
            pd.DataFrame(
                {
                    "_PT": rows,
                    "_DET": det_row[rows],
                    "ALERT_TYPE": atype,
                    "RATIO": np.asarray(ratio)[rows],
                    "RATIO_LOW": np.asarray(ratio_low)[rows],
                    "MJD_COMPARED": mjd[cmp],
                    "COMPARED_FLUX": flux[cmp],
                    "COMPARED_IS_UPPER_LIMIT": ul[cmp],
                    "COMPARED_MISSION": names[pts["MISSION_CODE"].to_numpy()[cmp]],
                    "FLUX": flux[rows],
                    "FLUX_ERR": err[rows],
                }
            )
        )

    add(rising, "rising", up_ratio, up_low, min_hi_at)
    add(falling, "falling", down_ratio, down_low, max_lo_at)
    ltv_up = np.nan_to_num(up_low, nan=-np.inf) >= np.nan_to_num(down_low, nan=-np.inf)
    add(
        ltv,
        "long_term_variable",
        np.where(ltv_up & up, up_ratio, down_ratio),
        np.where(ltv_up & up, up_low, down_low),
        np.where(ltv_up & up, min_hi_at, max_lo_at),
    )
    add(new_source, "new_source", new_ratio, new_low, min_ul_at)

    # Short-term: straight from the detection table (no flux needed).
    d_mjd = pd.to_numeric(det["MJD_START"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    st = np.zeros(len(det), dtype=bool)
    if "EP_CHI2PROB" in det.columns:
        chi = pd.to_numeric(det["EP_CHI2PROB"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            st |= chi <= SHORT_TERM_CHI2PROB
    else:
        chi = np.full(len(det), np.nan)
    if "VAR_FLAG" in det.columns:
        st |= det["VAR_FLAG"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    if since_mjd is not None:
        st &= d_mjd > since_mjd
    srows = np.flatnonzero(st)
    d_flux = pd.to_numeric(det[FLUX_COL], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    d_err = pd.to_numeric(det[FLUX_ERR_COL], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    short = pd.DataFrame(
        {
            "_PT": -1,
            "_DET": srows,
            "ALERT_TYPE": "short_term_variable",
            "RATIO": np.nan,
            "RATIO_LOW": np.nan,
            "MJD_COMPARED": np.nan,
            "COMPARED_FLUX": np.nan,
            "COMPARED_IS_UPPER_LIMIT": pd.array([pd.NA] * srows.size, dtype="boolean"),
            "COMPARED_MISSION": pd.array([None] * srows.size, dtype="str"),
            "FLUX": d_flux[srows],
            "FLUX_ERR": d_err[srows],
        }
    )
    return _assemble(frames, short, det, d_mjd, chi, crit)


def _assemble(
    frames: list[pd.DataFrame],
    short: pd.DataFrame,
    det: pd.DataFrame,
    d_mjd: np.ndarray,
    chi: np.ndarray,
    crit: Criteria,
) -> pd.DataFrame:
    """Concatenate per-type frames, attach detection identity, IDs and metadata, sort."""
    for f in frames:
        f["COMPARED_IS_UPPER_LIMIT"] = f["COMPARED_IS_UPPER_LIMIT"].astype("boolean")
        f["COMPARED_MISSION"] = f["COMPARED_MISSION"].astype("str")
    out = pd.concat([*frames, short], ignore_index=True)
    rows = out["_DET"].to_numpy(dtype=np.int64)
    out["SRCID"] = det["SRCID"].to_numpy(dtype=np.int64)[rows]
    out["DETID"] = det["DETID"].to_numpy(dtype=np.int64)[rows]
    out["OBS_ID"] = pd.array(_as_str(det["OBS_ID"])[rows], dtype="str")
    out["MJD"] = d_mjd[rows]
    out["EP_CHI2PROB"] = chi[rows]
    out["FACTOR"] = crit.factor
    out["CONFIDENCE"] = crit.confidence
    out["PRESET"] = pd.array([crit.preset] * len(out), dtype="str")
    out["STONKS_TYPE"] = pd.array(out["ALERT_TYPE"].map(STONKS_TYPES).to_numpy(), dtype="str")
    ids = np.empty(len(out), dtype="U16")
    for atype in ALERT_TYPES:  # five types, not a loop over data
        m = (out["ALERT_TYPE"] == atype).to_numpy()
        if m.any():
            ids[m] = alert_ids(out["SRCID"].to_numpy()[m], out["DETID"].to_numpy()[m], atype, crit.preset)
    out["ALERT_ID"] = pd.array(ids, dtype="str")
    out["ALERT_TYPE"] = pd.array(out["ALERT_TYPE"].to_numpy(), dtype="str")
    rank = out["ALERT_TYPE"].map(_TYPE_RANK).to_numpy()
    mjd_key = np.nan_to_num(out["MJD"].to_numpy(), nan=np.inf)
    order = np.lexsort((rank, out["DETID"].to_numpy(), out["SRCID"].to_numpy(), mjd_key))
    out = out.iloc[order].reset_index(drop=True)[list(ALERT_COLUMNS)]
    for c in (
        "RATIO",
        "RATIO_LOW",
        "FACTOR",
        "CONFIDENCE",
        "MJD_COMPARED",
        "FLUX",
        "FLUX_ERR",
        "COMPARED_FLUX",
        "MJD",
        "EP_CHI2PROB",
    ):
        out[c] = out[c].astype(np.float64)
    out.attrs.update(crit.metadata())
    return out
