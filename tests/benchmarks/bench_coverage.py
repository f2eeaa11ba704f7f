"""Explore's "show observation footprints": toggle -> footprint drawn, the MOC image against the old polygons.

Server side: the coverage image of the whole sky (cold: MOC read and rasterised; warm: the
per-process cache) in both frames, a zoomed re-render, and what the old layer cost before it
reached the browser (one polygon per field: vertices, building and serialising the Bokeh
model). Browser side: a click on the toggle -> the footprint image's data arrives and two
animation frames pass (the frame that paints it is composited), on the served Explore page.
Run: ``python -m tests.benchmarks.bench_coverage [N_DETECTIONS | --data-dir DIR]`` (default
1,000,000 detections in bench-data/; ``--data-dir`` takes an existing demo data directory, e.g.
one made once by ``xmm-explorer --data-dir DIR demo``). The baseline is the old layer (one
polygon per field), measured in the same run; the last rows are the ratios. Figures from a
shared machine vary; compare the two paths from the same run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

#: In the page: the time from the click to two frames after a uint32 (RGBA) image larger
#: than the 2x2 placeholder is in a Bokeh data source.
_WAIT_FOR_FOOTPRINT = """
(t0) => new Promise((resolve) => {
  const found = () => {
    for (const doc of Bokeh.documents) {
      for (const m of doc.all_models) {
        const img = m.data && m.data.image && m.data.image[0];
        if (img && img.constructor === Uint32Array && img.length > 4) return true;
        if (img && img.dtype === 'uint32' && img.length > 4) return true;
      }
    }
    return false;
  };
  const poll = () => {
    if (found()) requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    else setTimeout(poll, 5);
  };
  poll();
})
"""


#: Fields the old polygon layer is measured on (all of them exhaust the memory of a 24 GB machine at 1M).
OLD_FIELDS = 1000


def server_side(release_dir) -> dict:
    import holoviews as hv
    import numpy as np
    from bokeh.document import Document

    import app.plots  # noqa: F401 - the bokeh backend
    from app.plots.sky import full_extent
    from app.views import coverage as view
    from data_loaders import coverage

    out = {}
    full = full_extent("hammer")
    t = time.perf_counter()
    view.footprint_rgba(str(release_dir), "icrs", "hammer", *full, 900, 450)
    out["MOC image, whole sky, cold (MOC read + raster), icrs (s)"] = time.perf_counter() - t
    t = time.perf_counter()
    view.footprint_rgba(str(release_dir), "galactic", "hammer", *full, 900, 450)
    out["MOC image, whole sky, cold raster, galactic (s)"] = time.perf_counter() - t
    times = []
    for _ in range(20):
        t = time.perf_counter()
        view.footprint_rgba(str(release_dir), "galactic", "hammer", *full, 900, 450)
        times.append(time.perf_counter() - t)
    out["MOC image, whole sky, cached (ms)"] = statistics.median(times) * 1e3
    obs = coverage.load_observations(release_dir)
    moc = view.release_moc(str(release_dir))
    times = []
    for ra, dec in zip(obs.RA_PNT.to_numpy()[:20], obs.DEC_PNT.to_numpy()[:20], strict=True):
        x, y = (float(v[0]) for v in coverage.projection.forward([ra], [dec], "hammer"))
        for w in (8.0, 1.0):
            t = time.perf_counter()
            coverage.footprint_raster(moc, "icrs", "hammer", (x - w, x + w), (y - w / 2, y + w / 2), 900, 450)
            times.append(time.perf_counter() - t)
    out["MOC image, zoomed view 2-16 deg wide (ms, median)"] = statistics.median(times) * 1e3

    # The old layer on all 13k fields of the 1M demo took ~17 GB building the Bokeh document: it is
    # measured on the first OLD_FIELDS fields and its vertex count given for all of them.
    polys = coverage.footprint_polygons(obs, "hammer")
    out["old polygons: fields (all)"] = float(len(obs))
    out["old polygons: vertices (all)"] = float(sum(len(p[0]) for p in polys))
    t = time.perf_counter()
    polys = coverage.footprint_polygons(obs.iloc[:OLD_FIELDS], "hammer")
    path = hv.Path([np.column_stack(p) for p in polys], kdims=["x", "y"])
    doc = Document()
    doc.add_root(hv.render(path, backend="bokeh"))
    payload = len(doc.to_json_string()) if hasattr(doc, "to_json_string") else len(str(doc.to_json()))
    n_old = min(OLD_FIELDS, len(obs))
    out[f"old polygons: build + render + serialise, {n_old} fields (s)"] = time.perf_counter() - t
    out[f"old polygons: document size, {n_old} fields (MB)"] = payload / 1e6
    return out


def browser_side(data_dir) -> dict:
    from tests.ui.serving import browser, serve_app, wait_idle

    out = {}
    with browser() as b, serve_app(data_dir, timeout=900) as base:
        for frame in ("icrs", "galactic"):
            page = b.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/explore?frame={frame}")
            wait_idle(page)
            page.wait_for_timeout(1500)
            box = page.get_by_text("show observation footprints").first
            t0 = page.evaluate("() => performance.now()")
            box.click()
            ms = page.evaluate(_WAIT_FOR_FOOTPRINT, t0)
            out[f"toggle -> footprint painted, {frame}, first session of the process (ms)"] = ms
            page.get_by_text("show observation footprints").first.click()  # off
            page.wait_for_timeout(500)
            page.close()
    return out


def main(argv: list[str] | None = None) -> None:
    from tests.benchmarks.data import bench_data_dir

    argv = sys.argv[1:] if argv is None else argv
    given = argv[:1] == ["--data-dir"]
    data_dir = Path(argv[1]) if given else bench_data_dir(int(argv[0]) if argv else 1_000_000)
    release = data_dir / "releases" / "DEMO"
    n = int(json.loads((release / "release.json").read_text()).get("n_detections", 0))
    print(f"# Coverage (footprint) benchmarks, {n:,} detections, {os.cpu_count()} cores (shared machine: compare rows)")
    figures = server_side(release)
    figures.update(browser_side(data_dir))
    old = next(v for k, v in figures.items() if k.startswith("old polygons: build"))
    figures["ratio old polygons (1,000 fields) / MOC image cold icrs"] = (
        old / figures["MOC image, whole sky, cold (MOC read + raster), icrs (s)"]
    )
    for k, v in figures.items():
        print(f"{k:72s} {v:10.2f}")


if __name__ == "__main__":
    main()
