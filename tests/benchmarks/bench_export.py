"""Export of a session's selection: time and peak RSS growth per format, beside STILTS.

Run: ``.venv/bin/python -m tests.benchmarks.bench_export [--detections 200000] [--data-dir DIR]``
(each format in a fresh process, so peak RSS is that export's own). Prints one line per
format: our export of the selection (rows read from the release included), then the
baseline, ``stilts tcopy`` of our FITS export to the same format (JVM start included),
timed in the same run. Debian's STILTS writes neither Parquet nor DS9 regions.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FORMATS = ("fits", "votable", "csv", "ecsv", "parquet", "ds9")
#: STILTS output format of the same kind of file (BINARY2 VOTable, like ours).
STILTS_FORMATS = {"fits": "fits", "votable": "votable(format=BINARY2)", "csv": "csv", "ecsv": "ecsv"}

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
    if len(sys.argv) > 3:
        path.rename(sys.argv[3])
    else:
        path.unlink()
""")


def stilts_copy(fits_path: Path, fmt: str) -> str:
    """``stilts tcopy`` of our FITS export to ``fmt``: wall time (JVM start included) and size."""
    stilts = shutil.which("stilts")
    if stilts is None:
        return "stilts not installed"
    if fmt not in STILTS_FORMATS:
        return "no STILTS writer for this format"
    out = fits_path.with_suffix(".stilts")
    t0 = time.perf_counter()
    done = subprocess.run(
        [stilts, "tcopy", f"in={fits_path}", "ifmt=fits", f"out={out}", f"ofmt={STILTS_FORMATS[fmt]}"],
        capture_output=True,
        text=True,
    )
    dt = time.perf_counter() - t0
    if done.returncode:
        return f"stilts failed: {done.stderr.strip().splitlines()[-1]}"
    size = out.stat().st_size / 2**20
    out.unlink()
    return f"stilts tcopy {dt:6.2f} s  {size:7.1f} MB"


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
    work = Path(tempfile.mkdtemp(prefix="bench-export-out-"))
    ours_fits = work / "ours.fits"
    for fmt in FORMATS:
        keep = [str(ours_fits)] if fmt == "fits" else []
        out = subprocess.run([sys.executable, "-c", _ONE, str(root), fmt, *keep], capture_output=True, text=True)
        line = out.stdout.strip() or f"{fmt:8s} failed: {out.stderr.strip().splitlines()[-1]}"
        base = stilts_copy(ours_fits, fmt) if ours_fits.exists() else "no FITS export to copy"
        print(f"{line}   |   {base}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
