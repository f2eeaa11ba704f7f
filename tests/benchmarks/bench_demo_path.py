"""Benchmark: the demo path, ``make serve`` from a bare checkout to the first page (issue 19 item 4).

Clones the repository (``--repo``, default this checkout's origin or the checkout itself) into a
temporary directory and runs the three parts of ``make serve`` one after the other, each timed:

1. ``make venv``: the virtualenv and the runtime install (depends on the package cache; quoted apart);
2. ``make demo DETECTIONS=N``: generate the demo and everything it includes (ingest with spectral fits,
   coverage, OM, photo-z, sky maps, alerts, one pipeline source list and its alert run), under
   ``/usr/bin/time -v`` for the peak RSS (``wait4`` reports the largest process of the tree);
3. ``make serve``: until ``/explore`` answers HTTP 200; then the server is stopped.

Prints each figure beside its goal and the last session's baseline (~150 s, 5.6 GB at 1M).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOAL_S, GOAL_RSS_GB = 90.0, 2.0
BASELINE = "~150 s to the first page and 5.6 GB peak at 1M (last session)"


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, out.stdout + out.stderr


def _first_page(cwd: Path, env: dict[str, str], port: int, timeout: float = 600.0) -> float:
    t = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "serve", f"PORT={port}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - t < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/explore", timeout=30) as r:
                    if r.status == 200:
                        return time.perf_counter() - t
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("make serve exited before the page answered")
            time.sleep(0.5)
        raise TimeoutError("the first page did not answer")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--detections", type=int, default=None, help="DETECTIONS for make (default: the Makefile's)")
    ap.add_argument("--repo", default=str(ROOT), help="what to clone (default: this checkout)")
    ap.add_argument("--port", type=int, default=5391)
    args = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "XMM_EXPLORER_DATA")}
    with tempfile.TemporaryDirectory(prefix="demo-path-") as tmp:
        clone = Path(tmp) / "x"
        subprocess.run(["git", "clone", "-q", args.repo, str(clone)], check=True)
        pip_s, _ = _run(["make", "venv"], clone, env)
        size = [] if args.detections is None else [f"DETECTIONS={args.detections}"]
        demo_s, log = _run(["/usr/bin/time", "-v", "make", "demo", *size], clone, env)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
        rss_gb = int(rss.group(1)) / 1024**2 if rss else float("nan")
        cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", log))
        n = re.search(r"Generating the synthetic demo catalogue \((\d+) detections", log)
        page_s = _first_page(clone, env, args.port)
    total = demo_s + page_s
    load = os.getloadavg()[0]
    print(f"demo path, {n.group(1) if n else '?'} detections ({os.cpu_count()} cores, load {load:.1f})")
    print(f"  make venv (pip; depends on the package cache)      {pip_s:7.1f} s")
    print(f"  make demo (generate + ingest + everything it adds) {demo_s:7.1f} s  ({cpu:.1f} s CPU)")
    print(f"  make serve, demo done -> /explore answers          {page_s:7.1f} s")
    print(f"  bare checkout -> first page, pip apart             {total:7.1f} s   goal <= {GOAL_S:.0f} s")
    print(f"  bare checkout -> first page, pip included          {total + pip_s:7.1f} s")
    print(f"  demo generator peak RSS                            {rss_gb:7.2f} GB  goal <= {GOAL_RSS_GB:.0f} GB")
    print(f"  baseline: {BASELINE}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
