"""Export of a session's selection: time and peak RSS growth per format on a generated release.

Run: ``.venv/bin/python -m tests.benchmarks.bench_export [--detections 200000] [--data-dir DIR]``
(each format in a fresh process, so peak RSS is that export's own). Prints one line per format.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

FORMATS = ("fits", "parquet", "csv", "ds9", "votable")

_ONE = textwrap.dedent("""
    import resource, sys, time
    from pathlib import Path
    from app import export_service as es
    from app.state import ExploreState
    from data_loaders.catalogue import load_catalogue
    root, fmt = Path(sys.argv[1]), sys.argv[2]
    cat = load_catalogue(root, "DEMO")
    st = ExploreState(cat, level="detections")
    plan = es.plan_export(st, es.default_columns(cat, "detections") + ["DIST_NN", "PN_8_FLUX", "M1_8_FLUX"])
    import os, threading
    import astropy.io.fits, astropy.io.votable, astropy.table, pyarrow.parquet  # imports are not the export
    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    peak, done = [0.0], threading.Event()
    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb()); done.wait(0.01)
    before = rss_mb()
    thread = threading.Thread(target=watch); thread.start()
    t0 = time.perf_counter()
    path = es.export_to_file(plan, fmt)
    dt = time.perf_counter() - t0
    done.set(); thread.join()
    grew = peak[0] - before
    print(f"{fmt:8s} {plan.n_rows:>9,} rows x {len(plan.columns)} cols  {dt:6.2f} s  "
          f"{path.stat().st_size / 2**20:7.1f} MB  peak RSS +{grew:6.0f} MB")
    path.unlink()
""")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--detections", type=int, default=200_000)
    p.add_argument("--data-dir", type=Path, default=None, help="an existing data dir with release DEMO")
    args = p.parse_args(argv)
    root = args.data_dir
    if root is None:
        from tests.conftest import make_demo_data_dir

        root = Path(tempfile.mkdtemp(prefix="bench-export-"))
        print(f"generating {args.detections:,} detections in {root} ...", flush=True)
        make_demo_data_dir(root, n=args.detections)
    for fmt in FORMATS:
        out = subprocess.run([sys.executable, "-c", _ONE, str(root), fmt], capture_output=True, text=True)
        print(out.stdout.strip() or f"{fmt:8s} failed: {out.stderr.strip().splitlines()[-1]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
