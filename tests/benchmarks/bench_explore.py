"""Explore-page figures: server re-render, tap, memory per session, browser latency, payload, cold start.

Each figure is printed next to the baseline measured in the same run: a plain hvPlot
``rasterize=True`` app on the same projected coordinates (tests/benchmarks/baseline_app.py).
Run: ``python -m tests.benchmarks.bench_explore [N_DETECTIONS]`` (default 1,000,000).
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import time

import numpy as np


def median_ms(fn, repeat: int = 15, warm: int = 2) -> float:
    for _ in range(warm):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def server_side(data_dir) -> dict:
    import holoviews as hv
    import panel as pn
    from bokeh.document import Document
    from holoviews.operation.datashader import rasterize

    import app.plots  # noqa: F401
    from app.state import ExploreState
    from app.views.sky import SkyView
    from data_loaders import projection
    from data_loaders.catalogue import load_catalogue

    out = {}
    t = time.perf_counter()
    cat = load_catalogue(data_dir)
    out["catalogue load (s)"] = time.perf_counter() - t
    st = ExploreState(cat, level="detections")
    sky = SkyView(st)
    rng = np.random.default_rng(1)
    views = []
    for _ in range(40):
        cx, cy, w = rng.uniform(-120, 120), rng.uniform(-50, 50), 10 ** rng.uniform(-0.5, 2.3)
        views.append(((cx - w, cx + w), (cy - w / 2, cy + w / 2)))
    it = iter(views * 10)

    def ours():
        xr_, yr_ = next(it)
        return sky._image(xr_, yr_, 1000, 500)

    out["re-render pan/zoom, ours (ms)"] = median_ms(ours)
    presets = iter(["clean point sources", "extended", "variable", "bright"] * 20)
    out["re-render after filter change, ours (ms)"] = median_ms(
        lambda: (st.apply_preset(next(presets)), sky._view(1000, 500))
    )
    st.reset_filters()
    x, y = cat.xy("detections", "icrs", "hammer")
    import pandas as pd

    points = hv.Points(pd.DataFrame({"x": x, "y": y}), ["x", "y"])
    it2 = iter(views * 10)

    def baseline():
        xr_, yr_ = next(it2)
        return rasterize(points, x_range=xr_, y_range=yr_, width=1000, height=500, dynamic=False)

    out["re-render pan/zoom, hvPlot rasterize baseline (ms)"] = median_ms(baseline)
    img_ours = sky._image(views[0][0], views[0][1], 1000, 500)
    img_base = baseline()
    out["payload per re-render, ours (kB, uint8 palette index)"] = img_ours.data.nbytes / 1e3
    out["payload per re-render, baseline (kB, float image)"] = (
        np.asarray(img_base.data[img_base.vdims[0].name]).nbytes / 1e3
    )

    rows = rng.integers(0, len(cat.detections), 200)
    lon, lat = cat.lonlat("detections", "icrs")
    px, py = projection.forward(lon[rows], lat[rows], "hammer")
    taps = iter(list(zip(px, py, strict=True)) * 5)
    out["tap -> source, ours (ms)"] = median_ms(lambda: sky._on_tap(*next(taps)), repeat=100)

    # memory per session: build whole pages (state + every view + Bokeh models) in one process
    from layouts.explore import create_page

    pn.extension("tabulator")
    import tracemalloc

    keep = []
    create_page(cat)[0].server_doc(Document())  # first page pays one-off caches (graticules, trees)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    n_sessions = 10
    for _ in range(n_sessions):
        tmpl, state = create_page(cat)
        doc = Document()
        tmpl.server_doc(doc)
        keep.append((tmpl, state, doc))
    gc.collect()
    # Python-heap bytes (numpy buffers included) still held by the open sessions.
    out["memory per open session (MB, tracemalloc)"] = (
        (tracemalloc.get_traced_memory()[0] - before) / n_sessions / 2**20
    )
    tracemalloc.stop()
    # a filter change on a rendered page: the sky, HR diagram, flux histogram, table and counts
    tmpl, state = keep[0][0], keep[0][1]
    state.level = "detections"
    values = iter([5.0, 8.0, 12.0, 20.0, 30.0, 6.0, 9.0, 15.0] * 4)
    out["filter change on a rendered page, all views (ms)"] = median_ms(
        lambda: setattr(state, "det_ml_min", next(values)), repeat=12
    )
    t = time.perf_counter()
    for _ in range(3):
        create_page(cat)[0].server_doc(Document())
    out["page open on the server: build + Bokeh models (s)"] = (time.perf_counter() - t) / 3
    del keep
    return out


#: In the page: time the wheel event, and the first paint after the image data source changes.
_LATENCY_HOOK = r"""
() => {
  window.__lat = {wheel: [], paint: []};
  const doc = Bokeh.documents[0];
  for (const m of doc.all_models) {
    if (m.type === 'ColumnDataSource' && m.data && ('image' in m.data)) {
      m.change.connect(() => requestAnimationFrame(() => requestAnimationFrame(
        () => window.__lat.paint.push(performance.now()))));
    }
  }
  document.addEventListener('wheel', () => window.__lat.wheel.push(performance.now()), {capture: true});
}
"""


def browser_side(data_dir) -> dict:
    """Wheel zoom -> new image painted, timed inside the page (real wheel input from Playwright).

    The clock starts at the page's ``wheel`` event and stops two animation frames after the
    image's data source changed (the frame that paints it has then been composited).
    """
    from tests.benchmarks.baseline_server import serve_baseline
    from tests.ui.serving import browser, serve_app, wait_idle

    out = {}

    def measure(url: str, label: str, b) -> None:
        page = b.new_page(viewport={"width": 1400, "height": 900})
        frames: list[tuple[float, int]] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append((time.perf_counter(), len(p)))))
        t0 = time.perf_counter()
        page.goto(url)
        wait_idle(page)
        page.wait_for_timeout(1500)
        out[f"first page load, {label} (s)"] = time.perf_counter() - t0
        page.evaluate(_LATENCY_HOOK)
        canvas = page.locator(".bk-Canvas, .bk-canvas-events").first.bounding_box()
        page.mouse.move(canvas["x"] + canvas["width"] * 0.45, canvas["y"] + canvas["height"] * 0.5)
        lat, sizes = [], []
        for i in range(12):
            page.evaluate("() => { window.__lat.wheel = []; window.__lat.paint = []; }")
            frames.clear()
            page.mouse.wheel(0, -240 if i % 2 == 0 else 200)
            for _ in range(300):
                page.wait_for_timeout(10)
                got = page.evaluate("() => window.__lat")
                if got["wheel"] and got["paint"]:
                    lat.append(got["paint"][0] - got["wheel"][0])
                    break
            page.wait_for_timeout(600)
            sizes.append(sum(n for _, n in frames))
        if lat:
            out[f"wheel zoom -> new image painted, {label} (ms, median of {len(lat)})"] = statistics.median(lat)
            out[f"bytes received per zoom, {label} (kB)"] = statistics.median(sizes) / 1e3
        page.close()

    with browser() as b:
        t0 = time.perf_counter()
        with serve_app(data_dir) as base:
            out["cold start: serve -> explore answers (s)"] = time.perf_counter() - t0
            measure(f"{base}/explore?level=detections", "ours", b)
        with serve_baseline(data_dir) as (url, _):
            measure(url, "hvPlot baseline", b)
    return out


def main(argv: list[str] | None = None) -> None:
    from tests.benchmarks.data import bench_data_dir

    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 1_000_000
    data_dir = bench_data_dir(n)
    print(f"# Explore benchmarks, {n:,} detections, {os.cpu_count()} cores")
    figures = server_side(data_dir)
    figures.update(browser_side(data_dir))
    for k, v in figures.items():
        print(f"{k:60s} {v:10.1f}")
    ours = figures.get("re-render pan/zoom, ours (ms)")
    base = figures.get("re-render pan/zoom, hvPlot rasterize baseline (ms)")
    if ours and base:
        print(f"{'server re-render ours/baseline':60s} {ours / base:10.2f}")
    bo = [v for k, v in figures.items() if k.startswith("wheel zoom") and "ours" in k]
    bb = [v for k, v in figures.items() if k.startswith("wheel zoom") and "baseline" in k]
    if bo and bb:
        print(f"{'browser zoom latency ours/baseline':60s} {bo[0] / bb[0]:10.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak RSS of this benchmark process (MB)':60s} {peak:10.1f}")


if __name__ == "__main__":
    main()
