"""Run every benchmark and print one combined table: ``python -m tests.benchmarks [--quick] [-k NAME]``.

Each ``tests/benchmarks/bench_*.py`` runs in its own process (its own memory, its own
servers), given the data size the way its ``main`` takes it (``--detections N``, a
positional N, or ``main(n)``). ``--quick`` uses 100k detections instead of 1M and passes
``--quick`` to benchmarks that accept it.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_FIGURE = re.compile(r"^(?P<label>\S.*?)\s{2,}(?P<value>-?[\d.,]+)\s*$")


def benchmark_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def call_for(module: str, n: int, quick: bool) -> str:
    """The Python statement that runs ``module.main`` with data size ``n``."""
    mod = importlib.import_module(f"tests.benchmarks.{module}")
    source = inspect.getsource(mod)
    params = list(inspect.signature(mod.main).parameters)
    if params and params[0] == "argv":
        argv = ["--detections", str(n)] if '"--detections"' in source else [str(n)]
        if quick and '"--quick"' in source:
            argv.append("--quick")
        return f"from tests.benchmarks.{module} import main; main({argv!r})"
    if params:
        return f"from tests.benchmarks.{module} import main; main({n})"
    return f"from tests.benchmarks.{module} import main; main()"


def run(module: str, n: int, quick: bool, timeout: float) -> tuple[int | str, float, list[str]]:
    t0 = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, "-c", call_for(module, n, quick)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        lines, status = out.stdout.splitlines(), out.returncode
        if status != 0:
            lines += [f"! {line}" for line in out.stderr.strip().splitlines()[-3:]]
    except subprocess.TimeoutExpired:
        lines, status = [], f"timeout {timeout:.0f} s"
    return status, time.perf_counter() - t0, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="100k detections, small load test")
    ap.add_argument("--detections", type=int, default=None, help="data size (default 1M, or 100k with --quick)")
    ap.add_argument("-k", dest="only", default=None, help="run only benchmarks whose name contains this")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    args = ap.parse_args(argv)
    n = args.detections or (100_000 if args.quick else 1_000_000)
    names = [m for m in benchmark_modules() if args.only is None or args.only in m]
    results = []
    for name in names:
        print(f"== {name} ({n:,} detections) ...", flush=True)
        status, wall, lines = run(name, n, args.quick, args.timeout)
        for line in lines:
            print(f"   {line}")
        results.append((name, status, wall, lines))
    print("\n# Benchmarks" + (" (quick)" if args.quick else "") + f", {n:,} detections")
    print(f"{'benchmark':16s} {'figure':64s} {'value':>12s}")
    for name, status, wall, lines in results:
        figures = [m for m in (_FIGURE.match(line) for line in lines) if m]
        for m in figures:
            print(f"{name:16s} {m['label'][:64]:64s} {m['value']:>12s}")
        state = "ok" if status == 0 else f"FAILED ({status})"
        print(f"{name:16s} {'(wall time, s; ' + state + ')':64s} {wall:12.1f}")
    return 0 if all(status == 0 for _, status, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
