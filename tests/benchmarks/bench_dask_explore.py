"""Page-level figures of the Explore page on Dask (``serve --dask local``) on a partitioned release.

Drives the page's own objects (``app.state.ExploreState`` and its views, as a session would)
with the release on a LocalCluster of 2 worker processes x 1 thread, and times what a user
waits for on the server: the warm-up (persisting the plotting columns), a re-render after a
zoom (10 random views, median), a filter change (every view), a level switch, a go-to cone,
a tap and a streamed FITS export. The
browser's share (transfer and paint of a one-byte-per-pixel image) is measured for the pandas
page by ``bench_explore`` and is the same here.

Run: ``python -m tests.benchmarks.bench_dask_explore [DATA_DIR | N]`` (default 10,000,000 detections
in ``bench-data/partitioned-10000000``, written like ``bench_scale`` does when absent).
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 1100, 520  # the sky's frame on a 1500-px-wide window


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 1)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def run(data_dir: Path, workers: int = 2) -> dict:
    from app import dask_backend
    from app import export_service as es
    from app.state import ExploreState
    from app.views.filters import FilterPanel
    from app.views.goto import go_to
    from app.views.linked import FluxView, HRView
    from app.views.sky import SkyView
    from app.views.table import TableView
    from tests.benchmarks.bench_scale import views

    out: dict[str, object] = {}
    client = dask_backend.connect(f"local:{workers}")
    try:
        t_open, cat = timed(dask_backend.shared_catalogue, data_dir, None, client)
        out["release"] = f"{cat.n_rows('detections'):,} detections, {cat.n_rows('sources'):,} sources"
        out["partitions (detections)"] = cat.npartitions
        out["open release: metadata only (ms)"] = _ms(t_open)

        # What the server's warm-up does before the port opens: persist both levels' sky columns.
        t0 = time.perf_counter()
        client.run(importlib.import_module, "app.selection")
        warm = ExploreState(cat)
        for level in ("detections", "sources"):
            warm.level = level
            SkyView(warm)._index(None, None, 64, 32)
        out["warm-up: read + project + persist both levels (s)"] = round(time.perf_counter() - t0, 2)
        info = client.scheduler_info(n_workers=-1)["workers"].values()
        out["cluster memory after warm-up (GB)"] = round(sum(w["metrics"]["memory"] for w in info) / 1e9, 2)

        def page_start():
            state = ExploreState(cat)
            sky = SkyView(state)
            FilterPanel(state, sky), HRView(state), FluxView(state), TableView(state)
            sky._index(None, None, WIDTH, HEIGHT)
            return state, sky

        t_start, (state, sky) = timed(page_start)
        out["page start: count, table, HR, flux, first sky, sources (ms)"] = _ms(t_start)

        def zoom_ms(n_repeat: int = 2) -> float:
            samples = []
            for _ in range(n_repeat):
                for xr, yr in views():
                    samples.append(timed(sky._index, xr, yr, WIDTH, HEIGHT)[0])
            return _ms(statistics.median(samples))

        out["re-render after zoom, sources, no filter (ms, median of 22)"] = zoom_ms()
        t, _ = timed(state.param.update, det_ml_min=10.0, extent="point-like")
        out["filter change: every view, sources (ms)"] = _ms(t)
        out["re-render after zoom, sources, 2 filters (ms, median of 22)"] = zoom_ms()
        t, _ = timed(setattr, state, "level", "detections")
        out["level switch to detections: every view (ms)"] = _ms(t)
        out["re-render after zoom, detections, 2 filters (ms, median of 22)"] = zoom_ms()
        t, said = timed(go_to, state, "266.4 -29.0 r=2deg")
        out[f"go-to cone 2 deg at the Galactic centre: every view ({said}) (ms)"] = _ms(t)
        t, row = timed(state.shown.nearest, "icrs", 266.4, -29.0, 0.5)
        out["tap: nearest detection in the cone (ms)"] = _ms(t)
        with tempfile.TemporaryDirectory() as tmp:
            plan = es.plan_export(state)
            t, _ = timed(es.write_export, plan, "fits", Path(tmp) / "cone.fits")
            out[f"export the cone to FITS ({plan.n_rows:,} rows) (ms)"] = _ms(t)
            state.clear_selection()
            state.apply_preset("bright")
            plan = es.plan_export(state)
            t, _ = timed(es.write_export, plan, "fits", Path(tmp) / "bright.fits")
            out[f"export 'bright' detections to FITS, streamed ({plan.n_rows:,} rows) (s)"] = round(t, 2)
    finally:
        dask_backend.close(client)
    return out


def main(argv: list[str]) -> int:
    """``[DATA_DIR | N]``: a data directory, or a number of detections (``bench-data/partitioned-<N>``,
    written if absent); default 10,000,000."""
    arg = argv[0] if argv else "10000000"
    if arg.replace("e", "").replace(".", "").isdigit():
        from tests.benchmarks.bench_scale import partitioned_release

        data_dir = partitioned_release(int(float(arg)))[0].parent.parent
    else:
        data_dir = Path(arg)
    if not (data_dir / "releases").exists():
        print(f"No release under {data_dir}.")
        return 1
    for key, value in run(data_dir).items():
        print(f"{key:<88} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
