"""Benchmark: ``alerts --observation`` on new source lists over the demo, PNGs apart; the STONKS-year rates.

For the release of ``--detections`` (default 1M, generated once under bench-data/ unless
``--data-dir`` names one), the demo pipeline writes ``--lists`` new observations of random demo
fields; each is run without figures (the task's time: read, match, compare, write), then its PNGs
are drawn separately. Then one year of the release's own detections is replayed with the
``stonks`` and ``seed`` presets, as the pipeline would have seen it (alerts per day, per
observation), for comparison with STONKS' 0.7 (+0.7/-0.5) alerts per day on the 483 imaging
observations of 2021 (Quintin et al. 2024), and the whole-release task (``xmm-explorer alerts``)
is timed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from data_loaders.alerts.figures import write_alert_figures
from data_loaders.alerts.observation import run_observation
from data_loaders.alerts.release import compute_release_alerts, read_inputs
from data_loaders.alerts.replay import replay_rate
from data_loaders.alerts.source_list import read_source_list
from data_loaders.demo.pipeline import simulate_observation


def year_rates(data_dir: Path, release: str = "DEMO", days: float = 365.25) -> None:
    """Replay the last full year before the release's final 30 days with both presets."""
    detections, longterm = read_inputs(data_dir / "releases" / release)
    end = float(np.nanmax(detections["MJD_START"])) - 30.0
    start = end - days
    in_window = detections.loc[(detections["MJD_START"] >= start) & (detections["MJD_START"] < end)]
    n_obs = in_window["OBS_ID"].nunique()
    for preset in ("stonks", "seed"):
        t = time.perf_counter()
        rate = replay_rate(detections, longterm, start, end, preset=preset).set_index("ALERT_TYPE")
        dt = time.perf_counter() - t
        any_ = rate.loc["any"]
        per_type = ", ".join(f"{k} {int(v)}" for k, v in rate["N_ALERTS"].items() if k != "any")
        print(
            f"replay {preset} MJD {start:.0f}-{end:.0f}: {n_obs} observations, {len(in_window):,} detections, "
            f"{int(any_['N_ALERTS']):,} alerted detections = {any_['PER_DAY']:.2f}/day "
            f"({int(any_['N_ALERTS']) / max(n_obs, 1):.2f} per observation) [{per_type}] in {dt:.1f} s"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--detections", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, default=None, help="an existing data directory (default: bench-data)")
    ap.add_argument("--lists", type=int, default=5)
    ap.add_argument("--no-rates", action="store_true")
    ap.add_argument("--no-figures", action="store_true", help="skip the PNG timing")
    args = ap.parse_args(argv)
    if args.data_dir is None:
        from tests.benchmarks.data import bench_data_dir

        args.data_dir = bench_data_dir(args.detections)
    task_s, png_s, n_png, n_det, n_alerts = [], [], 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.lists):
            sim = simulate_observation(args.data_dir, "DEMO", Path(tmp), seed=100 + seed)
            run = run_observation(args.data_dir, "DEMO", sim.path, figures=False)
            task_s.append(run.seconds)
            n_det += run.result.counts()["read"]
            n_alerts += len(run.result.alerts)
            t = time.perf_counter()
            if not args.no_figures:
                n_png += len(write_alert_figures(run.result, read_source_list(sim.path), Path(tmp)))
            png_s.append(time.perf_counter() - t)
            print(f"  list {sim.obs_id}: {run.result.summary()} task {run.seconds:.2f} s")
    print(
        f"alerts --observation (task, no PNGs): median {statistics.median(task_s):.2f} s, max {max(task_s):.2f} s "
        f"over {len(task_s)} lists ({n_det} detections, {n_alerts} alerts)"
    )
    print(f"PNGs: {n_png} in {sum(png_s):.1f} s ({sum(png_s) / max(n_png, 1):.2f} s each)")
    t, c = time.perf_counter(), time.process_time()
    whole = compute_release_alerts(args.data_dir, "DEMO")
    print(
        f"xmm-explorer alerts (whole release, seed): {time.perf_counter() - t:.1f} s wall, "
        f"{time.process_time() - c:.1f} s CPU, {len(whole.alerts):,} alerts of {whole.n_detections:,} detections "
        "(goal <= 10 s, issue 19; baseline before the isin/reduceat cut: 17.6-19.6 s wall, 4.4 s CPU in-process)"
    )
    if whole.recall is not None:
        print("  recall: " + ", ".join(f"{r.PLANTED} {r.RECALL:.1%}" for r in whole.recall.itertuples()))
    if not args.no_rates:
        year_rates(args.data_dir)


if __name__ == "__main__":
    main()
