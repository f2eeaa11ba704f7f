"""Alert files: Parquet metadata, JSON lines, atomic and byte-identical reruns."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from data_loaders.alerts import compute_alerts, read_alerts, write_alerts
from tests.data_loaders.test_alerts_compute import det, detections, longterm, lt


def _inputs():
    d = detections(
        [
            det(1, 10, 55000.0, 1.0, 0.01, VAR_FLAG=True),
            det(1, 11, 56000.0, 10.0, 0.1),
            det(2, 20, 58000.0, 10.0, 0.5),
        ]
    )
    hist = longterm([lt(2, "Swift", 57000.0, 0.9, upper=True)])
    return d, hist


def test_write_alerts_is_idempotent_and_atomic(tmp_path):
    d, hist = _inputs()
    first = compute_alerts(d, hist)
    p1, j1 = write_alerts(first, tmp_path / "a")
    bytes1 = (p1.read_bytes(), j1.read_bytes())
    p2, j2 = write_alerts(compute_alerts(d, hist), tmp_path / "a")
    assert (p1, j1) == (p2, j2)
    assert (p2.read_bytes(), j2.read_bytes()) == bytes1
    # No temporary files are left behind.
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["alerts.jsonl", "alerts.parquet"]


def test_parquet_metadata_and_round_trip(tmp_path):
    d, hist = _inputs()
    alerts = compute_alerts(d, hist)
    parquet_path, jsonl_path = write_alerts(alerts, tmp_path)
    meta = json.loads(pq.read_schema(parquet_path).metadata[b"xmm_explorer.alerts"])
    assert meta["preset"] == "seed" and meta["default_preset"] == "seed"
    assert meta["factor"] == 3.0 and meta["confidence"] == 0.9
    assert "Default preset is 'seed'" in meta["note"]
    back = read_alerts(tmp_path)
    assert back.attrs["factor"] == 3.0
    assert list(back["ALERT_ID"]) == list(alerts["ALERT_ID"])
    assert list(back["ALERT_TYPE"]) == ["falling", "short_term_variable", "rising", "new_source"]
    lines = jsonl_path.read_text().splitlines()
    assert len(lines) == len(alerts) == 4
    records = [json.loads(line) for line in lines]
    assert [r["ALERT_ID"] for r in records] == list(alerts["ALERT_ID"])
    new = records[3]
    assert new["ALERT_TYPE"] == "new_source" and new["STONKS_TYPE"] == "First Detection"
    assert new["COMPARED_MISSION"] == "Swift" and new["COMPARED_IS_UPPER_LIMIT"] is True
    assert new["COMPARED_FLUX"] == 1.0
    short = records[1]
    assert short["RATIO"] is None and short["COMPARED_MISSION"] is None


def test_empty_alerts_write_valid_files(tmp_path):
    alerts = compute_alerts(detections([det(1, 10, 55000.0, 1.0, 0.01)]))
    parquet_path, jsonl_path = write_alerts(alerts, tmp_path)
    assert jsonl_path.read_text() == ""
    assert pq.read_table(parquet_path).num_rows == 0
    assert read_alerts(parquet_path).attrs["preset"] == "seed"
