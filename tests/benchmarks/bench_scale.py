"""Scale figures: sky re-render latency at 1M / 10M rows (pandas) and 100M rows (Dask), plus STILTS.

A re-render is what a pan or zoom costs on the server: datashader aggregate + shade of a
1000 x 500 canvas over a random view (10 views x several repeats, median). The pandas path
is the Explore page's (``Catalogue.xy`` + ``app.plots.sky.aggregate`` + ``shade_array``); the
Dask path is ``DaskCatalogue.select(...).grid`` on a LocalCluster (2 workers x 1 thread) with the
plotting columns persisted, then the same shading. Releases are written by the partitioned
demo writer and cached under ``bench-data/partitioned-<n>/`` (generation time and peak RSS
are printed when a release is generated, and kept in ``generation.json``).

The baseline is STILTS ``plot2sky`` writing a full-sky density PNG of the same catalogue
(a desktop tool's batch render), when ``stilts`` is installed.

Run: ``python -m tests.benchmarks.bench_scale [PANDAS_SIZES] [DASK_SIZE]``, e.g.
``python -m tests.benchmarks.bench_scale 1e6,1e7 1e8`` (the default).
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from tests.benchmarks.data import ROOT

WIDTH, HEIGHT = 1000, 500


def partitioned_release(n: int) -> tuple[Path, dict]:
    """``bench-data/partitioned-<n>/releases/BIG`` (written if absent) and its generation figures."""
    data_dir = ROOT / f"partitioned-{n}"
    release = data_dir / "releases" / "BIG"
    info_file = data_dir / "generation.json"
    if not (release / "release.json").exists():
        script = (
            "import json, resource, sys\n"
            "from data_loaders.demo.partitioned import write_partitioned_demo\n"
            "if __name__ == '__main__':\n"
            f"    r = write_partitioned_demo({str(data_dir)!r}, 'BIG', {n}, 42, workers=2)\n"
            "    print(json.dumps({'seconds': r.seconds,\n"
            "        'main_rss_gb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,\n"
            "        'children_rss_gb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6}))\n"
        )
        print(f"generating {n:,} detections in {data_dir} ...", flush=True)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        info_file.write_text(out.stdout.strip().splitlines()[-1])
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    return release, info


def views(n: int = 10, seed: int = 1):
    """Random zoomed views plus the full sky, in projected degrees (hammer)."""
    from app.plots.sky import full_extent

    rng = np.random.default_rng(seed)
    out = [full_extent("hammer")]
    for _ in range(n - 1):
        cx, cy, w = rng.uniform(-120, 120), rng.uniform(-50, 50), 10 ** rng.uniform(-0.5, 2.3)
        out.append(((cx - w, cx + w), (cy - w / 2, cy + w / 2)))
    return out


def median_ms(fn, vs, repeat: int = 3) -> float:
    for v in vs[:2]:
        fn(*v)  # warm: numba JIT, persisted columns
    times = []
    for _ in range(repeat):
        for v in vs:
            t = time.perf_counter()
            fn(*v)
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def pandas_figures(release: Path) -> dict:
    from app.plots.sky import aggregate, shade_array
    from data_loaders.catalogue import Catalogue

    t = time.perf_counter()
    cat = Catalogue(release)
    x, y = cat.xy("detections", "icrs", "hammer")
    load = time.perf_counter() - t
    flux = cat.detections["EP_8_FLUX"].to_numpy()
    mask = flux > 1e-14

    def render(xr, yr):
        return shade_array(aggregate(x, y, xr, yr, WIDTH, HEIGHT).values)

    def render_filtered(xr, yr):
        m = mask  # the Explore page keeps the session's mask; applying it is part of a render
        return shade_array(aggregate(x[m], y[m], xr, yr, WIDTH, HEIGHT).values)

    vs = views()
    return {
        "rows": len(x),
        "load + project (s)": load,
        "re-render, all rows (ms)": median_ms(render, vs),
        "re-render, flux filter (ms)": median_ms(render_filtered, vs),
        "process RSS (GB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


def dask_figures(release: Path, pyramid: bool = True, prune: bool = True) -> dict:
    from app import selection as sel
    from app.dask_backend import close, connect
    from app.plots.sky import full_extent, shade_array
    from data_loaders.dask_catalogue import DaskCatalogue, sky_column

    client = connect("local")
    try:
        cat = DaskCatalogue(release, client=client, pyramid=pyramid, prune=prune)
        if pyramid:  # as the writer leaves it: built, not yet read
            cat.pyramid("detections")
            cat = DaskCatalogue(release, client=client, pyramid=pyramid, prune=prune)
        xcol, ycol = sky_column("x", "hammer", "icrs"), sky_column("y", "hammer", "icrs")
        full = full_extent("hammer")
        everything, flt = cat.select("detections"), cat.select("detections", sel.Range("EP_8_FLUX", 1e-14, None))
        t = time.perf_counter()
        everything.grid(xcol, ycol, *full, WIDTH, HEIGHT)
        first = time.perf_counter() - t
        t = time.perf_counter()
        flt.grid(xcol, ycol, *full, WIDTH, HEIGHT)
        first_filter = time.perf_counter() - t

        def render(xr, yr):
            return shade_array(everything.grid(xcol, ycol, xr, yr, WIDTH, HEIGHT))

        def render_filtered(xr, yr):
            return shade_array(flt.grid(xcol, ycol, xr, yr, WIDTH, HEIGHT))

        vs = views()
        t = time.perf_counter()
        n_cone = len(cat.cone(266.4, -29.0, 1.0, ["DETID"]))
        cone_ms = (time.perf_counter() - t) * 1e3
        worker_mem = sum(w["metrics"]["memory"] for w in client.scheduler_info()["workers"].values()) / 1e9
        return {
            "rows": cat.n_rows(),
            "partitions": cat.npartitions,
            "first render: read + project + persist (s)": first,
            "first filtered render: + EP_8_FLUX (s)": first_filter,
            "re-render, all rows (ms)": median_ms(render, vs, repeat=2),
            "re-render, flux filter (ms)": median_ms(render_filtered, vs, repeat=2),
            f"cone 1 deg at the Galactic centre ({n_cone:,} rows) (ms)": cone_ms,
            "cluster memory after persist (GB)": worker_mem,
        }
    finally:
        close(client)


def stilts_figure(release: Path, out_png: Path) -> str:
    """Seconds for STILTS plot2sky to write a full-sky density PNG of the release's detections."""
    stilts = shutil.which("stilts")
    if stilts is None:
        return "stilts not available: `stilts` is not on PATH (apt-get install stilts, needs a Java runtime)"
    # STILTS reads Parquet only with extra jars; give it a 2-column FITS of RA/DEC (time excluded).
    import pyarrow.parquet as pq
    from astropy.table import Table

    fits_path = out_png.with_suffix(".fits")
    if not fits_path.exists():
        t = pq.read_table(release / "detections.parquet", columns=["RA", "DEC"])
        Table({"RA": t.column("RA").to_numpy(), "DEC": t.column("DEC").to_numpy()}).write(fits_path)
    cmd = [
        stilts,
        "plot2sky",
        "projection=aitoff",
        "xpix=1000",
        "ypix=500",
        f"in={fits_path}",
        "ifmt=fits",
        "lon=RA",
        "lat=DEC",
        "layer=mark",
        "shading=density",
        "densemap=inferno",
        f"out={out_png}",
    ]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return f"stilts failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}"
    return f"{time.perf_counter() - t:.1f} s"


PYRAMID_RUNS = {
    "rows, every partition (before)": {"pyramid": False, "prune": False},
    "rows, view's partitions": {"pyramid": False, "prune": True},
    "pyramid + view's partitions": {"pyramid": True, "prune": True},
}


def pyramid_comparison(release: Path, tag: str) -> None:
    """The Dask figures with the HEALPix pyramid and partition pruning beside the row path, same run."""
    runs = {name: dask_figures(release, **kw) for name, kw in PYRAMID_RUNS.items()}
    names = list(runs)
    print(f"{tag}: " + " | ".join(names), flush=True)
    for key in runs[names[-1]]:
        values = " | ".join(f"{runs[n].get(key, float('nan')):.3g}" for n in names)
        print(f"  {key:<58} {values}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """``[PANDAS_SIZES [DASK_SIZE]]``, or ``--pyramid RELEASE_DIR`` for the Dask figures of one release."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--pyramid":
        pyramid_comparison(Path(argv[1]), str(argv[1]))
        return
    pandas_sizes = [int(float(v)) for v in (argv[0] if argv else "1e6,1e7").split(",")]
    dask_size = int(float(argv[1])) if len(argv) > 1 else 100_000_000
    results = ROOT / "scale-results"
    results.mkdir(parents=True, exist_ok=True)
    for n in [*pandas_sizes, dask_size]:
        release, info = partitioned_release(n)
        if info:
            nan = float("nan")
            secs, main_gb, worker_gb = (info.get(k, nan) for k in ("seconds", "main_rss_gb", "children_rss_gb"))
            print(
                f"[{n:,}] generation: {secs:.0f} s, peak RSS main {main_gb:.2f} GB, largest worker {worker_gb:.2f} GB",
                flush=True,
            )
    for n in pandas_sizes:
        release, _ = partitioned_release(n)
        # A fresh process per size: RSS figures must not include the previous catalogue.
        code = (
            "from pathlib import Path\nfrom tests.benchmarks.bench_scale import pandas_figures\n"
            f"print(pandas_figures(Path({str(release)!r})))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        print(f"[{n:,}] pandas: {out.stdout.strip()}", flush=True)
    release, _ = partitioned_release(dask_size)
    pyramid_comparison(release, f"[{dask_size:,}] dask")
    for n in pandas_sizes:
        release, _ = partitioned_release(n)
        print(f"[{n:,}] stilts plot2sky full-sky density PNG: {stilts_figure(release, results / f'stilts-{n}.png')}")


if __name__ == "__main__":
    main()
