"""First page: first canvas in Chromium and server CPU per page open, ours beside a plain hvPlot page.

Both servers run in the same run on the same catalogue: ``xmm-explorer serve`` (the user's
command) and ``panel serve tests/benchmarks/baseline_app.py`` (an hvPlot ``rasterize=True`` page).
For each page open, in a fresh browser context (cold browser cache):

- **first canvas**: from the navigation start to the first animation frame after the sky image
  is painted (a Bokeh ``Image``/``ImageRGBA`` renderer with data whose plot view has finished
  rendering), timed inside the page;
- **server CPU**: user + system CPU of every process of the server's group, from just before the
  request to ``CPU_TAIL_S`` seconds after the first canvas (the late messages of the open included).

Opens alternate between the two servers (``--opens`` of each), and the medians are printed beside
each other. **Cold start** is the time from launching ``xmm-explorer serve`` to the first canvas
of ``/explore`` in a browser that starts asking as soon as the port answers. **Source tab**: from
opening ``/source?srcid=...`` in a new tab of a browser that has the Explore page open (its static
files cached, as when a user opens a source from Explore) to every plot of the page drawn.

    python -m tests.benchmarks.bench_first_page --detections 1000000 [--data-dir /work/data1m]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.load.runner import cpu_s, group_pids

#: The servers' logs (not in the data directory, which may be shared and read-only).
LOGS = Path(tempfile.gettempdir())

#: Seconds after the first canvas that still count as part of the page open.
CPU_TAIL_S = 3.0

#: Installed in every page before its scripts run: polls until the sky image is painted.
FIRST_CANVAS = r"""
(() => {
  const poll = setInterval(() => {
    const B = window.Bokeh;
    if (!B || !B.documents || !B.documents.length || !B.index) return;
    for (const d of B.documents) {
      for (const m of d.all_models) {
        if (m.type !== 'GlyphRenderer' || !m.glyph) continue;
        if (m.glyph.type !== 'Image' && m.glyph.type !== 'ImageRGBA') continue;
        const img = m.data_source && m.data_source.data && m.data_source.data.image;
        if (!img || !img.length) continue;
        const view = B.index.find_one(m);
        const plot = view && view.parent;
        if (!plot || !plot.has_finished || !plot.has_finished()) continue;
        clearInterval(poll);
        requestAnimationFrame(() => requestAnimationFrame(() => { window.__firstCanvas = performance.now(); }));
        return;
      }
    }
  }, 5);
})();
"""


#: Every Bokeh plot of the page drawn (at least one): the Source page's lightcurves, spectrum, SED...
PLOTS_DRAWN = r"""
(() => {
  const poll = setInterval(() => {
    const B = window.Bokeh;
    if (!B || !B.documents || !B.documents.length || !B.index) return;
    let plots = 0;
    for (const d of B.documents) {
      for (const m of d.all_models) {
        if (m.type !== 'Figure' && m.type !== 'Plot') continue;
        const view = B.index.find_one(m);
        if (!view || !view.has_finished()) return;
        plots += 1;
      }
    }
    if (plots === 0 || document.querySelector('.pn-busy')) return;
    clearInterval(poll);
    requestAnimationFrame(() => requestAnimationFrame(() => { window.__firstCanvas = performance.now(); }));
  }, 5);
})();
"""


def _source_tabs(b, base: str, srcid: int, n: int) -> list[float]:
    """Seconds from opening /source?srcid= in a new tab (the browser already showing Explore) to its plots drawn."""
    ctx = b.new_context(viewport={"width": 1400, "height": 900})
    explore = ctx.new_page()
    explore.goto(f"{base}/explore", wait_until="load")
    ctx.add_init_script(PLOTS_DRAWN)
    out = []
    for _ in range(n):
        page = ctx.new_page()
        page.goto(f"{base}/source?srcid={srcid}", wait_until="commit", timeout=180_000)
        page.wait_for_function("() => window.__firstCanvas !== undefined", timeout=180_000, polling=20)
        out.append(page.evaluate("() => window.__firstCanvas") / 1e3)
        page.close()
    ctx.close()
    return out


def _busiest_source(data_dir: Path) -> int:
    """The SRCID of the source with the most detections (the fullest Source page)."""
    from data_loaders.catalogue import load_catalogue

    sources = load_catalogue(data_dir).frame("sources")
    return int(sources["SRCID"].iloc[int(sources["N_DETECTIONS"].to_numpy().argmax())])


def _open(b, url: str, pgid: int) -> tuple[float, float]:
    """One page open in a fresh context: (first canvas in s since navigation start, server CPU s)."""
    ctx = b.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(FIRST_CANVAS)
    page = ctx.new_page()
    pids = group_pids(pgid)
    cpu0 = cpu_s(pids)
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => window.__firstCanvas !== undefined", timeout=180_000, polling=20)
    first = page.evaluate("() => window.__firstCanvas") / 1e3
    page.wait_for_timeout(CPU_TAIL_S * 1e3)
    cpu = cpu_s(group_pids(pgid) or pids) - cpu0
    ctx.close()
    return first, cpu


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _launch(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _cold_start(b, data_dir: Path, extra: list[str]) -> tuple[subprocess.Popen, str, float]:
    """Launch our server; the browser opens /explore as soon as the port answers. (proc, base, s to first canvas)."""
    from tests.ui.serving import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), "serve", "--port", str(port), *extra]
    env = {"XMM_EXPLORER_MAX_SESSIONS_PER_CLIENT": "10000", "XMM_EXPLORER_MAX_SESSIONS": "10000"}
    t0 = time.perf_counter()
    proc = _launch(cmd, env, LOGS / f"bench-first-page-{port}.log")
    while not _port_open(port):
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see its log in {LOGS}")
        time.sleep(0.02)
    ctx = b.new_context(viewport={"width": 1400, "height": 900})
    ctx.add_init_script(FIRST_CANVAS)
    page = ctx.new_page()
    page.goto(f"http://127.0.0.1:{port}/explore", wait_until="commit", timeout=300_000)
    page.wait_for_function("() => window.__firstCanvas !== undefined", timeout=300_000, polling=20)
    cold = time.perf_counter() - t0
    page.wait_for_timeout(CPU_TAIL_S * 1e3)
    ctx.close()
    return proc, f"http://127.0.0.1:{port}", cold


def _listed(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    from tests.benchmarks.baseline_server import serve_baseline
    from tests.benchmarks.data import bench_data_dir
    from tests.ui.serving import browser, stop

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detections", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, help="an ingested data directory (default: bench-data/demo-N)")
    ap.add_argument("--opens", type=int, default=4, help="page opens of each server (alternating)")
    ap.add_argument("--page", default="explore?level=detections", help="our page and its query")
    ap.add_argument("--source-tabs", type=int, default=4, help="Source pages opened in new tabs")
    ap.add_argument("--quick", action="store_true", help="2 opens of each")
    args = ap.parse_args(argv)
    if args.quick:
        args.opens = args.source_tabs = 2
    data_dir = args.data_dir or bench_data_dir(args.detections)
    print(f"# First page, {data_dir}, {os.cpu_count()} cores, load average {load_average()}")
    ours_t, ours_cpu, base_t, base_cpu = [], [], [], []
    with browser() as b:
        proc, base, cold = _cold_start(b, data_dir, [])
        try:
            with serve_baseline(data_dir, LOGS / "bench-baseline.log") as (burl, bpgid):
                _open(b, burl, bpgid)  # both servers have served a page before timing
                for _ in range(args.opens):
                    t, c = _open(b, f"{base}/{args.page}", proc.pid)
                    ours_t.append(t)
                    ours_cpu.append(c)
                    t, c = _open(b, burl, bpgid)
                    base_t.append(t)
                    base_cpu.append(c)
                source = _source_tabs(b, base, _busiest_source(data_dir), args.source_tabs) if args.source_tabs else []
        finally:
            stop(proc)
    med = statistics.median
    rows = [
        ("first canvas, median (s)", med(ours_t), med(base_t)),
        ("first canvas, max (s)", max(ours_t), max(base_t)),
        (f"server CPU per page open, to first canvas + {CPU_TAIL_S:.0f} s, median (s)", med(ours_cpu), med(base_cpu)),
    ]
    print(f"{'figure':68s} {'ours':>8s} {'hvPlot':>8s} {'ratio':>6s}")
    for label, o, h in rows:
        print(f"{label:68s} {o:8.2f} {h:8.2f} {o / h:6.2f}")
    print(f"{'cold start: serve launched -> first canvas of /explore (s)':68s} {cold:8.2f}")
    if source:
        print(f"{'Source tab: new tab -> every plot drawn, median (s; goal 1.5)':68s} {med(source):8.2f}")
    print(f"ours   first canvas: {_listed(ours_t)}; CPU {_listed(ours_cpu)}")
    print(f"hvPlot first canvas: {_listed(base_t)}; CPU {_listed(base_cpu)}")
    print(f"Source tab: {_listed(source)}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
