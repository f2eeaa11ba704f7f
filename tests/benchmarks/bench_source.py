"""Benchmark: tap -> full Source view (all panels built, products on local disk, already synthesized).

Generates a 100k-detection demo release in a temporary directory, picks sources with products,
synthesizes their products once, then times ``state.srcid = ...`` (what a tap on Explore or a
link does) until every panel object is built, and again on a rendered view (its Bokeh models in a
Bokeh document, as in a live session), where every change also updates Bokeh models. For the
rendered view it also times serializing the document changes into the PATCH-DOC message a browser
would get, and reports that message's size.
Run: ``.venv/bin/python -m tests.benchmarks.bench_source``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main(n_detections: int = 100_000, n_sources: int = 10) -> None:
    import panel as pn
    from bokeh.document import Document

    from app.views.source import SourceView
    from data_loaders.catalogue import Catalogue
    from data_loaders.demo_products import product_store_for
    from tests.conftest import make_demo_data_dir

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data_dir = make_demo_data_dir(Path(tmp), n=n_detections, seed=11)
        cat = Catalogue(data_dir / "releases" / "DEMO")
        print(f"demo of {n_detections:,} detections generated and loaded in {time.perf_counter() - t0:.1f} s")
        det = cat.detections[cat.detections["TSERIES"].to_numpy(bool)]
        srcids = det.drop_duplicates("SRCID").nlargest(n_sources, "EP_8_FLUX")["SRCID"].to_numpy()
        store = product_store_for(cat)
        view = SourceView(cat, srcid=int(srcids[0]))
        for srcid in srcids:  # synthesize products once; the timed runs read them from disk
            view.state.srcid = int(srcid)
            row = view.state.detection
            store.find(str(row["OBS_ID"]), int(row["SRC_NUM"]))
        build, _ = _time_changes(view, srcids)
        rendered = SourceView(cat, srcid=int(srcids[0]))
        doc = Document()  # as in a live session: every pane change also updates Bokeh models
        doc.add_root(pn.panel(rendered).get_root(doc))
        models, patches = _time_changes(rendered, srcids, doc)
        t = time.perf_counter()
        cat.detections_of(int(srcids[0]))
        print(f"catalogue.detections_of (all columns of one source): {(time.perf_counter() - t) * 1e3:.0f} ms")
        print(
            f"tap -> all panels built (figure data + HTML, products on disk): median "
            f"{statistics.median(build) * 1e3:.0f} ms, max {max(build) * 1e3:.0f} ms over {len(build)} changes"
        )
        print(
            f"same incl. Bokeh model updates of a rendered view: median {statistics.median(models) * 1e3:.0f} ms, "
            f"max {max(models) * 1e3:.0f} ms"
        )
        seconds, sizes = [p[0] for p in patches], [p[1] for p in patches]
        print(
            f"then serializing the change for the browser (PATCH-DOC): median {statistics.median(seconds) * 1e3:.0f} "
            f"ms, max {max(seconds) * 1e3:.0f} ms; message median {statistics.median(sizes) / 1e3:.0f} kB"
        )


def _time_changes(view, srcids, doc=None) -> tuple[list[float], list[tuple[float, int]]]:
    """Seconds of each ``srcid`` change and, with ``doc``, (seconds, bytes) of serializing its document changes."""
    from bokeh.protocol import Protocol

    times, patches, events = [], [], []
    if doc is not None:
        doc.on_change(events.append)
    for srcid in np.r_[srcids, srcids[::-1]]:
        events.clear()
        t = time.perf_counter()
        view.state.srcid = int(srcid)
        times.append(time.perf_counter() - t)
        if events:
            t = time.perf_counter()
            msg = Protocol().create("PATCH-DOC", [e for e in events if hasattr(e, "to_serializable")])
            size = len(msg.content_json) + sum(len(b.to_bytes()) for b in msg.buffers)
            patches.append((time.perf_counter() - t, size))
    return times, patches


if __name__ == "__main__":
    main()
