"""Replay of a window as the real-time pipeline would have seen it, and monthly alert rates."""

from __future__ import annotations

import pandas as pd
import pytest

from data_loaders.alerts import compute_alerts, monthly_rate, replay_rate
from data_loaders.alerts.replay import mjd_to_datetime
from tests.data_loaders.test_alerts_compute import det, detections, longterm, lt

# Window: MJD 58000-58061 (two months).
ROWS = [
    # source 1: faint before, bright in the window -> rising in the window
    det(1, 10, 57000.0, 1.0, 0.01),
    det(1, 11, 58010.0, 10.0, 0.1),
    # source 2: bright in the window, faint AFTER the window -> the replay must not know it
    det(2, 20, 58020.0, 10.0, 0.1),
    det(2, 21, 59000.0, 1.0, 0.01),
    # source 3: short-term variable in the window
    det(3, 30, 58030.0, 1.0, 0.1, VAR_FLAG=True),
    # source 4: first detection above an earlier Swift limit
    det(4, 40, 58040.0, 10.0, 0.1),
    # source 5: constant, inside the window
    det(5, 50, 58050.0, 1.0, 0.1),
    det(5, 51, 57050.0, 1.1, 0.1),
    # source 6: variable before the window only
    det(6, 60, 56000.0, 1.0, 0.01),
    det(6, 61, 56500.0, 10.0, 0.1),
]
LT = [lt(4, "Swift", 57500.0, 0.9, upper=True), lt(2, "Chandra", 58500.0, 0.069, 0.001)]


def test_replay_counts_per_type():
    rate = replay_rate(detections(ROWS), longterm(LT), 58000.0, 58061.0).set_index("ALERT_TYPE")
    assert rate.loc["rising", "N_ALERTS"] == 1
    assert rate.loc["new_source", "N_ALERTS"] == 1
    assert rate.loc["short_term_variable", "N_ALERTS"] == 1
    assert rate.loc["falling", "N_ALERTS"] == 0
    assert rate.loc["long_term_variable", "N_ALERTS"] == 0
    assert rate.loc["any", "N_ALERTS"] == 3 and rate.loc["any", "N_SOURCES"] == 3
    assert (rate["N_DETECTIONS"] == 5).all() and (rate["DAYS"] == 61.0).all()
    assert rate.loc["any", "PER_DAY"] == pytest.approx(3 / 61.0)
    assert rate.loc["rising", "STONKS_TYPE"] == "High Flux State"
    assert rate.attrs["preset"] == "seed" and rate.attrs["end_mjd"] == 58061.0


def test_full_catalogue_run_sees_the_future_but_the_replay_does_not():
    alerts = compute_alerts(detections(ROWS), longterm(LT))
    in_window = alerts.loc[alerts["MJD"].between(58000.0, 58061.0, inclusive="left")]
    # With the later faint epochs known, source 2 at 58020 is a high state too.
    assert sorted(in_window.loc[in_window["ALERT_TYPE"] == "rising", "DETID"]) == [11, 20]


def test_replay_stonks_preset_and_empty_window_error():
    rate = replay_rate(detections(ROWS), longterm(LT), 58000.0, 58061.0, preset="stonks")
    assert rate.set_index("ALERT_TYPE").loc["rising", "N_ALERTS"] == 1
    assert rate.attrs["factor"] == 5.0
    with pytest.raises(ValueError, match="empty window"):
        replay_rate(detections(ROWS), None, 58061.0, 58000.0)


def test_monthly_rate_is_zero_filled():
    alerts = compute_alerts(detections(ROWS), longterm(LT))
    monthly = monthly_rate(alerts)
    assert list(monthly.columns) == ["MONTH", "ALERT_TYPE", "N_ALERTS"]
    assert monthly["N_ALERTS"].sum() == len(alerts)
    months = monthly["MONTH"].drop_duplicates()
    first = mjd_to_datetime([alerts["MJD"].min()])[0]
    assert months.iloc[0] == pd.Timestamp(first.year, first.month, 1)
    assert len(monthly) == len(months) * 5  # every type in every month
    sep = monthly.loc[monthly["MONTH"] == pd.Timestamp(2017, 9, 1)].set_index("ALERT_TYPE")
    # MJD 58000 = 2017-09-04: 58010 and 58020 rising, both in September 2017.
    assert sep.loc["rising", "N_ALERTS"] == 2 and sep.loc["falling", "N_ALERTS"] == 0
    assert len(monthly_rate(alerts.iloc[:0])) == 0
