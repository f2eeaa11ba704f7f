"""The five-band fit in Explore: Γ on the diagram axes, filtered by a query, on both engines; hidden with a line."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from app.query import parse_query
from app.selection import Box
from app.state import ExploreState
from app.views.linked import HRView
from data_loaders import schema
from data_loaders.catalogue import Catalogue
from tests.shown import shown


def test_gamma_against_hr_on_the_diagram_and_in_a_query(engine_catalogue, demo_catalogue):
    st = ExploreState(engine_catalogue, level="sources", hr_x="hr2", hr_y="pl_gamma")
    assert "pl_gamma" in st.param.hr_y.objects
    view = HRView(st)
    assert not view.missing_fit.visible
    element = view._element(view._request()[1]())
    assert element.kdims[1].label == "Γ (five-band power-law fit)"
    (x0, x1), (y0, y1) = element.range("x"), element.range("y")
    assert (round(x0, 2), round(x1, 2), round(y0, 2), round(y1, 2)) == (-1.05, 1.05, -1.1, 5.1)
    context, _ = view._request()[1]()
    src = demo_catalogue.sources
    inside = np.isfinite(src.SC_HR2) & np.isfinite(src.PL_GAMMA) & (src.PL_GAMMA.between(-1.1, 5.1))
    assert int(np.asarray(context).sum()) == int(inside.sum()) > 100
    # A box on the diagram selects on PL_GAMMA; a typed query filters it like any column.
    st.set_part("hr", Box("SC_HR2", "PL_GAMMA", -1.0, 1.0, 1.5, 2.3))
    want = int((src.SC_HR2.between(-1, 1) & src.PL_GAMMA.between(1.5, 2.3)).sum())
    assert st.counts()["selected"] == want > 0
    sel = parse_query("pl_gamma > 2.5 and pl_fit_flag == 0", {c: schema.unit_of(c) for c in src.columns})
    assert int(np.asarray(sel.evaluate(src)).sum()) == int(((src.PL_GAMMA > 2.5) & (src.PL_FIT_FLAG == 0)).sum())


def test_release_without_the_fit_hides_gamma_with_one_line(writable_demo_data_dir):
    release = writable_demo_data_dir / "releases" / "DEMO"
    for path in (release / schema.DETECTIONS_DIR / "part-0.parquet", release / schema.SOURCES_FILE):
        pq.write_table(pq.read_table(path).drop_columns(list(schema.BANDFIT_NAMES)), path)
    meta = json.loads((release / schema.RELEASE_META_FILE).read_text())
    meta.pop("capabilities", None)  # as an older ingest wrote it: derived from the files
    (release / schema.RELEASE_META_FILE).write_text(json.dumps(meta))
    st = ExploreState(Catalogue(release))
    assert "pl_gamma" not in st.param.hr_x.objects and "hr4" in st.param.hr_x.objects
    view = HRView(st)
    assert view.missing_fit.visible
    text = shown(view.missing_fit.object)
    assert text.startswith("No five-band spectral fit of detections: this release has no PL_")
    assert text.endswith("xmm-explorer bandfit --release DEMO adds it.")
    assert "<code>" in view.missing_fit.object
