"""The Alerts page's state, views and plots driven without a browser, on the demo fixture."""

from __future__ import annotations

import html
import shutil
from types import SimpleNamespace

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from app.plots import alerts as plots
from app.views.alerts import AlertDetail, AlertFilters, AlertSky, AlertsState, AlertTable, RateChart, ReplayBox
from app.views.alerts.detail import alert_html, source_link
from data_loaders.alerts import release as task
from data_loaders.alerts.criteria import ALERT_TYPES
from data_loaders.catalogue import load_catalogue
from data_loaders.store import open_store
from tests.shown import shown


@pytest.fixture(scope="module")
def alerts_data_dir(demo_data_dir, tmp_path_factory):
    """A private copy of the demo data with the seed alerts computed (shared by this module's tests)."""
    target = tmp_path_factory.mktemp("alerts-page") / "data"
    shutil.copytree(demo_data_dir, target, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    task.compute_release_alerts(target, "DEMO")
    return target


@pytest.fixture(scope="module")
def catalogue(alerts_data_dir):
    return load_catalogue(alerts_data_dir, "DEMO")


@pytest.fixture
def state(catalogue):
    return AlertsState(catalogue)


def test_shared_table_joins_catalogue_columns(state, catalogue):
    a = state.alerts
    assert len(a) > 0 and state.visible.all()
    det = catalogue.detections.set_index("DETID")
    sample = a.sample(20, random_state=1)
    np.testing.assert_allclose(sample["RA"], det.loc[sample["DETID"], "RA"])
    np.testing.assert_array_equal(sample["CLASS"], det.loc[sample["DETID"], "CLASS"])
    assert np.isfinite(a[["X", "Y"]].to_numpy()).all()
    assert task.shared_alerts(catalogue) is a  # one table per process


def test_type_filter_changes_the_table_rows(state):
    table = AlertTable(state)
    assert set(table.table.value["type"]) > {"short-term"} or len(set(table.table.value["type"])) >= 1
    state.types = ["short_term_variable"]
    n = int((state.alerts["ALERT_TYPE"] == "short_term_variable").sum())
    assert int(state.visible.sum()) == n > 0
    assert set(table.table.value["type"]) == {"short-term"}
    assert len(table.table.value) == min(n, 12)
    assert f"{n:,} alerts" in table.info.object


def test_numeric_filters(state):
    a = state.alerts
    state.param.update(types=list(ALERT_TYPES), ratio_min=5.0)
    assert (a.loc[state.visible, "RATIO"] >= 5).all() and state.visible.sum() < len(a)
    state.param.update(ratio_min=0.0, abs_b_min=20.0)
    assert (a.loc[state.visible, "BII"].abs() >= 20).all()
    state.param.update(abs_b_min=0.0, classes=["AGN"])
    assert (a.loc[state.visible, "CLASS"] == 0).all() and state.visible.any()
    lo, hi = state.param.log_flux.bounds
    state.param.update(classes=[], log_flux=(hi - 0.5, hi))
    assert (np.log10(a.loc[state.visible, "FLUX"]) >= hi - 0.5).all()
    d0, _ = state.param.dates.bounds
    state.param.update(log_flux=(lo, hi), dates=(d0, pd.Timestamp("2005-01-01").to_pydatetime()))
    assert (a.loc[state.visible, "DATE"] <= pd.Timestamp("2005-01-01")).all() and state.visible.any()


def test_table_sorts_and_pages_on_the_server(state):
    table = AlertTable(state)
    table.sort_by = "ratio"
    ratios = table.table.value["ratio"].to_numpy()
    assert ratios[0] == pytest.approx(np.nanmax(state.alerts["RATIO"]), abs=0.01)
    first = table.rows.copy()
    table.go(+1)
    assert table.page == 1 and not np.intersect1d(first, table.rows).size


def test_click_selects_an_alert_and_the_detail_shows_it(state):
    table, detail, sky = AlertTable(state), AlertDetail(state), AlertSky(state)
    table._on_click(SimpleNamespace(row=2))
    alert = state.selected_alert()
    assert alert is not None and alert["ALERT_ID"] == state.alerts["ALERT_ID"].iat[int(table.rows[2])]
    assert str(alert["IAUNAME"]) in shown(detail.summary.object)
    assert detail.curve_box.objects == [detail.curve]
    assert isinstance(detail.curve.object, hv.Overlay)
    assert "Log in to review" in detail.login_hint.object and detail.confirm.disabled
    # A tap on the sky next to another visible alert selects that one. The offset is smaller than
    # the gap to any other alert's point (detections of one source can lie 1e-4 deg apart).
    other = state.alerts.iloc[int(np.flatnonzero(state.visible)[-1])]
    sky.on_tap(x=float(other["X"]) + 1e-6, y=float(other["Y"]))
    assert (state.selected_alert()["X"], state.selected_alert()["Y"]) == (other["X"], other["Y"])


def test_review_without_login_is_refused_in_one_sentence(catalogue, alerts_data_dir):
    with open_store(None, alerts_data_dir) as store:
        st = AlertsState(catalogue, store=store, user=None)
        st.select_row(0)
        assert not st.can_review
        assert st.review_selected("confirmed") is False
        assert st.message.startswith("Sign in") and st.message.count(".") >= 1
        assert store.flag_events("DEMO").empty


def test_reviewer_records_a_flag_event_and_status_filters(catalogue, writable_demo_data_dir):
    with open_store(None, writable_demo_data_dir) as store:
        store.grant_role("rita", "reviewer")
        store.grant_role("carl", "classifier")
        st = AlertsState(catalogue, store=store, user="carl")
        st.select_row(3)
        assert st.review_selected("confirmed") is False and "reviewer" in st.message
        st.user = "rita"
        detail = AlertDetail(st)
        assert not detail.confirm.disabled
        detail.comment.value = "clear <b>flare</b>"
        detail.review("confirmed")
        ev = store.flag_events("DEMO")
        alert = st.selected_alert()
        assert len(ev) == 1 and ev["label"].iat[0] == "alert-confirmed" and ev["user"].iat[0] == "rita"
        assert (ev["srcid"].iat[0], ev["detid"].iat[0]) == (alert["SRCID"], alert["DETID"])
        assert ev["comment"].iat[0] == "clear <b>flare</b>"
        st.review = "confirmed"
        same = (st.alerts["SRCID"] == alert["SRCID"]) & (st.alerts["DETID"] == alert["DETID"])
        assert st.visible.sum() == same.sum() >= 1
        st.review = "not reviewed"
        assert st.visible.sum() == len(st.alerts) - same.sum()
        st.select_row(int(np.flatnonzero(same)[0]))
        st.review_selected("artefact")
        st.review = "artefact"
        assert st.visible.sum() == same.sum()


def test_rate_chart_stacks_every_visible_alert(state):
    chart = RateChart(state)
    overlay = chart.pane.object
    total = sum(int((el.data["top"] - el.data["bottom"]).sum()) for el in overlay)
    assert total == len(state.alerts)
    assert [el.label for el in overlay] == list(ALERT_TYPES)
    state.types = ["rising"]
    total = sum(int((el.data["top"] - el.data["bottom"]).sum()) for el in chart.pane.object)
    assert total == int((state.alerts["ALERT_TYPE"] == "rising").sum())


def test_sky_draws_few_alerts_as_points(state):
    small = plots.sky_alerts(state.alerts.head(50))
    assert isinstance(small.get(0), hv.Points) and len(small.get(0)) == 50


@pytest.mark.slow  # datashader's categorical reduction pays ~9 s of numba compilation on first use
def test_sky_datashades_many_alerts(state):
    many = pd.concat([state.alerts] * (plots.MAX_SKY_POINTS // len(state.alerts) + 1))
    big = plots.sky_alerts(many, state.alerts.iloc[0])
    assert isinstance(big.get(0), hv.RGB)
    ring = [el for el in big if isinstance(el, hv.Points)][-1]
    assert len(ring) == 1


def test_lightcurve_marks_the_compared_epochs(state):
    row = state.alerts.loc[state.alerts["ALERT_TYPE"] == "rising"].iloc[0]
    pts = state.history(int(row["SRCID"]))
    assert np.isclose(pts["MJD"], row["MJD"]).any() and np.isclose(pts["MJD"], row["MJD_COMPARED"]).any()
    overlay = plots.alert_lightcurve(pts, (row["MJD"], row["MJD_COMPARED"]))
    lines = [el for el in overlay if isinstance(el, hv.VLine)]
    assert sorted(el.data for el in lines) == sorted([row["MJD"], row["MJD_COMPARED"]])
    assert hv.Store.lookup_options("bokeh", overlay, "plot").kwargs["logy"] is True


def test_detail_html_is_escaped_and_links_to_the_source_view(state):
    row = state.alerts.iloc[0].copy()
    row["IAUNAME"] = "<script>alert(1)</script>"
    out = alert_html(row, "DEMO")
    assert "<script>" not in out and "<script>alert(1)</script>" in shown(out)
    link = source_link("DEMO", row)
    assert link.startswith(f"source?release=DEMO&srcid={int(row['SRCID'])}") and "epochs=" in link


def test_replay_box_counts_per_type(state):
    box = ReplayBox(state)
    counts, monthly = state.replay(box.window()[0], box.window()[1])
    assert list(counts["ALERT_TYPE"]) == [*ALERT_TYPES, "any"]
    html = box.result_html()
    assert "per month" in shown(html) and "short_term_variable" in shown(html)
    assert monthly["MONTH"].nunique() in (2, 3)


def test_filters_view_shows_the_count(state):
    f = AlertFilters(state)
    assert f"{len(state.alerts):,}</b> of {len(state.alerts):,}" in f.count.object
    f.types.value = ["falling"]
    assert state.types == ["falling"]
    assert f"<b>{int(state.visible.sum()):,}</b>" in f.count.object


def test_page_computes_missing_alerts_on_first_visit(writable_demo_data_dir):
    from layouts.alerts import create_page

    cat = load_catalogue(writable_demo_data_dir, "DEMO")
    assert not task.is_computed(cat.path)
    _tmpl, holder = create_page(cat)
    assert task.is_computed(cat.path) and len(holder["state"].alerts) > 0


def test_full_source_view_is_built_only_when_opened(state):
    detail = AlertDetail(state)
    state.select_row(0)
    if detail._source_cls is None:
        pytest.skip("app.views.source.SourceView is not installed")
    assert detail.source_card.visible and detail.source_card.objects == []
    detail.source_card.collapsed = False
    assert len(detail.source_card.objects) == 1
    assert not isinstance(detail.source_card.objects[0], type(detail.message))  # not the error sentence


def test_page_lists_observation_runs_and_shows_their_alerts(alerts_data_dir, catalogue, tmp_path):
    """A new observation's run: listed in the sidebar, its alerts in the table, the detail and the new point."""
    from app.views.alerts.runs import RunList
    from data_loaders.alerts.observation import run_observation
    from data_loaders.demo.pipeline import simulate_observation
    from layouts.alerts import create_page

    sim = simulate_observation(alerts_data_dir, "DEMO", tmp_path, seed=5, n_planted=3)
    run = run_observation(alerts_data_dir, "DEMO", sim.path, figures=False)
    name = run.directory.name
    _tmpl, holder = create_page(catalogue, run=name)
    st = holder["state"]
    assert st.is_observation_run and len(st.alerts) == len(run.result.alerts) > 0
    assert set(st.alerts["OBS_ID"]) == {sim.obs_id}
    assert st.alerts["RA"].notna().all() and st.alerts["IAUNAME"].str.startswith("4XMM J").all()
    links = html.unescape(RunList(st).html.object)
    assert f"run={name}" in links and f"{len(st.alerts)} alerts of {len(sim.truth)} detections" in links
    new = st.alerts.loc[st.alerts["ALERT_TYPE"] == "new_source"].iloc[0]
    st.selected = str(new["ALERT_ID"])
    detail = AlertDetail(st)
    assert "new_source" in shown(detail.summary.object) and sim.obs_id in shown(detail.summary.object)
    pts = st.history(int(new["SRCID"]))
    assert pts["NEW"].sum() == 1 and pts["UPPER_LIMIT"].sum() >= 1  # the new point against the earlier limits
    assert np.isclose(pts.loc[pts["NEW"], "MJD"], new["MJD"]).all()
    # An unknown run is one sentence and the list, not a traceback.
    _tmpl, holder = create_page(catalogue, run="obs0000000000")
    assert "state" not in holder


def test_observation_run_alerts_of_known_sources_carry_their_class(alerts_data_dir, catalogue, tmp_path):
    from data_loaders.alerts.observation import run_observation
    from data_loaders.demo.pipeline import simulate_observation

    sim = simulate_observation(alerts_data_dir, "DEMO", tmp_path, seed=6, n_planted=3)
    run = run_observation(alerts_data_dir, "DEMO", sim.path, figures=False)
    shown = task.enrich(run.result.alerts, catalogue.detections)
    det = catalogue.detections.drop_duplicates("SRCID").set_index("SRCID")["CLASS"]
    known = shown.loc[shown["MATCH"] == "catalogue"]
    assert len(known) > 0
    assert (known["CLASS"].to_numpy() == det.reindex(known["SRCID"]).to_numpy()).all()
    assert (shown.loc[shown["MATCH"] != "catalogue", "CLASS"] == -1).all()
