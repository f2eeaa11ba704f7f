"""Page-level figures of the Explore page on Dask (``serve --dask local``) on a partitioned release.

Drives the page's own objects (``layouts.explore_dask.DaskExplorePage``, as a session would)
with the release on a LocalCluster of 2 worker processes x 1 thread, and times what a user
waits for on the server: the warm-up (persisting the plotting columns), a re-render after a
zoom (10 random views, median), a filter change (count + sky), the count alone, a cone search
(reading only the cone's row groups), a tap, a level switch and a streamed FITS export. The
browser's share (transfer and paint of a one-byte-per-pixel image) is measured for the pandas
page by ``bench_explore`` and is the same here.

Run: ``python -m tests.benchmarks.bench_dask_explore [DATA_DIR | N]`` (default 10,000,000 detections
in ``bench-data/partitioned-10000000``, written like ``bench_scale`` does when absent).
"""

from __future__ import annotations

import dataclasses
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 1100, 520  # the sky's frame on a 1500-px-wide window


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 1)


def _det_ml(lo: float, level: str):
    from app import fields
    from app.selection import Range

    return Range(fields.column("det_ml", level), lo, None)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def run(data_dir: Path, workers: int = 2) -> dict:
    from app import dask_backend
    from app.dask_state import DaskExploreState
    from layouts.explore_dask import DaskExplorePage
    from tests.benchmarks.bench_scale import views

    out: dict[str, object] = {}
    client = dask_backend.connect(f"local:{workers}")
    try:
        t_open, cat = timed(dask_backend.shared_catalogue, data_dir, None, client)
        out["release"] = f"{cat.n_rows('detections'):,} detections, {cat.n_rows('sources'):,} sources"
        out["partitions (detections)"] = cat.npartitions
        out["open release: metadata only (ms)"] = _ms(t_open)

        # What the server's warm-up does before the port opens: persist both levels' columns.
        warm = DaskExploreState(cat)
        t0 = time.perf_counter()
        client.run(importlib.import_module, "app.selection")
        for level in ("detections", "sources"):
            warm.level = level
            warm.compute_sky(width=64, height=32)
        out["warm-up: read + project + persist both levels (s)"] = round(time.perf_counter() - t0, 2)
        info = client.scheduler_info(n_workers=-1)["workers"].values()
        out["cluster memory after warm-up (GB)"] = round(sum(w["metrics"]["memory"] for w in info) / 1e9, 2)

        page = DaskExplorePage(cat, client)
        page.sky.size = lambda: (WIDTH, HEIGHT)
        t_start, _ = timed(page.start)
        out["page start: first sky + count, sources (ms)"] = _ms(t_start)

        class _Event:
            def __init__(self, xr, yr):
                self.x0, self.x1, self.y0, self.y1 = xr[0], xr[1], yr[0], yr[1]

        def zoom_ms(n_repeat: int = 2) -> float:
            samples = []
            for _ in range(n_repeat):
                for xr, yr in views():
                    samples.append(timed(page.sky._on_ranges_update, _Event(xr, yr))[0])
            return _ms(statistics.median(samples))

        out["re-render after zoom, sources, no filter (ms, median of 22)"] = zoom_ms()
        t, _ = timed(page.state.param.update, det_ml_min=10.0, extent="point-like")
        out["filter change: count + sky, sources (ms)"] = _ms(t)
        other = dataclasses.replace(
            page.state.query(), selection=page.state.filter_selection() & _det_ml(11.0, "sources")
        )
        t, counts = timed(page.state.compute_count, other)
        out["count alone, a filter not seen before, sources (ms)"] = _ms(t)
        out["re-render after zoom, sources, 2 filters (ms, median of 22)"] = zoom_ms()

        t, _ = timed(setattr, page.state, "level", "detections")
        out["level switch to detections: count + sky (ms)"] = _ms(t)
        out["re-render after zoom, detections, 2 filters (ms, median of 22)"] = zoom_ms()
        other = dataclasses.replace(
            page.state.query(), selection=page.state.filter_selection() & _det_ml(11.0, "detections")
        )
        t, counts = timed(page.state.compute_count, other)
        out[f"count alone, a filter not seen before, detections ({counts.filtered:,} of {counts.total:,}) (ms)"] = _ms(
            t
        )

        # Cone search: the first read of a cone, then the whole page update (count, sky, table).
        before = cat.row_groups_read
        m31 = dataclasses.replace(page.state.query(), cone=(10.6847, 41.2690, 1.0))
        t, res = timed(page.state.compute_cone, m31)
        out[f"cone 1 deg at M31, first read ({len(res.rows):,} rows) (ms)"] = _ms(t)
        out["  row groups read for it (of all)"] = f"{cat.row_groups_read - before} of {res.row_groups_total}"
        t, _ = timed(page.cone.search, "266.4 -29.0 r=2deg")
        res = page.cone.result
        out[f"cone search 2 deg at the Galactic centre, page update ({len(res.rows):,} rows) (ms)"] = _ms(t)
        out["  row groups read for it (of all)"] = f"{res.row_groups_read} of {res.row_groups_total}"
        out["re-render after zoom with the cone drawn (ms, median of 22)"] = zoom_ms()

        with tempfile.TemporaryDirectory() as tmp:
            t, rows = timed(page.state.export_to, Path(tmp) / "cone.fits", "fits")
            out[f"export the cone to FITS ({rows:,} rows) (ms)"] = _ms(t)
            page.cone.clear()
            page.state.apply_preset("bright")
            t, rows = timed(page.state.export_to, Path(tmp) / "bright.fits", "fits")
            out[f"export 'bright' detections to FITS, streamed ({rows:,} rows) (s)"] = round(t, 2)

        page.sky.show_view(((-20.0, 20.0), (-10.0, 10.0)))
        t, _ = timed(page.sky.tap, 0.0, 0.0)
        out["tap: nearest detection (ms)"] = _ms(t)
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
