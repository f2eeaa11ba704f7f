"""One Explore on both catalogue engines: the same state and views answer the same on pandas and on Dask.

The in-memory engine is the reference; every test runs the Explore state and views on the
engine of the ``engine_catalogue`` fixture (in memory, then Dask) and compares with it.
"""

import io

import numpy as np
import pandas as pd
import panel as pn
import pytest

from app import export_service as es
from app.selection import Box, Lasso, Range
from app.state import ExploreState
from app.views.explore_flags import ExploreFlags
from app.views.goto import go_to
from app.views.linked import FluxView, HRView
from app.views.sky import SkyView
from app.views.table import TableView
from data_loaders.catalogue import sky_column
from layouts.explore import URL_PARAMS, create_page

FILTERS = [
    {},
    {"log_flux": (-13.5, -11.0), "quality": "clean", "extent": "point-like", "hr2": (-0.5, 0.6), "det_ml_min": 10},
    {"level": "detections", "variability": "variable", "n_det": (2, 100)},
    {"classes": ["star", "AGN"], "class_prob_min": 0.3},
    {"level": "detections", "band": 2, "log_flux": (-15.0, -12.0), "mjd": (52000.0, 58000.0), "hr4": (-0.9, 0.9)},
]


def pair(engine_catalogue, demo_catalogue, **params):
    """The state on the engine under test and the in-memory reference, with the same parameters."""
    return ExploreState(engine_catalogue, **params), ExploreState(demo_catalogue, **params)


@pytest.mark.parametrize("params", FILTERS)
def test_filters_count_the_same(engine_catalogue, demo_catalogue, params):
    st, ref = pair(engine_catalogue, demo_catalogue, **params)
    assert st.counts() == ref.counts()
    assert ref.counts()["filtered"] > 0


def test_selections_and_permalinks_are_the_same_on_both_engines(engine_catalogue, demo_catalogue):
    st, ref = pair(engine_catalogue, demo_catalogue, quality="clean")
    for s in (st, ref):
        xc, yc = sky_column("x", "hammer", "icrs"), sky_column("y", "hammer", "icrs")
        s.set_part("sky", Box(xc, yc, -120, 60, -50, 60))
        s.set_part("hr", Lasso("SC_HR2", "SC_HR3", [(-0.8, -0.8), (0.6, -0.7), (0.5, 0.7), (-0.7, 0.6)]))
    assert st.counts() == ref.counts() and 0 < ref.counts()["selected"] < ref.counts()["filtered"]
    # the permalink's parameters open the same view on the other engine
    link = {p: getattr(st, p) for p in URL_PARAMS}
    other = demo_catalogue if st.catalogue is not demo_catalogue else engine_catalogue
    opened = ExploreState(other, **{k: v for k, v in link.items() if v is not None})
    assert opened.counts() == ref.counts() and opened.selection() == ref.selection()


@pytest.mark.parametrize("colour_by", ["count", "flux", "hr2", "variable", "class"])
def test_sky_images_are_the_same(engine_catalogue, demo_catalogue, colour_by):
    st, ref = pair(engine_catalogue, demo_catalogue, colour_by=colour_by, det_ml_min=5)
    view = ((-100.0, 100.0), (-60.0, 60.0))
    got, want = SkyView(st)._index(*view, 300, 150), SkyView(ref)._index(*view, 300, 150)
    assert np.array_equal(got[0], want[0]) and got[1] == want[1] and (want[0] > 0).any()
    for s in (st, ref):
        s.set_part("flux", Range("SC_EP_8_FLUX", 1e-13))
    sky = SkyView(st)
    got, want = sky._index(*view, 300, 150), SkyView(ref)._index(*view, 300, 150)
    assert np.array_equal(got[0], want[0]) and sky._kind[0] == "highlight"


def test_linked_views_table_and_tap_are_the_same(engine_catalogue, demo_catalogue):
    st, ref = pair(engine_catalogue, demo_catalogue, extent="point-like")
    for s in (st, ref):
        s.set_part("hr", Box("SC_HR2", "SC_HR3", -0.5, 0.5, -0.5, 0.5))
    (a, b), (c, d) = HRView(st)._request()[1](), HRView(ref)._request()[1]()
    assert np.array_equal(a, c) and np.array_equal(b, d) and d.sum() > 0
    (a, b), (c, d) = FluxView(st)._request()[1](), FluxView(ref)._request()[1]()
    assert np.array_equal(a, c) and np.array_equal(b, d) and 0 < d.sum() < c.sum()
    for sort_by, ascending in (("flux", False), ("det_ml", True), ("name", True)):
        t, r = TableView(st), TableView(ref)
        t.param.update(sort_by=sort_by, ascending=ascending, page=1)
        r.param.update(sort_by=sort_by, ascending=ascending, page=1)
        assert np.array_equal(t.srcids, r.srcids) and len(r.srcids) > 0
        pd.testing.assert_frame_equal(t.table.value.drop(columns="flags"), r.table.value.drop(columns="flags"))
    row = demo_catalogue.sources.iloc[5]
    hits = [s.shown.nearest("icrs", float(row["SC_RA"]), float(row["SC_DEC"]), 1.0) for s in (st, ref)]
    assert hits[0]["SRCID"] == hits[1]["SRCID"]


@pytest.mark.parametrize("level", ["sources", "detections"])
def test_go_to_is_the_same(engine_catalogue, demo_catalogue, level):
    det = demo_catalogue.detections
    srcid, obs, name = int(det["SRCID"].iat[10]), str(det["OBS_ID"].iat[10]), str(det["IAUNAME"].iat[10])
    for text in (f"srcid {srcid}", obs, name, name[:9], "10.68 41.27 r=30'"):
        st, ref = pair(engine_catalogue, demo_catalogue, level=level)
        assert go_to(st, text) == go_to(ref, text)
        assert (st.srcid, st.counts(), st.x_range) == (ref.srcid, ref.counts(), ref.x_range)


@pytest.mark.parametrize("fmt", ["csv", "fits", "votable", "ds9"])
def test_exports_are_the_same(engine_catalogue, demo_catalogue, fmt, tmp_path):
    st, ref = pair(engine_catalogue, demo_catalogue, level="detections", det_ml_min=10)
    paths = []
    for s in (st, ref):
        plan = es.plan_export(s, [*es.default_columns(s.catalogue, s.level), "CLASS", "DIST_NN"])
        paths.append(es.export_to_file(plan, fmt, directory=tmp_path))
    if fmt == "fits":
        from astropy.table import Table

        a, b = (Table.read(p, hdu=1) for p in paths)
        assert a.colnames == b.colnames and len(a) == len(b) > 0
        for c in b.colnames:
            if a[c].dtype.kind == "f":
                assert np.array_equal(a[c], b[c], equal_nan=True), c
            else:
                assert list(a[c]) == list(b[c]), c
    elif fmt == "csv":
        a, b = (pd.read_csv(p, comment="#") for p in paths)
        pd.testing.assert_frame_equal(a, b)
    else:  # the same text but for the time of writing
        a, b = ([ln for ln in p.read_text().splitlines() if "date" not in ln.lower()] for p in paths)
        assert a == b and len(a) > 100


def test_list_import_matches_the_same(engine_catalogue, demo_catalogue):
    src = demo_catalogue.sources.iloc[:30]
    lists = {
        "srcids.csv": src[["SRCID"]].to_csv(index=False),
        "names.csv": src[["IAUNAME"]].to_csv(index=False),
        "positions.csv": src[["SC_RA", "SC_DEC"]].rename(columns={"SC_RA": "RA", "SC_DEC": "DEC"}).to_csv(index=False),
    }
    for name, text in lists.items():
        got = es.match_list(engine_catalogue, "sources", io.BytesIO(text.encode()), name)
        want = es.match_list(demo_catalogue, "sources", io.BytesIO(text.encode()), name)
        assert (got.selection, got.n_matched) == (want.selection, want.n_matched) and want.n_matched >= 29


def test_flags_filter_colour_and_flag_targets_are_the_same(reviewer_store, monkeypatch):
    from app import source_labels
    from data_loaders.dask_catalogue import DaskCatalogue

    store, cat = reviewer_store
    dask_cat = DaskCatalogue(cat.path, pyramid=False)  # the row path: pixel for pixel the in-memory one
    ids = cat.sources["SRCID"].to_numpy()[:40]
    store.add_flags("rita", "DEMO", [(int(i), 0.0, 0.0) for i in ids], "interesting")
    source_labels.forget()
    for params in ({"flags": "flagged"}, {"flags": "not flagged", "level": "detections"}, {"colour_by": "flagged"}):
        st, ref = ExploreState(dask_cat, **params), ExploreState(cat, **params)
        assert st.counts() == ref.counts()
        view = ((-180.0, 180.0), (-90.0, 90.0))
        assert np.array_equal(SkyView(st)._index(*view, 200, 100)[0], SkyView(ref)._index(*view, 200, 100)[0])
    st, ref = ExploreState(dask_cat, flags="flagged"), ExploreState(cat, flags="flagged")
    assert st.counts()["filtered"] == 40
    fl, fr = ExploreFlags(st), ExploreFlags(ref)
    fl.target.value = fr.target.value = "the selection"
    assert np.array_equal(fl.sources(), fr.sources()) and fr.sources().size == 40
    from app.views.review.items import campaign_items_from_state

    assert campaign_items_from_state(st) == campaign_items_from_state(ref)


def _inventory(root) -> dict:
    """Controls (widget type and label/name), plots and export formats of a page, for comparison."""
    controls, plots = set(), 0
    for obj in root.select(pn.widgets.Widget):
        label = getattr(obj, "label", None) or getattr(obj, "name", "") or getattr(obj, "placeholder", "")
        controls.add((type(obj).__name__, str(label)))
    plots = len(root.select(pn.pane.HoloViews))
    return {"controls": controls, "plots": plots}


def test_both_engines_give_the_same_page(demo_catalogue, dask_demo_catalogue):
    pages = {}
    for name, cat in (("memory", demo_catalogue), ("dask", dask_demo_catalogue)):
        tmpl, state = create_page(cat)
        root = pn.Column(*tmpl.sidebar, *tmpl.main)
        for card in root.select(pn.Card):  # the lazily built cards: export/SAMP/import and flags
            card.collapsed = False
        pages[name] = _inventory(root)
    assert pages["dask"] == pages["memory"]
    assert pages["memory"]["plots"] >= 3  # sky, HR diagram, flux distribution
    formats = {c for c in pages["memory"]["controls"] if c[0] == "Select" and c[1] == "format"}
    assert formats and any(w[1].startswith("Send to") for w in pages["dask"]["controls"])
