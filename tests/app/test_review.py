"""The Review page's state and views through the real Store: items, queue, verdicts, roles, export."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from app import store_access
from app.query import QueryError
from app.state import ExploreState
from app.views.review import (
    CampaignCreator,
    CampaignProgress,
    ItemsError,
    ReviewQueue,
    ReviewState,
    agreement_html,
    campaign_items_from_state,
    items_from_query,
    items_from_upload,
    progress_bars,
)
from app.views.review.progress import export_verdicts_bytes
from data_loaders.export import ExportError
from tests.app import test_flags_view as _fixtures
from tests.app.test_flags_view import NASTY, as_user
from tests.shown import shown

app_env = _fixtures.app_env  # shared pytest fixture
catalogue = _fixtures.catalogue  # shared pytest fixture


def make_campaign(catalogue, n=5, name="check"):
    store = store_access.get_store()
    items = [(int(r.SRCID), float(r.SC_RA), float(r.SC_DEC)) for r in catalogue.sources.iloc[:n].itertuples()]
    return store.create_campaign("ada", name, catalogue.name, items)


# -- items -------------------------------------------------------------------------------------------
def test_items_from_explore_state(demo_catalogue):
    state = ExploreState(demo_catalogue)
    state.det_ml_min = 50.0
    items = campaign_items_from_state(state)
    rows = np.flatnonzero(state.visible)
    assert len(items) == rows.size > 0
    assert items[0][0] == int(demo_catalogue.sources["SRCID"].iloc[rows[0]])
    state.level = "detections"
    det_items = campaign_items_from_state(state)
    assert len(det_items[0]) == 4  # detections carry their DETID


def test_items_from_query_and_its_errors(demo_catalogue):
    items = items_from_query(demo_catalogue, "sc_det_ml > 100", "sources")
    assert len(items) == int((demo_catalogue.sources["SC_DET_ML"] > 100).sum())
    with pytest.raises(QueryError):
        items_from_query(demo_catalogue, "sc_det_mll > 3")
    with pytest.raises(ItemsError, match="matches no source"):
        items_from_query(demo_catalogue, "sc_det_ml < 0")
    with pytest.raises(ItemsError, match="Type a query"):
        items_from_query(demo_catalogue, "  ")


def test_items_from_uploaded_ids_names_and_positions(demo_catalogue):
    src = demo_catalogue.sources
    ids = src["SRCID"].iloc[[4, 2]].tolist()
    items, note = items_from_upload(demo_catalogue, f"SRCID\n{ids[0]}\n{ids[1]}\n123\n".encode(), "ids.csv")
    assert [i[0] for i in items] == ids and "2 of 3" in note
    det = demo_catalogue.detections.iloc[[10]]
    items, _ = items_from_upload(demo_catalogue, f"detid\n{int(det['DETID'].iloc[0])}\n".encode(), "d.csv")
    assert items[0][3] == int(det["DETID"].iloc[0]) and items[0][0] == int(det["SRCID"].iloc[0])
    # positions 1 arcsec off two sources, plus one far from everything
    ra = src["SC_RA"].iloc[[7, 9]].to_numpy() + 1.0 / 3600
    table = Table({"RA": [*ra, 0.5], "DEC": [*src["SC_DEC"].iloc[[7, 9]].to_numpy(), -89.9]})
    buf = io.BytesIO()
    table.write(buf, format="votable")
    items, note = items_from_upload(demo_catalogue, buf.getvalue(), "pos.vot", radius_arcsec=5)
    assert [i[0] for i in items] == src["SRCID"].iloc[[7, 9]].tolist()
    assert note.startswith("2 of 3 positions")
    with pytest.raises(ExportError, match="no usable column"):
        items_from_upload(demo_catalogue, b"foo,bar\n1,2\n", "x.csv")
    with pytest.raises(ItemsError, match="Choose a CSV"):
        items_from_upload(demo_catalogue, b"", "x.csv")


# -- queue and verdicts --------------------------------------------------------------------------------
def test_reviewer_steps_through_the_queue_with_keys(catalogue, monkeypatch):
    cid = make_campaign(catalogue)
    as_user(monkeypatch, "rev")
    state = ReviewState(catalogue)
    assert state.campaign_id == cid and len(state.queue) == 5
    queue = ReviewQueue(state)
    assert "item <span id='xmm-item-pos'>1</span> of 5" in queue.heading.object
    queue.on_key("2")
    assert queue.label.value == queue.label.options[1]
    queue.comment.value = "looks extended"
    queue.on_key("Enter")
    assert state.position == 1 and state.message_kind == "success"
    assert state.queue["my_label"].iloc[0] == state.store.flag_labels[1]
    queue.on_key("k")
    assert state.position == 0
    assert "looks extended" in queue.verdicts.object and "(you)" in queue.verdicts.object
    assert queue.label.value == queue.label.options[1]  # own verdict shown again
    queue.on_key("j")
    queue.on_key("ArrowRight")
    assert state.position == 2
    state.next_unreviewed()
    assert state.position == 3
    queue.on_key("x")  # ignored
    assert state.position == 3


def test_others_verdicts_progress_and_agreement(catalogue, monkeypatch):
    cid = make_campaign(catalogue, n=4)
    store = store_access.get_store()
    queue_ids = store.campaign_queue(cid, None)["item_id"].tolist()
    for item in queue_ids:
        store.record_verdict("rev", cid, item, "OK", "")
    store.record_verdict("rev2", cid, queue_ids[0], "OK", NASTY)
    store.record_verdict("rev2", cid, queue_ids[1], "spurious", "")
    as_user(monkeypatch, "ada")
    state = ReviewState(catalogue)
    queue = ReviewQueue(state)
    verdicts = queue.verdicts.object
    assert "rev2" in shown(verdicts) and NASTY in shown(verdicts) and "<script>" not in verdicts
    progress = CampaignProgress(state)
    bars = progress.plot.object
    assert bars.kdims[0].name == "reviewer" and list(bars.data["reviewed"]) == [100.0, 50.0]
    assert "50%" in shown(progress.agreement.object)  # one of two doubly-reviewed items agrees
    assert "Fleiss" in progress.agreement.object


def test_progress_bars_pure_function():
    frame = pd.DataFrame({"user": ["a", "b"], "fraction": [0.25, 1.0]})
    bars = progress_bars(frame)
    assert list(bars.data["reviewed"]) == [25.0, 100.0] and bars.vdims[0].name == "reviewed"


def test_agreement_html_undefined_values_show_a_dash():
    from data_loaders.store import Agreement

    out = agreement_html(Agreement(3, 0, 1, float("nan"), float("nan")))
    assert out.count("—") == 2


@pytest.mark.parametrize("fmt", ["csv", "fits", "votable"])
def test_export_verdicts_round_trip(catalogue, monkeypatch, fmt):
    cid = make_campaign(catalogue, n=3)
    store = store_access.get_store()
    item = int(store.campaign_queue(cid, None)["item_id"].iloc[0])
    store.record_verdict("rev", cid, item, "pile-up", NASTY)
    as_user(monkeypatch, "rev")
    state = ReviewState(catalogue)
    data = export_verdicts_bytes(state, fmt).getvalue()
    if fmt == "csv":  # provenance lines start with '#'; the comment itself holds none
        table = Table.from_pandas(pd.read_csv(io.BytesIO(data), comment="#", keep_default_na=False))
    else:
        table = Table.read(io.BytesIO(data), format=fmt)
    assert len(table) == 1 and str(table["label"][0]) == "pile-up"
    assert str(table["comment"][0]) == NASTY


# -- who may write -------------------------------------------------------------------------------------
@pytest.mark.parametrize("who", [None, "guest", "vic", "cla", "nobody-with-this-name"])
def test_below_reviewer_cannot_record_verdicts_or_flag(catalogue, monkeypatch, who):
    cid = make_campaign(catalogue)
    as_user(monkeypatch, who)
    store = store_access.get_store()
    state = ReviewState(catalogue)
    queue = ReviewQueue(state)
    queue.on_key("1")
    queue.on_key("Enter")
    assert state.message_kind == "danger" and ("Sign in" in state.message or "needs 'reviewer'" in state.message)
    assert queue.alert.visible
    queue.save_verdict()
    assert queue.flags.apply("flag") == 0 and queue.flags.alert.alert_type == "danger"
    assert store.export_verdicts(cid).empty
    assert store.flag_events("DEMO").empty
    assert state.position == 0


@pytest.mark.parametrize("who", [None, "vic", "cla", "rev"])
def test_only_admins_create_campaigns(catalogue, monkeypatch, who):
    as_user(monkeypatch, who)
    state = ReviewState(catalogue)
    creator = CampaignCreator(state)
    creator.name_input.value = "mine"
    creator.query.value = "sc_det_ml > 100"
    assert creator.create() is None
    assert state.message_kind == "danger"
    assert store_access.get_store().campaigns().empty


def test_admin_creates_campaigns_from_query_and_file(catalogue, monkeypatch):
    as_user(monkeypatch, "ada")
    state = ReviewState(catalogue)
    creator = CampaignCreator(state)
    creator.name_input.value = "<b>bright</b> '; DROP TABLE campaigns; --"
    creator.description.value = NASTY
    creator.query.value = "sc_det_ml > 100"
    cid = creator.create()
    assert cid is not None and state.campaign_id == cid
    campaigns = store_access.get_store().campaigns()
    assert campaigns["name"].tolist() == [creator.name_input.value]
    assert campaigns["description"].tolist() == [NASTY]
    queue = ReviewQueue(state)
    assert "<b>bright</b>" not in queue.heading.object
    assert creator.name_input.value in shown(queue.heading.object)
    creator.origin.value = "file"
    creator.name_input.value = "from file"
    srcid = int(catalogue.sources["SRCID"].iloc[0])
    creator.file.param.update(value=f"SRCID\n{srcid}\n".encode(), filename="ids.csv")
    cid2 = creator.create()
    assert cid2 is not None and len(state.queue) == 1
    creator.query.value = "sc_det_mll > 1"
    creator.origin.value = "query"
    creator.name_input.value = "broken"
    assert creator.create() is None and state.message_kind == "warning" and "SC_DET_ML" in state.message
