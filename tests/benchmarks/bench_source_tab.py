"""Benchmark: a new Source tab in Chromium, beside a new tab of a plain hvPlot page in the same run.

Both servers run on the same catalogue: ``xmm-explorer serve`` and ``panel serve
tests/benchmarks/baseline_app.py`` (one hvPlot ``rasterize=True`` plot). Each is first opened
once in its own browser context (its static files cached, as when a user opens a source from
the Explore page), then ``/source?srcid=`` of the source with most detections (the fullest
Source page) and the baseline page are opened in new tabs of those contexts, alternately.
Timed inside each tab from its navigation start:

- **HTML**: the page's HTML received (the server builds the page in this GET);
- **document**: BokehJS has the document (websocket connected, models sent and built);
- **first plot**: the first visible Bokeh plot has finished rendering;
- **every plot**: as many visible plots have finished as the page shows once settled (counted on
  an untimed open first), so plots built after the first render count too.

Also printed: the Bokeh models of each page once settled, and the server CPU per Source tab.

    python -m tests.benchmarks.bench_source_tab --detections 50000 --tabs 5 [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

#: Installed in every tab before its scripts run; window.__t holds the milestones (ms since navigation start).
MILESTONES = r"""
(() => {
  window.__t = {};
  const poll = setInterval(() => {
    const t = window.__t, now = performance.now();
    const nav = performance.getEntriesByType('navigation')[0];
    if (nav && nav.responseEnd > 0 && t.html === undefined) t.html = nav.responseEnd;
    const B = window.Bokeh;
    if (!B || !B.documents || !B.documents.length || !B.index) return;
    if (t.document === undefined) t.document = now;
    let drawn = 0;
    for (const d of B.documents) {
      for (const m of d.all_models) {
        if ((m.type !== 'Figure' && m.type !== 'Plot') || !m.visible) continue;
        const view = B.index.find_one(m);
        if (view && view.has_finished() && view.el && view.el.isConnected) drawn += 1;
      }
    }
    t.drawn = drawn;
    if (drawn > 0 && t.first === undefined) t.first = now;
    if (window.__expected !== undefined && drawn >= window.__expected && t.every === undefined) {
      t.every = now;
      clearInterval(poll);
    }
  }, 5);
})();
"""

MODEL_COUNT = "() => Bokeh.documents.reduce((n, d) => n + d._all_models.size, 0)"


def _settled(page, url: str) -> tuple[int, int]:
    """Open ``url`` untimed and wait until it is quiet: (visible plots drawn, Bokeh models)."""
    from tests.ui.serving import wait_idle

    page.goto(url)
    page.wait_for_function("() => window.__t && window.__t.first !== undefined", timeout=180_000, polling=50)
    wait_idle(page, timeout=180_000)
    page.wait_for_timeout(3000)  # anything built after the first render (lazy panels) has arrived
    return page.evaluate("() => window.__t.drawn"), page.evaluate(MODEL_COUNT)


def _tab(ctx, url: str, expected: int) -> dict[str, float]:
    """One new tab of ``url``: its milestones in seconds since its navigation start."""
    page = ctx.new_page()
    page.add_init_script(f"window.__expected = {expected};")
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => window.__t && window.__t.every !== undefined", timeout=180_000, polling=20)
    out = {k: v / 1e3 for k, v in page.evaluate("() => window.__t").items() if k != "drawn"}
    page.close()
    return out


def main(argv: list[str] | None = None) -> None:
    from tests.benchmarks.baseline_server import serve_baseline
    from tests.benchmarks.bench_first_page import _busiest_source, load_average
    from tests.benchmarks.data import bench_data_dir
    from tests.load.runner import cpu_s, group_pids
    from tests.ui.serving import browser, serve_app

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detections", type=int, default=1_000_000)
    ap.add_argument("--data-dir", type=Path, help="an ingested data directory (default: bench-data/demo-N)")
    ap.add_argument("--tabs", type=int, default=5, help="new tabs of each page (alternating)")
    ap.add_argument("--quick", action="store_true", help="3 tabs of each")
    args = ap.parse_args(argv)
    if args.quick:
        args.tabs = 3
    data_dir = args.data_dir or bench_data_dir(args.detections)
    srcid = _busiest_source(data_dir)
    print(f"# New Source tab, {data_dir}, SRCID {srcid}, {os.cpu_count()} cores, load average {load_average()}")
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    cpu: list[float] = []
    with serve_app(data_dir, page="source") as base, browser() as b, serve_baseline(data_dir) as (baseline_url, _):
        source_url = f"{base}/source?srcid={srcid}"
        ctx, bctx = (b.new_context(viewport={"width": 1400, "height": 900}) for _ in range(2))
        for c in (ctx, bctx):
            c.add_init_script(MILESTONES)
        ctx.new_page().goto(f"{base}/explore", wait_until="load")  # the browser has our static files
        plots, models = _settled(ctx.new_page(), source_url)
        bplots, bmodels = _settled(bctx.new_page(), baseline_url)
        pgid = _server_pgid(base)
        for _ in range(args.tabs):
            pids = group_pids(pgid)
            before = cpu_s(pids)
            ours.append(_tab(ctx, source_url, plots))
            cpu.append(cpu_s(group_pids(pgid) or pids) - before)
            theirs.append(_tab(bctx, baseline_url, bplots))
    med = statistics.median
    print(f"{'new tab, median of ' + str(args.tabs) + ' (s since navigation start)':56s} {'Source':>8s} {'hvPlot':>8s}")
    for key, label in (
        ("html", "HTML received (page built by the server)"),
        ("document", "Bokeh document received and built"),
        ("first", "first plot drawn"),
        ("every", "every plot drawn (goal 1.5 for Source)"),
    ):
        print(f"{label:56s} {med(t[key] for t in ours):8.2f} {med(t[key] for t in theirs):8.2f}")
    print(f"{'visible plots':56s} {plots:8d} {bplots:8d}")
    print(f"{'Bokeh models of the page':56s} {models:8d} {bmodels:8d}")
    print(f"{'server CPU per Source tab, to every plot drawn, median (s)':56s} {med(cpu):8.2f}")
    print("Source every plot: " + ", ".join(f"{t['every']:.2f}" for t in ours))
    print("hvPlot every plot: " + ", ".join(f"{t['every']:.2f}" for t in theirs))
    print(f"load average after: {load_average()}")


def _server_pgid(base: str) -> int:
    """The process group of the server listening at ``base`` (``serve_app`` starts it in its own session)."""
    import psutil

    port = int(base.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return os.getpgid(conn.pid)
    raise RuntimeError(f"no process listens on port {port}")


if __name__ == "__main__":
    main()
