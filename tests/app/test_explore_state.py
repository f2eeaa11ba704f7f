"""Explore state and views driven without a browser: filters, selections, permalinks, go-to, tap."""

import numpy as np
import pandas as pd
import pytest

from app.search import SearchError
from app.selection import Box, Range
from app.state import ExploreState
from app.views.alerts.table import page_rows
from app.views.goto import go_to
from app.views.sky import SkyView
from data_loaders import projection


@pytest.fixture
def state(demo_catalogue):
    return ExploreState(demo_catalogue)


def test_defaults_show_everything(state, demo_catalogue):
    c = state.counts()
    assert c["total"] == c["filtered"] == c["selected"] == len(demo_catalogue.sources)
    assert state.selected is None


def test_filters_match_direct_pandas(state, demo_catalogue):
    src = demo_catalogue.sources
    state.param.update(log_flux=(-13.5, -11.0), quality="clean", extent="point-like", hr2=(-0.5, 0.6), det_ml_min=10)
    f = src["SC_EP_8_FLUX"]
    expected = (
        (f >= 10**-13.5)
        & (f <= 10**-11.0)
        & (src["SC_SUM_FLAG"] <= 2)
        & (src["SC_EXTENT"] <= 0)
        & (src["SC_HR2"] >= -0.5)
        & (src["SC_HR2"] <= 0.6)
        & (src["SC_DET_ML"] >= 10)
    )
    assert state.counts()["filtered"] == int(expected.sum()) > 0
    assert np.array_equal(state.mask, expected.to_numpy())


def test_detection_level_and_variability(state, demo_catalogue):
    det = demo_catalogue.detections
    state.param.update(level="detections", variability="variable", n_det=(2, 100))
    expected = det["VAR_FLAG"].to_numpy() & (det["N_DETECTIONS"].to_numpy() >= 2)
    assert state.counts() == {"total": len(det), "filtered": int(expected.sum()), "selected": int(expected.sum())}


def test_class_filter_uses_classifications(state, demo_catalogue):
    state.param.update(classes=["star"], class_prob_min=0.5)
    src = demo_catalogue.sources
    expected = (src["CLASS"] == 1) & (src["CLASS_PROB"] >= 0.5)
    assert state.counts()["filtered"] == int(expected.sum()) > 0


@pytest.mark.parametrize("preset", ["clean point sources", "extended", "variable", "bright"])
def test_presets_narrow_the_sample(state, preset):
    state.apply_preset(preset)
    c = state.counts()
    assert 0 < c["filtered"] < c["total"]
    state.reset_filters()
    assert state.counts()["filtered"] == c["total"]


def test_selection_parts_combine_and_clear(state, demo_catalogue):
    src = demo_catalogue.sources
    state.set_part("hr", Box("SC_HR2", "SC_HR3", -0.2, 0.4, -0.6, 0.2))
    in_box = src["SC_HR2"].between(-0.2, 0.4) & src["SC_HR3"].between(-0.6, 0.2)
    assert state.counts()["selected"] == int(in_box.sum())
    state.set_part("flux", Range("SC_EP_8_FLUX", 1e-14, None))
    both = in_box & (src["SC_EP_8_FLUX"] >= 1e-14)
    assert state.counts()["selected"] == int(both.sum())
    state.set_part("hr", Box("SC_HR2", "SC_HR3", 0.5, 1, 0.5, 1), mode="add")
    other = src["SC_HR2"].between(0.5, 1) & src["SC_HR3"].between(0.5, 1)
    assert state.counts()["selected"] == int(((in_box | other) & (src["SC_EP_8_FLUX"] >= 1e-14)).sum())
    state.clear_selection()
    assert state.selected is None and state.selection_code == ""


def test_permalink_restores_selection_and_filters(state, demo_catalogue):
    state.param.update(quality="good", band=3, log_flux=(-15.0, -12.5))
    state.set_part("hr", Box("SC_HR2", "SC_HR3", -0.2, 0.4, -0.6, 0.2))
    url_state = {p: getattr(state, p) for p in ("quality", "band", "log_flux", "selection_code")}
    restored = ExploreState(demo_catalogue, **url_state)
    assert restored.counts() == state.counts()
    assert np.array_equal(restored.visible, state.visible)
    assert restored.full_selection() == state.full_selection()


def test_bad_selection_code_gives_a_sentence(demo_catalogue):
    st = ExploreState(demo_catalogue, selection_code="hr~not-base64!!")
    assert st.selected is None
    assert "selection in the link was ignored" in st.message


def test_go_to_cone_matches_haversine(state, demo_catalogue):
    src = demo_catalogue.sources
    row = src.iloc[len(src) // 2]
    msg = go_to(state, f"{row['SC_RA']:.5f} {row['SC_DEC']:+.5f} r=10arcmin")
    ra, dec = np.radians(src["SC_RA"].to_numpy()), np.radians(src["SC_DEC"].to_numpy())
    ra0, dec0 = np.radians(row["SC_RA"]), np.radians(row["SC_DEC"])
    hav = np.sin((dec - dec0) / 2) ** 2 + np.cos(dec) * np.cos(dec0) * np.sin((ra - ra0) / 2) ** 2
    inside = 2 * np.degrees(np.arcsin(np.sqrt(hav))) <= 10 / 60
    assert state.counts()["selected"] == int(inside.sum()) >= 1
    assert "Cone of 10′" in msg
    assert state.x_range is not None


def test_go_to_ids_and_names(state, demo_catalogue):
    src = demo_catalogue.sources
    srcid = int(src["SRCID"].iloc[3])
    go_to(state, f"srcid {srcid}")
    assert state.srcid == srcid
    name = src["IAUNAME"].iloc[10]
    go_to(state, name)
    assert state.srcid == int(src["SRCID"].iloc[10])
    detid = int(demo_catalogue.detections["DETID"].iloc[5])
    go_to(state, f"detid {detid}")
    assert state.srcid == int(demo_catalogue.detections["SRCID"].iloc[5])


@pytest.mark.parametrize("text", ["purple elephants", "srcid 1", "4XMM J9999"])
def test_go_to_nonsense_is_one_sentence(state, text):
    with pytest.raises(SearchError) as err:
        go_to(state, text)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)


def test_tap_picks_the_nearest_visible_source(state, demo_catalogue):
    view = SkyView(state)
    src = demo_catalogue.sources
    row = src.iloc[42]
    x, y = projection.forward(np.array([row["SC_RA"]]), np.array([row["SC_DEC"]]), "hammer")
    view._on_tap(x=float(x[0]) + 1e-4, y=float(y[0]))
    assert state.srcid == int(row["SRCID"])
    view._on_tap(x=400.0, y=400.0)  # outside the sky: nothing changes
    assert state.srcid == int(row["SRCID"])


def test_sky_box_selection_uses_projected_columns(state, demo_catalogue):
    view = SkyView(state)
    view._on_box(bounds=(-50.0, -20.0, 0.0, 30.0))
    x, y = demo_catalogue.xy("sources", "icrs", "hammer")
    expected = (x >= -50) & (x <= 0) & (y >= -20) & (y <= 30)
    assert state.counts()["selected"] == int(expected.sum()) > 0


def test_sky_image_renders_each_colouring(state):
    view = SkyView(state)
    for colour in ("count", "flux", "hr2", "hr3", "variable", "class"):
        state.colour_by = colour
        el = view._image(x_range=None, y_range=None, width=300, height=150)
        assert el.bounds.lbrt()[0] < 0 < el.bounds.lbrt()[2]
        level = np.asarray(el.dimension_values(2))
        assert level.dtype == np.uint8  # one byte per pixel on the wire
        assert (level > 0).sum() > 10, colour
        assert len(el.opts.get().kwargs["cmap"]) == 255


def test_table_pages_sort_like_pandas():
    rng = np.random.default_rng(0)
    v = rng.normal(size=1000)
    v[::17] = np.nan
    visible = rng.random(1000) < 0.6
    idx = np.flatnonzero(visible)
    order = (
        pd.Series(v[idx], index=idx).sort_values(ascending=False, na_position="last", kind="stable").index.to_numpy()
    )
    got = np.concatenate([page_rows(v, visible, p, 50, ascending=False) for p in range(20)])
    assert np.array_equal(got, order)
    asc = pd.Series(v[idx], index=idx).sort_values(na_position="last", kind="stable").index.to_numpy()
    assert np.array_equal(page_rows(v, visible, 0, 7, ascending=True), asc[:7])
    assert np.array_equal(page_rows(None, visible, 1, 5, ascending=True), idx[5:10])


def test_empty_tap_reports_coverage_and_upper_limit(state, demo_catalogue):
    from app.plots.sky import full_extent, to_rgba
    from app.views.coverage import CoverageControls
    from data_loaders import coverage

    view = SkyView(state)
    controls = CoverageControls(state, view)
    assert controls.available and view.on_empty_tap is not None
    obs = coverage.load_observations(demo_catalogue.path)
    ra, dec = float(obs["RA_PNT"].iloc[0]), float(obs["DEC_PNT"].iloc[0])
    controls._on_empty_tap(ra, dec + 0.05)
    assert "was observed" in state.message and "upper limit" in state.message and "erg/cm²/s" in state.message
    # a position at least 2 degrees from every pointing was never observed
    grid_ra, grid_dec = np.meshgrid(np.arange(0, 360, 10.0), np.arange(-80, 81, 10.0))
    far = None
    for gra, gdec in zip(grid_ra.ravel(), grid_dec.ravel(), strict=True):
        cos_sep = np.sin(np.radians(gdec)) * np.sin(np.radians(obs["DEC_PNT"])) + np.cos(np.radians(gdec)) * np.cos(
            np.radians(obs["DEC_PNT"])
        ) * np.cos(np.radians(obs["RA_PNT"] - gra))
        if np.degrees(np.arccos(np.clip(cos_sep, -1, 1))).min() > 2:
            far = (float(gra), float(gdec))
            break
    assert far is not None
    controls._on_empty_tap(*far)
    assert "never in an XMM-Newton field" in state.message
    # The footprint layer: transparent until toggled, then the MOC's image in either frame.
    full = full_extent(state.projection)
    assert not to_rgba(controls.image(full))[..., 3].any()
    controls.toggle.value = True
    alpha = {}
    for frame in ("icrs", "galactic"):
        state.frame = frame
        alpha[frame] = to_rgba(controls.image(full))[..., 3] > 0
        assert alpha[frame].shape == (450, 900) and alpha[frame].any()
    assert (alpha["icrs"] != alpha["galactic"]).any()


def test_the_footprint_joins_the_sky_when_first_shown(state):
    """A page opens without the footprint's plot (issue 19); the first toggle adds it to the sky, once."""
    from app.views.coverage import CoverageControls

    view = SkyView(state)
    controls = CoverageControls(state, view)
    assert view.overlays == []
    controls.toggle.value = True
    assert view.overlays == [controls.overlay]
    controls.toggle.value = False
    controls.toggle.value = True
    assert view.overlays == [controls.overlay]


@pytest.fixture(scope="module")
def stacked_catalogue(tmp_path_factory):
    from data_loaders.catalogue import Catalogue
    from data_loaders.demo.stacked import write_stacked_demo
    from data_loaders.ingest_stacked import ingest_stacked

    root = tmp_path_factory.mktemp("stacked")
    files = write_stacked_demo(root / "demo", 4000, 3)
    report = ingest_stacked(files.catalogue, root, name="ST", observations=files.observations, synthetic=True)
    return Catalogue(report.path)


def test_stacked_release_shows_detections_not_upper_limits(stacked_catalogue):
    st = ExploreState(stacked_catalogue, level="detections")
    ul = stacked_catalogue.detections["UPPER_LIMIT"].to_numpy(bool)
    assert ul.any()
    assert st.counts()["filtered"] == int((~ul).sum())
    assert not (st.mask & ul).any()
    st.level = "sources"
    assert st.counts()["filtered"] == len(stacked_catalogue.sources)


def test_flags_filter_colour_and_flagging_the_selection(reviewer_store):
    from app.views.explore_flags import ExploreFlags

    store, cat = reviewer_store
    st = ExploreState(cat)
    st.set_part("hr", Box("SC_HR2", "SC_HR3", 0.3, 1.0, 0.0, 1.0))
    chosen = np.unique(cat.sources["SRCID"].to_numpy()[st.visible])
    assert 0 < chosen.size < len(cat.sources)
    flags = ExploreFlags(st)
    flags.panel._user = lambda: "rita"
    flags.target.value = "the selection"
    flags.panel.label.value = "interesting"
    flags.panel.comment.value = "<b>hard</b> and bright'); DROP TABLE flags;--"
    assert flags.panel.apply("flag") == chosen.size
    st.clear_selection()
    st.flags = "flagged"
    assert st.counts()["filtered"] == chosen.size
    st.flag_labels = ["spurious"]
    assert st.counts()["filtered"] == 0
    st.param.update(flags="not flagged", flag_labels=[])
    assert st.counts()["filtered"] == len(cat.sources) - chosen.size
    history = store.flag_history("DEMO", int(chosen[0]))
    assert history["comment"].iloc[-1] == "<b>hard</b> and bright'); DROP TABLE flags;--"
    # an anonymous visitor cannot flag: the store refuses and nothing is written
    flags.panel._user = lambda: None
    before = len(store.flag_events("DEMO"))
    flags.panel.apply("flag")
    assert len(store.flag_events("DEMO")) == before
    # a campaign from the selection: refused for a reviewer, created for an admin
    st.param.update(flags="flagged")
    flags.campaign_name.value = "hard sources <check>"
    assert flags.create_campaign(user="rita") is None and flags.campaign_message.alert_type == "warning"
    store.grant_role("ada", "admin")
    cid = flags.create_campaign(user="ada")
    assert cid is not None and len(store.campaign_queue(cid, "ada")) == chosen.size
    st.param.update(flags="any")
    st.colour_by = "flagged"
    el = SkyView(st)._image(None, None, 300, 150)
    assert (np.asarray(el.dimension_values(2)) > 0).sum() > 0


def test_citizen_consensus_filters_and_colours_explore(writable_demo_data_dir, monkeypatch):
    from app import source_labels, store_access
    from data_loaders.catalogue import Catalogue

    monkeypatch.setenv("XMM_EXPLORER_DATA", str(writable_demo_data_dir))
    store_access.reset_store()
    source_labels.forget()
    try:
        store = store_access.get_store()
        store.grant_role("ada", "classifier")
        cat = Catalogue(writable_demo_data_dir / "releases" / "DEMO")
        ids = cat.sources["SRCID"].to_numpy()
        for srcid in ids[:10]:  # ten right answers on known sources: level 2, votes count
            store.record_vote("ada", "DEMO", int(srcid), "star", 1.0, True, True)
        voted = [int(ids[20]), int(ids[21])]
        for srcid in voted:
            store.record_vote("ada", "DEMO", srcid, "CV", 1.0, False)
        st = ExploreState(cat, citizen_classes=["CV"])
        assert st.counts()["filtered"] == 2
        assert set(cat.sources["SRCID"].to_numpy()[st.mask]) == set(voted)
        st.param.update(citizen_classes=[], colour_by="citizen")
        el = SkyView(st)._image(None, None, 300, 150)
        assert (np.asarray(el.dimension_values(2)) > 0).sum() > 0
    finally:
        source_labels.forget()
        store_access.reset_store()


def test_go_to_an_empty_position_answers_whether_it_was_observed(state, demo_catalogue):
    from data_loaders import coverage

    obs = coverage.load_observations(demo_catalogue.path)
    ra, dec = float(obs["RA_PNT"].iloc[3]), float(obs["DEC_PNT"].iloc[3])
    src = demo_catalogue.sources
    sep = np.hypot((src["SC_RA"] - ra) * np.cos(np.radians(dec)), src["SC_DEC"] - dec) * 3600
    if sep.min() < 30:  # the pointing centre holds a source: step off it
        dec += 0.1
    msg = go_to(state, f"{ra:.5f} {dec:+.5f}")
    assert ("No source within 30″" in msg and "observed" in msg) or "nearest source" in msg
    msg = go_to(state, "0.5 -89.5")
    assert "never in an XMM-Newton field" in msg
