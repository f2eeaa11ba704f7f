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

#: In the page: the packed RGBA (uint32) images larger than a 2x2 placeholder, by data source, kept
#: on ``window`` so that the wait below can tell a new image (the footprint) from those already
#: drawn (the HiPS background, when the release has one).
_NOTE_IMAGES = """
() => {
  const seen = new Map();
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      const img = m.data && m.data.image && m.data.image[0];
      if (img && (img.constructor === Uint32Array || img.dtype === 'uint32') && img.length > 4) seen.set(m.id, img);
    }
  }
  window.__benchImages = seen;
}
"""

#: The time from the click (``t0``) to two animation frames after a new uint32 image larger than
#: the placeholder is in a data source (the frame that paints it is composited); -1 after
#: ``limit`` ms without one, so that a page that never draws it cannot hang the benchmark.
_WAIT_FOR_FOOTPRINT = """
([t0, limit]) => new Promise((resolve) => {
  const before = window.__benchImages || new Map();
  const found = () => {
    for (const doc of Bokeh.documents) {
      for (const m of doc.all_models) {
        const img = m.data && m.data.image && m.data.image[0];
        if (img && (img.constructor === Uint32Array || img.dtype === 'uint32') && img.length > 4
            && before.get(m.id) !== img) return true;
      }
    }
    return false;
  };
  const poll = () => {
    if (found()) requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    else if (performance.now() - t0 > limit) resolve(-1);
    else setTimeout(poll, 5);
  };
  poll();
})
"""

#: Click the checkbox beside the label text (the label is a <div>, the box its sibling <input>).
TOGGLE = "(label) => label.getRootNode().querySelector('input[type=checkbox]').click()"

#: How long the browser waits for a page to settle or a footprint to be painted (ms).
WAIT_MS = 180_000


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
            page.set_default_timeout(WAIT_MS)
            page.goto(f"{base}/explore?frame={frame}", timeout=WAIT_MS)
            wait_idle(page, timeout=WAIT_MS)
            page.wait_for_timeout(1500)
            # Panel's checkbox label is a <div> beside the <input>: a click on the text toggles nothing.
            box = page.get_by_text("show observation footprints").first
            for run in ("first toggle in the process" if frame == "icrs" else "first toggle, this frame", "again"):
                page.evaluate(_NOTE_IMAGES)
                t0 = page.evaluate("() => performance.now()")
                box.evaluate(TOGGLE)
                ms = page.evaluate(_WAIT_FOR_FOOTPRINT, [t0, WAIT_MS])
                key = f"toggle -> footprint painted, {frame}, {run} (ms)"
                out[key] = ms if ms >= 0 else float("nan")
                if ms < 0:
                    print(f"# {key}: not painted within {WAIT_MS / 1000:.0f} s", flush=True)
                box.evaluate(TOGGLE)  # off
                wait_idle(page, timeout=WAIT_MS)
                page.wait_for_timeout(500)
            # Baseline from the same page: a change of the sky's colour scale, the same round trip
            # (click -> server draws a new image -> browser paints it) for the catalogue's own image.
            page.evaluate(_NOTE_IMAGES)
            out[f"baseline: scale change -> sky repainted, {frame} (ms)"] = _scale_change_ms(page)
            page.close()
    return out


#: In the page: the time from ``t0`` to two frames after the sky's index image (uint8) is replaced.
_WAIT_FOR_SKY = """
([t0, limit]) => new Promise((resolve) => {
  const images = () => Bokeh.documents.flatMap((d) => [...d.all_models]).filter(
    (m) => m.data && m.data.image && m.data.image[0] && (m.data.image[0].constructor === Uint8Array
      || m.data.image[0].dtype === 'uint8')).map((m) => m.data.image[0]);
  const before = window.__benchSky;
  const poll = () => {
    if (images().some((img) => !before.includes(img)))
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
    else if (performance.now() - t0 > limit) resolve(-1);
    else setTimeout(poll, 5);
  };
  poll();
})
"""


def _scale_change_ms(page) -> float:
    page.evaluate(
        "() => { window.__benchSky = Bokeh.documents.flatMap((d) => [...d.all_models]).filter("
        "(m) => m.data && m.data.image).map((m) => m.data.image[0]); }"
    )
    select = page.get_by_label("Scale").first
    t0 = page.evaluate("() => performance.now()")
    select.select_option(index=2)  # linear (from equalised)
    ms = page.evaluate(_WAIT_FOR_SKY, [t0, WAIT_MS])
    return ms if ms >= 0 else float("nan")


def main(argv: list[str] | None = None) -> None:
    from tests.benchmarks.data import bench_data_dir

    argv = sys.argv[1:] if argv is None else argv
    given = argv[:1] == ["--data-dir"]
    data_dir = Path(argv[1]) if given else bench_data_dir(int(argv[0]) if argv else 1_000_000)
    if given and not (data_dir / ".demo-done").exists():
        sys.exit(f"{data_dir} is not ready: no .demo-done (its demo is still being generated?)")
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
