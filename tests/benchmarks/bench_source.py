"""Benchmark: tap -> full Source view (all panels built, products on local disk, already synthesized).

Generates a 100k-detection demo release in a temporary directory, picks sources with products,
synthesizes their products once, then times ``state.srcid = ...`` (what a tap on Explore or a
link does) until every panel object is built, and separately the Bokeh model creation.
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
        build = _time_changes(view, srcids)
        rendered = SourceView(cat, srcid=int(srcids[0]))
        pn.panel(rendered).get_root()  # as in a live session: every pane change also rebuilds Bokeh models
        models = _time_changes(rendered, srcids)
        t = time.perf_counter()
        cat.detections_of(int(srcids[0]))
        print(f"catalogue.detections_of (all columns of one source): {(time.perf_counter() - t) * 1e3:.0f} ms")
        print(
            f"tap -> all panels built (HoloViews objects + HTML, products on disk): median "
            f"{statistics.median(build) * 1e3:.0f} ms, max {max(build) * 1e3:.0f} ms over {len(build)} changes"
        )
        print(
            f"same incl. Bokeh model updates of a rendered view: median {statistics.median(models) * 1e3:.0f} ms, "
            f"max {max(models) * 1e3:.0f} ms"
        )


def _time_changes(view, srcids) -> list[float]:
    times = []
    for srcid in np.r_[srcids, srcids[::-1]]:
        t = time.perf_counter()
        view.state.srcid = int(srcid)
        times.append(time.perf_counter() - t)
    return times


if __name__ == "__main__":
    main()
