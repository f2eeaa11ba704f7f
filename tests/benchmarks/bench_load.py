"""Concurrent Explore sessions against a real server: throughput, p50/p95 latency, memory before/after.

Goal (issue 8): 50 concurrent sessions panning, filtering and tapping with p95 < 1 s, and the
server's memory back near its baseline once the sessions close. Sessions are simulated on
Bokeh's websocket protocol (``tests/load/client.py``); the load generator shares the machine.

    python -m tests.benchmarks.bench_load --detections 1000000 --sessions 50 --duration 30
"""

from __future__ import annotations

import argparse
import os

from tests.benchmarks.data import bench_data_dir
from tests.load.runner import per_action_cost, run_load
from tests.ui.serving import serve_app

#: "Near baseline": RSS after the sessions are discarded within this much of the RSS before.
NEAR_BASELINE_MB = 150.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--detections", type=int, default=1_000_000)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds each session acts once open")
    ap.add_argument("--num-procs", type=int, default=2)
    ap.add_argument("--think", type=float, default=1.0, help="mean seconds a user pauses between actions")
    ap.add_argument(
        "--staggered",
        action="store_true",
        help="each session acts as soon as it is open (default: all open first, then act together)",
    )
    ap.add_argument(
        "--warm", type=int, default=4, help="sessions opened and closed before memory is measured (one-off caches)"
    )
    ap.add_argument(
        "--rounds", type=int, default=1, help="run the sessions this many times on one server (memory per round)"
    )
    ap.add_argument("--quick", action="store_true", help="10 sessions x 15 s")
    args = ap.parse_args(argv)
    if args.quick:
        args.sessions, args.duration = min(args.sessions, 10), min(args.duration, 15.0)
    data_dir = bench_data_dir(args.detections)
    print(
        f"# Load: {args.sessions} sessions x {args.duration:.0f} s, {args.detections:,} detections, "
        f"--num-procs {args.num_procs}, {os.cpu_count()} cores, think time {args.think:.1f} s, "
        f"{'staggered' if args.staggered else 'all sessions open first, then act together'}"
    )
    with serve_app(data_dir, "--num-procs", str(args.num_procs), page="health", timeout=600) as base:
        for action, (latency_ms, cpu_ms) in per_action_cost(base).items():
            print(
                f"{'load: one session alone, ' + action + ': latency median / server CPU (ms)':60s} "
                f"{latency_ms:6.0f} / {cpu_ms:5.1f}"
            )
        results = []
        for r in range(max(args.rounds, 1)):
            results.append(
                run_load(
                    base,
                    args.sessions,
                    args.duration,
                    ramp_s=10.0,
                    timeout=30.0,
                    release_timeout=120.0,
                    together=not args.staggered,
                    think_s=args.think,
                    warm_sessions=args.warm if r == 0 else 0,
                )
            )
            if args.rounds > 1:
                print(f"## round {r + 1}")
                print("\n".join(results[-1].lines()))
    result = results[0] if len(results) == 1 else _merged(results)
    if len(results) == 1:
        print("\n".join(result.lines()))
    print(f"{'load: sessions':60s} {args.sessions:10d}")
    print(f"{'load: actions answered per s':60s} {result.throughput_per_s:10.1f}")
    print(f"{'load: latency p50 (ms)':60s} {result.p50_s * 1000:10.0f}")
    print(f"{'load: latency p95 (ms)':60s} {result.p95_s * 1000:10.0f}")
    print(f"{'load: page open p50 (s)':60s} {result.connect_p50_s:10.1f}")
    for r, res in enumerate(results, 1):
        label = "" if len(results) == 1 else f" (round {r})"
        print(f"{'load: server RSS growth after sessions released (MB)' + label:60s} {res.growth_after_mb:10.0f}")
    ok_latency = all(r.p95_s < 1.0 and not r.errors for r in results)
    last = results[-1]
    ok_memory = last.released_after_s is not None and last.growth_after_mb < NEAR_BASELINE_MB
    print(f"goal p95 < 1 s: {'met' if ok_latency else 'NOT met'}; memory near baseline: {'yes' if ok_memory else 'NO'}")


def _merged(results):
    """The latency figures of several rounds: the worst round's (each round is printed in full above)."""
    return max(results, key=lambda r: r.p95_s)


if __name__ == "__main__":
    main()
