"""Alert computation on hand-built histories with known answers (every type and edge case)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_loaders.alerts import (
    ALERT_COLUMNS,
    DEFAULT_PRESET,
    PRESETS,
    build_points,
    compute_alerts,
    resolve_criteria,
)
from data_loaders.alerts.ids import alert_ids


def detections(rows: list[dict]) -> pd.DataFrame:
    """A detection table from dicts with SRCID, DETID, MJD_START, EP_8_FLUX, EP_8_FLUX_ERR (+ flags)."""
    frame = pd.DataFrame(rows)
    frame["OBS_ID"] = [f"{0:04d}{d:06d}" for d in frame["DETID"]]
    if "VAR_FLAG" not in frame:
        frame["VAR_FLAG"] = False
    frame["VAR_FLAG"] = frame["VAR_FLAG"].fillna(False).astype(bool)
    if "EP_CHI2PROB" not in frame:
        frame["EP_CHI2PROB"] = 0.5
    frame["EP_CHI2PROB"] = frame["EP_CHI2PROB"].astype(float).fillna(0.5)
    return frame


def det(srcid: int, detid: int, mjd: float, flux: float, err: float, **extra) -> dict:
    """One detection row."""
    return {"SRCID": srcid, "DETID": detid, "MJD_START": mjd, "EP_8_FLUX": flux, "EP_8_FLUX_ERR": err, **extra}


def longterm(rows: list[dict]) -> pd.DataFrame:
    """A long-term table (schema.LONGTERM_COLUMNS) from dicts."""
    frame = pd.DataFrame(rows)
    frame["BAND"] = "native"
    return frame


def lt(
    srcid: int, mission: str, mjd: float, flux: float, err: float = np.nan, *, upper: bool = False, obs_id: str = "lt"
) -> dict:
    """One long-term row (an upper limit when ``upper``)."""
    return {
        "SRCID": srcid,
        "MISSION": mission,
        "OBS_ID": obs_id,
        "MJD": mjd,
        "FLUX": flux,
        "FLUX_ERR": err,
        "UPPER_LIMIT": upper,
    }


def types_of(alerts: pd.DataFrame) -> dict[int, list[str]]:
    """DETID -> sorted list of its alert types."""
    return {int(k): sorted(v) for k, v in alerts.groupby("DETID")["ALERT_TYPE"].agg(list).items()}


SIG90 = 1.6448536269514722


# --- no history ----------------------------------------------------------------------------------


def test_single_detection_without_history_raises_no_alert():
    alerts = compute_alerts(detections([det(1, 10, 55000.0, 1e-13, 1e-15)]))
    assert len(alerts) == 0
    assert list(alerts.columns) == list(ALERT_COLUMNS)


def test_no_alert_for_a_constant_source():
    d = detections([det(1, 10, 55000.0, 1.0, 0.1), det(1, 11, 56000.0, 1.2, 0.1)])
    assert len(compute_alerts(d)) == 0


# --- new source above earlier upper limits -------------------------------------------------------


def test_upper_limits_then_detection_is_a_new_source():
    d = detections([det(1, 10, 58000.0, 10.0, 0.5)])
    hist = longterm(
        [
            lt(1, "XMM", 55000.0, 2.0 * 0.999, upper=True),
            lt(1, "XMM", 56000.0, 1.0 * 0.999, upper=True),
        ]
    )
    alerts = compute_alerts(d, hist)
    assert types_of(alerts) == {10: ["new_source"]}  # not also "rising"
    row = alerts.iloc[0]
    assert row["STONKS_TYPE"] == "First Detection"
    assert row["MJD_COMPARED"] == 56000.0  # the deepest earlier limit
    assert row["COMPARED_FLUX"] == pytest.approx(1.0)
    assert bool(row["COMPARED_IS_UPPER_LIMIT"]) is True
    assert row["COMPARED_MISSION"] == "XMM"
    assert row["RATIO"] == pytest.approx(10.0)
    assert row["RATIO_LOW"] == pytest.approx(10.0 - SIG90 * 0.5)


def test_detection_below_the_earlier_limit_raises_no_alert():
    d = detections([det(1, 10, 58000.0, 1.0, 0.1)])
    hist = longterm([lt(1, "XMM", 55000.0, 2.0, upper=True)])
    assert len(compute_alerts(d, hist)) == 0


def test_new_source_needs_no_earlier_detection():
    # Earlier Chandra detection: the XMM detection is a rise, not a first detection.
    d = detections([det(1, 10, 58000.0, 10.0, 0.1)])
    hist = longterm(
        [
            lt(1, "Chandra", 54000.0, 0.69, 0.0069),
            lt(1, "XMM", 55000.0, 1.0, upper=True),
        ]
    )
    assert types_of(compute_alerts(d, hist)) == {10: ["rising"]}


def test_later_upper_limit_is_not_earlier_for_new_source():
    d = detections([det(1, 10, 58000.0, 10.0, 0.1)])
    hist = longterm([lt(1, "XMM", 59000.0, 0.999, upper=True)])
    alerts = compute_alerts(d, hist)
    # Compared with all epochs it is a high state; it is not a first detection above EARLIER limits.
    assert types_of(alerts) == {10: ["rising"]}
    assert alerts.iloc[0]["MJD_COMPARED"] == 59000.0


# --- significance with error bars ----------------------------------------------------------------


def test_factor_4_with_large_errors_is_not_significant_but_factor_10_is():
    big = detections([det(1, 10, 55000.0, 1.0, 0.2), det(1, 11, 56000.0, 4.0, 0.8)])
    assert len(compute_alerts(big)) == 0  # (4 - 1.645*0.8) / (1 + 1.645*0.2) = 2.02 < 3
    ten = detections([det(1, 10, 55000.0, 1.0, 0.2), det(1, 11, 56000.0, 10.0, 2.0)])
    alerts = compute_alerts(ten)
    assert types_of(alerts) == {10: ["falling"], 11: ["rising"]}
    rise = alerts.loc[alerts["ALERT_TYPE"] == "rising"].iloc[0]
    assert rise["RATIO"] == pytest.approx(10.0)
    assert rise["RATIO_LOW"] == pytest.approx((10 - SIG90 * 2) / (1 + SIG90 * 0.2))
    assert rise["RATIO_LOW"] > 3.0


def test_factor_4_with_small_errors_alerts_under_seed_not_stonks():
    d = detections([det(1, 10, 55000.0, 1.0, 0.01), det(1, 11, 56000.0, 4.0, 0.04)])
    seed = compute_alerts(d)
    assert types_of(seed) == {10: ["falling"], 11: ["rising"]}
    assert set(seed["FACTOR"]) == {3.0} and set(seed["PRESET"]) == {"seed"}
    assert len(compute_alerts(d, preset="stonks")) == 0
    # The factor override applies to the preset.
    assert len(compute_alerts(d, factor=4.5)) == 0


def test_stonks_uses_one_sigma_errors():
    # 1 sigma: (6.5 - 0.3) / (1.0 + 0.05) = 5.9 > 5.
    d = detections([det(1, 10, 55000.0, 1.0, 0.05), det(1, 11, 56000.0, 6.5, 0.3)])
    alerts = compute_alerts(d, preset="stonks")
    rise = alerts.loc[alerts["ALERT_TYPE"] == "rising"].iloc[0]
    assert rise["RATIO_LOW"] == pytest.approx((6.5 - 0.3) / (1.0 + 0.05))
    assert rise["CONFIDENCE"] == pytest.approx(0.6827, abs=1e-4)
    assert rise["FACTOR"] == 5.0
    # With 99.99% errors (3.89 sigma): (6.5 - 1.17) / (1.0 + 0.19) = 4.5 < 5, no alert.
    assert len(compute_alerts(d, preset="stonks", confidence=0.9999)) == 0


# --- types ---------------------------------------------------------------------------------------


def test_rising_falling_and_long_term_variable():
    d = detections(
        [
            det(1, 10, 55000.0, 1.0, 0.01),
            det(1, 11, 56000.0, 10.0, 0.1),
            det(1, 12, 57000.0, 100.0, 1.0),
        ]
    )
    alerts = compute_alerts(d)
    assert types_of(alerts) == {10: ["falling"], 11: ["long_term_variable"], 12: ["rising"]}
    by_type = alerts.set_index("ALERT_TYPE")
    assert by_type.loc["rising", "MJD_COMPARED"] == 55000.0  # compared with the faintest state
    assert by_type.loc["rising", "RATIO"] == pytest.approx(100.0)
    assert by_type.loc["falling", "MJD_COMPARED"] == 57000.0  # with the brightest
    assert by_type.loc["falling", "RATIO"] == pytest.approx(100.0)
    assert by_type.loc["long_term_variable", "STONKS_TYPE"] == "Past Variability"
    assert by_type.loc["long_term_variable", "RATIO"] == pytest.approx(10.0)
    assert by_type.loc["rising", "STONKS_TYPE"] == "High Flux State"
    assert by_type.loc["falling", "STONKS_TYPE"] == "Low Flux State"


def test_falling_below_an_earlier_detection_but_not_an_upper_limit():
    d = detections([det(1, 10, 55000.0, 10.0, 0.1), det(1, 11, 56000.0, 1.0, 0.01)])
    alerts = compute_alerts(d)
    assert types_of(alerts) == {10: ["rising"], 11: ["falling"]}
    # An upper limit cannot make a detection "fall": it has no low end.
    only_ul = compute_alerts(
        detections([det(1, 11, 56000.0, 1.0, 0.01)]),
        longterm([lt(1, "XMM", 55000.0, 100.0, upper=True)]),
    )
    assert len(only_ul) == 0


def test_short_term_variable_from_var_flag_and_chi2prob():
    d = detections(
        [
            det(1, 10, 55000.0, 1.0, 0.1, VAR_FLAG=True),
            det(2, 20, 55000.0, 1.0, 0.1, EP_CHI2PROB=1e-5),
            det(3, 30, 55000.0, 1.0, 0.1, EP_CHI2PROB=2e-5),
            det(4, 40, 55000.0, float("nan"), float("nan"), EP_CHI2PROB=1e-9),
        ]
    )
    alerts = compute_alerts(d)
    assert types_of(alerts) == {10: ["short_term_variable"], 20: ["short_term_variable"], 40: ["short_term_variable"]}
    assert set(alerts["STONKS_TYPE"]) == {"Short-term Variable Detection"}
    assert alerts["RATIO"].isna().all() and alerts["COMPARED_MISSION"].isna().all()


# --- other missions ------------------------------------------------------------------------------


def test_other_mission_points_are_harmonised_with_the_factor():
    # eROSITA 0.39 in its own band = 1.0 in XMM 0.2-12 keV; XMM 5.0 is a factor 5 (not 12.8).
    d = detections([det(1, 10, 59000.0, 5.0, 0.05)])
    hist = longterm([lt(1, "eROSITA", 58900.0, 0.39, 0.0039)])
    alerts = compute_alerts(d, hist)
    assert types_of(alerts) == {10: ["rising"]}
    row = alerts.iloc[0]
    assert row["COMPARED_MISSION"] == "eROSITA"
    assert row["COMPARED_FLUX"] == pytest.approx(1.0)
    assert row["RATIO"] == pytest.approx(5.0)
    assert bool(row["COMPARED_IS_UPPER_LIMIT"]) is False
    # Chandra 2.76 -> 4.0: a factor 1.25, no alert.
    assert len(compute_alerts(d, longterm([lt(1, "Chandra", 58900.0, 2.76, 0.01)]))) == 0


def test_duplicate_xmm_longterm_point_of_a_detection_is_ignored():
    d = detections([det(1, 10, 55000.0, 1.0, 0.01), det(1, 11, 56000.0, 10.0, 0.1)])
    dup = longterm([lt(1, "XMM", 55000.0, 1.0, 0.01, obs_id=d.loc[0, "OBS_ID"])])
    pts = build_points(d, dup)
    assert len(pts) == 2
    assert compute_alerts(d, dup).equals(compute_alerts(d))


def test_unknown_mission_and_preset_are_errors():
    d = detections([det(1, 10, 55000.0, 1.0, 0.01)])
    with pytest.raises(ValueError, match="OM"):
        compute_alerts(d, longterm([lt(1, "OM", 55000.0, 1.0, 0.1)]))
    with pytest.raises(ValueError, match="unknown alert preset"):
        compute_alerts(d, preset="nope")
    with pytest.raises(ValueError, match="factor"):
        compute_alerts(d, factor=0.5)


# --- NaN, equal epochs, since --------------------------------------------------------------------


def test_nan_fluxes_are_ignored():
    d = detections(
        [
            det(1, 10, 55000.0, float("nan"), 0.1),
            det(1, 11, 56000.0, 10.0, 0.1),
            det(2, 20, 55000.0, 1.0, float("nan")),
            det(2, 21, 56000.0, 10.0, 0.1),
            det(3, 30, 55000.0, 1.0, 0.01),
            det(3, 31, 56000.0, float("nan"), float("nan")),
            det(3, 32, 57000.0, 10.0, 0.1),
        ]
    )
    hist = longterm([lt(2, "Swift", 54000.0, float("nan"), upper=True)])
    alerts = compute_alerts(d, hist)
    assert types_of(alerts) == {30: ["falling"], 32: ["rising"]}
    assert alerts["RATIO"].notna().all() and alerts["FLUX"].notna().all()


def test_equal_epochs_are_deterministic():
    rows = [
        det(1, 11, 55000.0, 10.0, 0.1),
        det(1, 10, 55000.0, 1.0, 0.01),
        det(2, 20, 56000.0, 10.0, 0.1),
    ]
    hist = longterm([lt(2, "XMM", 56000.0, 0.999, upper=True)])
    a = compute_alerts(detections(rows), hist)
    b = compute_alerts(detections(rows[::-1]), hist)
    pd.testing.assert_frame_equal(a, b)
    # Same-epoch pair: other epochs for the ratios; a same-MJD limit is not "earlier".
    assert types_of(a) == {10: ["falling"], 11: ["rising"], 20: ["rising"]}
    assert list(a["DETID"]) == [10, 11, 20]  # sorted by MJD, SRCID, DETID


def test_since_mjd_selects_new_detections_but_compares_with_all_history():
    d = detections(
        [
            det(1, 10, 55000.0, 1.0, 0.01),
            det(1, 11, 58000.0, 10.0, 0.1),
            det(2, 20, 55000.0, 1.0, 0.1, VAR_FLAG=True),
        ]
    )
    alerts = compute_alerts(d, since_mjd=57000.0)
    assert types_of(alerts) == {11: ["rising"]}
    assert alerts.iloc[0]["MJD_COMPARED"] == 55000.0


def test_metadata_states_the_default():
    alerts = compute_alerts(detections([det(1, 10, 55000.0, 1.0, 0.01)]))
    assert alerts.attrs["preset"] == "seed" and alerts.attrs["default_preset"] == "seed"
    assert alerts.attrs["factor"] == 3.0 and alerts.attrs["confidence"] == 0.9
    assert DEFAULT_PRESET == "seed" and PRESETS["seed"].sigma == pytest.approx(SIG90)
    assert PRESETS["stonks"].sigma == pytest.approx(1.0)
    assert resolve_criteria("stonks", factor=4).factor == 4.0


# --- identifiers ---------------------------------------------------------------------------------


def test_alert_ids_are_stable_and_unique():
    rows = [
        det(1, 10, 55000.0, 1.0, 0.01, VAR_FLAG=True),
        det(1, 11, 56000.0, 10.0, 0.1),
        det(2, 20, 56000.0, 1.0, 0.01),
        det(2, 21, 57000.0, 10.0, 0.1),
    ]
    a = compute_alerts(detections(rows))
    b = compute_alerts(detections(rows[::-1]).sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(a, b)
    assert a["ALERT_ID"].is_unique
    assert a["ALERT_ID"].str.fullmatch(r"[0-9a-f]{16}").all()
    # Depends on the preset name, not on the release or on the other rows.
    c = compute_alerts(detections(rows[:2]))
    assert set(c["ALERT_ID"]) <= set(a["ALERT_ID"])
    s = compute_alerts(detections(rows), preset="stonks")
    assert not set(s["ALERT_ID"]) & set(a["ALERT_ID"])
    assert (
        alert_ids(np.array([1]), np.array([11]), "rising", "seed")[0]
        == a.loc[a["DETID"].eq(11) & a["ALERT_TYPE"].eq("rising"), "ALERT_ID"].iloc[0]
    )


# --- cross-check against a per-detection reference loop ------------------------------------------


def _reference_types(d: pd.DataFrame, hist: pd.DataFrame, factor: float, k: float) -> dict:
    """The documented rules, written as a slow loop over detections (for the test only)."""
    pts = build_points(d, hist)
    out: dict[int, list[str]] = {}
    for i, p in pts.iterrows():
        if p["DETID"] < 0:
            continue
        others = pts.loc[(pts["SRCID"] == p["SRCID"]) & (pts.index != i)]
        meas = others.loc[~others["UPPER_LIMIT"]]
        his = np.where(others["UPPER_LIMIT"], others["FLUX"], others["FLUX"] + k * others["FLUX_ERR"])
        los = meas["FLUX"] - k * meas["FLUX_ERR"]
        lo, hi = p["FLUX"] - k * p["FLUX_ERR"], p["FLUX"] + k * p["FLUX_ERR"]
        up = len(his) > 0 and lo > factor * his.min()
        down = len(los) > 0 and los.max() > factor * hi
        is_max = len(meas) == 0 or p["FLUX"] >= meas["FLUX"].max()
        is_min = len(meas) == 0 or p["FLUX"] <= meas["FLUX"].min()
        earlier = others.loc[others["MJD"] < p["MJD"]]
        e_ul = earlier.loc[earlier["UPPER_LIMIT"], "FLUX"]
        new = (~earlier["UPPER_LIMIT"]).sum() == 0 and len(e_ul) > 0 and lo > factor * e_ul.min()
        types = []
        if up and is_max and not new:
            types.append("rising")
        if down and is_min:
            types.append("falling")
        if (up or down) and not (up and is_max) and not (down and is_min):
            types.append("long_term_variable")
        if new:
            types.append("new_source")
        if types:
            out[int(p["DETID"])] = sorted(types)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_result_matches_reference_loop(seed):
    rng = np.random.default_rng(seed)
    n = 150
    flux = 10 ** rng.normal(0, 0.6, n)
    flux[rng.random(n) < 0.05] = np.nan
    d = detections(
        [
            det(int(s), 1000 + i, float(m), float(f), float(f) * 0.1)
            for i, (s, m, f) in enumerate(zip(rng.integers(0, 40, n), rng.integers(50000, 50030, n), flux, strict=True))
        ]
    )
    m = 60
    missions = np.array(["XMM", "Swift", "Chandra", "eROSITA", "ROSAT"])[rng.integers(0, 5, m)]
    upper = rng.random(m) < 0.5
    lt_flux = 10 ** rng.normal(-0.5, 0.6, m)
    hist = longterm(
        [
            lt(int(s), str(mi), float(mj), float(f), float(f) * 0.1, upper=bool(u))
            for s, mi, mj, f, u in zip(
                rng.integers(0, 40, m), missions, rng.integers(49990, 50030, m), lt_flux, upper, strict=True
            )
        ]
    )
    for preset, factor, k in (("seed", 3.0, SIG90), ("stonks", 5.0, 1.0)):
        alerts = compute_alerts(d, hist, preset=preset)
        got = types_of(alerts.loc[alerts["ALERT_TYPE"] != "short_term_variable"])
        assert got == _reference_types(d, hist, factor, k)
        assert len(got) > 5  # the random sky does exercise the rules
