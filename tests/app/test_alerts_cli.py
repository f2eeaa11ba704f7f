"""The ``xmm-explorer alerts`` command on the demo fixture: counts, idempotent files, recall, replay, errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from data_loaders.alerts import read_alerts
from data_loaders.alerts import release as task
from data_loaders.alerts.criteria import ALERT_TYPES


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_alerts_command_counts_files_recall_and_idempotence(writable_demo_data_dir, capsys):
    d = str(writable_demo_data_dir)
    code, out, _ = _run(capsys, "--data-dir", d, "alerts")
    assert code == 0
    rdir = writable_demo_data_dir / "releases" / "DEMO" / "alerts" / "seed"
    parquet, jsonl = rdir / "alerts.parquet", rdir / "alerts.jsonl"
    assert str(parquet) in out and str(jsonl) in out
    alerts = read_alerts(parquet)
    assert len(alerts) > 0 and alerts.attrs["preset"] == "seed" and alerts.attrs["factor"] == 3.0
    assert len(jsonl.read_text().splitlines()) == len(alerts)
    printed = {m[0]: int(m[1].replace(",", "")) for m in re.findall(r"^\s+(\w+)\s+([\d,]+)\s+\(", out, re.M)}
    assert printed == alerts["ALERT_TYPE"].value_counts().reindex(list(ALERT_TYPES), fill_value=0).to_dict()
    recall = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"^\s+(\w+)\s+(\d+) of\s+(\d+) =", out, re.M)}
    assert set(recall) == set(task.PLANTED_MATCH)
    assert all(0 <= found <= n for found, n in recall.values())
    # Faint planted variables are rarely seen in both states (docs/ALERTS.md), but the transients the
    # data show are found.
    assert recall["short_term"][0] > 0 and recall["new_source"][0] > 0
    before = (parquet.read_bytes(), jsonl.read_bytes())
    assert _run(capsys, "--data-dir", d, "alerts")[0] == 0
    assert (parquet.read_bytes(), jsonl.read_bytes()) == before


def test_recall_counts_planted_sources_with_matching_alerts():
    truth = pd.DataFrame({"SRCID": [1, 2, 3, 4], "PLANTED": ["rising", "rising", "short_term", ""]})
    alerts = pd.DataFrame({"SRCID": [1, 3, 4], "ALERT_TYPE": ["rising", "rising", "falling"]})
    r = task.planted_recall(alerts, truth).set_index("PLANTED")
    assert (r.loc["rising", "N_PLANTED"], r.loc["rising", "N_FOUND"], r.loc["rising", "RECALL"]) == (2, 1, 0.5)
    assert (r.loc["short_term", "N_FOUND"], r.loc["short_term", "N_ANY"]) == (0, 1)
    assert np.isnan(r.loc["falling", "RECALL"])


def test_stonks_preset_and_custom_runs_go_to_their_own_directories(writable_demo_data_dir, capsys):
    d = str(writable_demo_data_dir)
    assert _run(capsys, "--data-dir", d, "alerts", "--preset", "stonks")[0] == 0
    assert _run(capsys, "--data-dir", d, "alerts", "--factor", "4", "--since", "2010-01-01")[0] == 0
    root = writable_demo_data_dir / "releases" / "DEMO" / "alerts"
    assert sorted(p.name for p in root.iterdir()) == ["seed-factor4-since55197", "stonks"]
    custom = read_alerts(root / "seed-factor4-since55197")
    assert custom["MJD"].min() > 55197 and custom.attrs["factor"] == 4.0


def test_replay_prints_counts_consistent_with_the_alert_table(demo_data_dir, capsys):
    det, lt = task.read_inputs(demo_data_dir / "releases" / "DEMO")
    start, end = 56000.0, float(det["MJD_START"].max()) + 1.0
    counts, monthly = task.replay_release(demo_data_dir, "DEMO", start, end)
    # A window that ends after the last detection knows everything the full run knows.
    full = task.compute_alerts(det, lt)
    in_window = full.loc[full["MJD"] >= start, "ALERT_TYPE"].value_counts()
    got = counts.set_index("ALERT_TYPE")["N_ALERTS"]
    for atype in ALERT_TYPES:
        assert got[atype] == in_window.get(atype, 0)
    assert monthly["N_ALERTS"].sum() == got.drop("any").sum()

    # The busiest two calendar months of the fixture, so the window holds detections.
    month = task.mjd_to_datetime(det["MJD_START"].to_numpy()).to_period("M").value_counts().idxmax()
    a, b = str(month.start_time.date()), str((month + 2).start_time.date())
    code, out, _ = _run(capsys, "--data-dir", str(demo_data_dir), "alerts", "--replay", a, b)
    assert code == 0
    c2, m2 = task.replay_release(demo_data_dir, "DEMO", task.parse_epoch(a), task.parse_epoch(b))
    assert c2["N_DETECTIONS"].iat[0] > 0
    for r in c2.itertuples():
        assert re.search(rf"^\s+{r.ALERT_TYPE}\s+{r.N_ALERTS:,} alerts", out, re.M)
    assert sorted(m2["MONTH"].dt.strftime("%Y-%m").unique()) == [f"{month}", f"{month + 1}"]
    assert f"{month}" in out and f"{month + 1}" in out
    assert not (demo_data_dir / "releases" / "DEMO" / "alerts").exists()  # replay writes nothing


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["alerts", "--release", "NOPE"], "No release 'NOPE'"),
        (["alerts", "--replay", "2015-13-01", "2015-03-01"], "neither an MJD"),
        (["alerts", "--replay", "57000", "56000"], "ends (MJD 56000) before it starts"),
        (["alerts", "--factor", "0.5"], "factor must be a finite number > 1"),
        (["alerts", "--since", "yesterday"], "neither an MJD"),
    ],
)
def test_errors_are_one_sentence_and_exit_2(demo_data_dir, capsys, argv, needle):
    code, out, err = _run(capsys, "--data-dir", str(demo_data_dir), *argv)
    assert code == 2 and out == ""
    assert needle.lower() in err.lower() and err.count("\n") == 1 and "Traceback" not in err


def test_help_states_the_default_preset(capsys):
    with pytest.raises(SystemExit):
        main(["alerts", "--help"])
    out = capsys.readouterr().out
    assert "default seed: factor 3, 90%" in out and "stonks" in out


def test_observation_run_writes_json_pngs_and_replaces_itself(writable_demo_data_dir, tmp_path, capsys):
    import json

    from data_loaders.demo.pipeline import simulate_observation

    d = str(writable_demo_data_dir)
    sim = simulate_observation(writable_demo_data_dir, "DEMO", tmp_path, seed=1, n_planted=3)
    code, out, err = _run(capsys, "--data-dir", d, "alerts", "--observation", str(sim.path))
    assert code == 0, err
    line = out.splitlines()[0]
    pattern = r"(\d+) detections read = (\d+) matched .* \+ (\d+) compared with upper limits only \+ (\d+) never"
    m = re.search(pattern, line)
    read, matched, ul, never = (int(v) for v in m.groups())
    assert read == len(sim.truth) == matched + ul + never and ul > 0
    n_alerts = int(re.search(r"; (\d+) alerts \(", line)[1])
    by_type = {t: int(n) for t, n in re.findall(r"(\w+) (\d+)[,)]", line.split("alerts (")[1])}
    assert set(by_type) == set(ALERT_TYPES) and sum(by_type.values()) == n_alerts > 0
    root = writable_demo_data_dir / "releases" / "DEMO" / "alerts"
    run = root / f"obs{sim.obs_id}"
    records = json.loads((run / "alerts.json").read_text())
    assert len(records) == n_alerts == len(read_alerts(run))
    first = records[0]
    assert {"position", "names", "type", "ratio", "epochs"} <= set(first)
    assert first["epochs"]["new"]["obs_id"] == sim.obs_id and len(first["epochs"]["new"]["band_flux"]) == 5
    pngs = sorted(p.name for p in run.glob("*.png"))
    assert pngs == sorted(r["png"] for r in records)
    assert (run / pngs[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The same list again replaces its run: one directory, same alerts, no leftovers.
    code, out2, _ = _run(capsys, "--data-dir", d, "alerts", "--observation", str(sim.path), "--no-figures")
    assert code == 0 and out2.splitlines()[0] == line
    assert [p.name for p in root.iterdir()] == [run.name]
    assert len(json.loads((run / "alerts.json").read_text())) == n_alerts and not list(run.glob("*.png"))


def test_observation_bad_list_is_one_sentence(writable_demo_data_dir, tmp_path, capsys):
    p = tmp_path / "P0123456789EPX000OBSMLI0000.FTZ"
    p.write_bytes(b"not fits at all")
    code, out, err = _run(capsys, "--data-dir", str(writable_demo_data_dir), "alerts", "--observation", str(p))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "is not a FITS file" in err and len(err.strip().splitlines()) == 1


def test_the_cli_registers_only_the_command_it_runs():
    """A command line imports only its own command module (the others cost seconds of imports); a
    ``--data-dir`` that is another command's name does not mislead it; no command: all of them."""
    from app.cli import build_parser

    def commands(argv):
        parser = build_parser(argv)
        sub = next(a for a in parser._actions if a.dest == "command")
        return set(sub.choices)

    builtin = {"demo", "ingest", "serve", "info"}
    assert commands(["--data-dir", "users", "alerts", "--observation", "x.fits"]) == builtin | {"alerts"}
    assert commands(["--data-dir", "alerts", "demo-observation"]) == builtin | {"demo-observation"}
    argv = ["--data-dir", "alerts", "upgrade-flags", "DR13", "DR14"]  # the module is upgrade.py
    assert build_parser(argv).parse_args(argv).command == "upgrade-flags"
    assert {"alerts", "users", "om", "upgrade-flags"} <= commands([])
