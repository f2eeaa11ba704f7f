"""Transient and variability alerts: STONKS-style flux comparisons of detections with their history."""

from data_loaders.alerts.compute import ALERT_COLUMNS, compute_alerts
from data_loaders.alerts.criteria import (
    ALERT_TYPES,
    DEFAULT_PRESET,
    PRESETS,
    STONKS_TYPES,
    Criteria,
    resolve_criteria,
)
from data_loaders.alerts.history import build_points
from data_loaders.alerts.io import read_alerts, write_alerts
from data_loaders.alerts.replay import monthly_rate, replay_rate

__all__ = [
    "ALERT_COLUMNS",
    "ALERT_TYPES",
    "DEFAULT_PRESET",
    "PRESETS",
    "STONKS_TYPES",
    "Criteria",
    "build_points",
    "compute_alerts",
    "monthly_rate",
    "read_alerts",
    "replay_rate",
    "resolve_criteria",
    "write_alerts",
]
