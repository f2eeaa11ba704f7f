"""Review campaigns and citizen votes on SQLite: queue, verdicts, progress, agreement, rate limit."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from data_loaders.store import RateLimited, open_store
from data_loaders.store.campaigns import fleiss_kappa


@pytest.fixture
def store(tmp_path):
    with open_store(None, tmp_path, votes_per_minute=5) as s:
        s.grant_role("ann", "admin")
        for name in ("rita", "rob", "ray"):
            s.grant_role(name, "reviewer")
        yield s


@pytest.fixture
def campaign(store):
    items = [(100 + i, 10.0 + i, -5.0, 9000 + i if i % 2 else None) for i in range(4)]
    return store.create_campaign("ann", "DR14 edge sources", "DR14", items, "<b>check</b>")


def _items(store, cid):
    return [int(i) for i in store.campaign_queue(cid, None)["item_id"]]


def test_queue_keeps_order_and_shows_mine_and_others(store, campaign):
    a, b, c, d = _items(store, campaign)
    store.record_verdict("rita", campaign, a, "spurious", "first look")
    store.record_verdict("rita", campaign, a, "OK", "second look")
    store.record_verdict("rob", campaign, a, "spurious", "")
    store.record_verdict("rob", campaign, c, "pile-up", "")
    queue = store.campaign_queue(campaign, "rita")
    assert list(queue["srcid"]) == [100, 101, 102, 103]
    assert list(queue["detid"].astype(object).where(queue["detid"].notna(), None)) == [None, 9001, None, 9003]
    first = queue.iloc[0]
    assert (first["my_label"], first["my_comment"]) == ("OK", "second look")
    assert first["others"] == {"rob": "spurious"}
    assert first["n_reviewers"] == 2
    assert queue.iloc[1]["my_label"] is None and queue.iloc[1]["others"] == {}
    assert queue.iloc[2]["others"] == {"rob": "pile-up"} and queue.iloc[2]["n_reviewers"] == 1
    assert store.campaigns()[["name", "n_items", "description"]].values.tolist() == [
        ["DR14 edge sources", 4, "<b>check</b>"]
    ]


def test_progress_counts_items_not_verdicts(store, campaign):
    a, b, c, d = _items(store, campaign)
    for label in ("OK", "spurious", "OK"):
        store.record_verdict("rita", campaign, a, label, "")
    store.record_verdict("rita", campaign, b, "OK", "")
    store.record_verdict("rob", campaign, d, "OK", "")
    progress = store.campaign_progress(campaign).set_index("user")
    assert progress.loc["rita", ["n_reviewed", "n_items"]].tolist() == [2, 4]
    assert progress.loc["rita", "fraction"] == 0.5
    assert progress.loc["rob", "n_reviewed"] == 1
    assert str(progress["last_time"].dtype) == "datetime64[us, UTC]"


def test_agreement_fraction_and_fleiss_kappa(store, campaign):
    a, b, c, d = _items(store, campaign)
    # (a,a) (b,b) (a,b) (a,a) with a=OK, b=spurious: P=0.75, Pe=34/64 -> kappa=7/15.
    verdicts = {a: ("OK", "OK"), b: ("spurious", "spurious"), c: ("OK", "spurious"), d: ("OK", "OK")}
    for item, (first, second) in verdicts.items():
        store.record_verdict("rita", campaign, item, first, "")
        store.record_verdict("rob", campaign, item, second, "")
    agreement = store.campaign_agreement(campaign)
    assert (agreement.n_items, agreement.n_items_multi, agreement.n_reviewers) == (4, 4, 2)
    assert agreement.fraction_agree == 0.75
    assert agreement.fleiss_kappa == pytest.approx(7 / 15)


def test_fleiss_kappa_reference_values():
    # Fleiss (1971)-style check: perfect agreement on mixed labels is 1; no items is NaN.
    assert fleiss_kappa([["a", "a", "a"], ["b", "b", "b"]]) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa([]))
    assert math.isnan(fleiss_kappa([["a", "a"], ["a", "a"]]))
    # Systematic disagreement is below chance.
    assert fleiss_kappa([["a", "b"], ["b", "a"], ["a", "b"]]) < 0
    # Varying numbers of raters per item.
    value = fleiss_kappa([["a", "a", "b"], ["b", "b"], ["a", "a", "a", "a"]])
    observed = (2 / 6 + 1 + 1) / 3
    chance = (6 / 9) ** 2 + (3 / 9) ** 2
    assert value == pytest.approx((observed - chance) / (1 - chance))


def test_export_has_full_history_and_marks_latest(store, campaign):
    a, *_ = _items(store, campaign)
    store.record_verdict("rita", campaign, a, "spurious", "'); DROP TABLE verdicts;--")
    store.record_verdict("rita", campaign, a, "OK", "<script>alert(1)</script>")
    out = store.export_verdicts(campaign)
    assert out["comment"].tolist() == ["'); DROP TABLE verdicts;--", "<script>alert(1)</script>"]
    assert out["is_latest"].tolist() == [False, True]
    assert set(out["campaign"]) == {"DR14 edge sources"} and set(out["release"]) == {"DR14"}


def test_campaign_errors_read_as_sentences(store, campaign):
    with pytest.raises(ValueError, match="already exists"):
        store.create_campaign("ann", "DR14 edge sources", "DR14", [(1, 1.0, 1.0)])
    with pytest.raises(ValueError, match="has no items"):
        store.create_campaign("ann", "empty", "DR14", [])
    with pytest.raises(LookupError, match="No review campaign with id 999"):
        store.campaign_queue(999, "rita")
    other = store.create_campaign("ann", "other", "DR14", [(5, 1.0, 1.0)])
    foreign = _items(store, other)[0]
    with pytest.raises(LookupError, match=f"has no item {foreign}"):
        store.record_verdict("rita", campaign, foreign, "OK", "")
    with pytest.raises(ValueError, match="allowed labels"):
        store.record_verdict("rita", campaign, _items(store, campaign)[0], "meh", "")


def test_flags_can_carry_a_campaign(store, campaign):
    store.add_flags("rita", "DR14", [(100, 10.0, -5.0)], "needs-second-look", "", campaign_id=campaign)
    assert store.flag_history("DR14", 100)["campaign_id"].tolist() == [campaign]


# -- votes -----------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self):
        return self.now


def test_votes_are_recorded_and_summarised(store):
    store.grant_role("vol", "classifier")
    store.record_vote("vol", "DR14", 1, "AGN", 0.8, is_gold=True, correct=True)
    store.record_vote("vol", "DR14", 2, "star", 0.4, is_gold=True, correct=False)
    store.record_vote("vol", "DR14", 3, "CV", 1.0, is_gold=False)
    store.record_vote("stranger", "DR13", 3, "CV", 0.0, is_gold=False)  # default classifier
    frame = store.votes_frame("DR14")
    assert frame["class_name"].tolist() == ["AGN", "star", "CV"]
    assert frame["correct"].tolist()[:2] == [True, False] and frame["correct"].isna().iloc[2]
    stats = store.user_stats("vol")
    assert (stats["n_votes"], stats["n_gold"], stats["n_scored"], stats["n_correct"]) == (3, 2, 2, 1)
    assert stats["success_rate"] == 0.5
    assert store.user_stats("nobody")["success_rate"] is None
    with pytest.raises(ValueError, match="outside 0..1"):
        store.record_vote("vol", "DR14", 1, "AGN", 1.5, is_gold=False)
    with pytest.raises(ValueError, match="Only votes on gold"):
        store.record_vote("vol", "DR14", 1, "AGN", 0.5, is_gold=False, correct=True)


def test_rate_limit_per_user_per_minute(store):
    clock = Clock()
    store.clock = clock
    for i in range(5):
        store.record_vote("vol", "DR14", i, "AGN", 0.5, is_gold=False)
        clock.now += timedelta(seconds=1)
    with pytest.raises(RateLimited) as info:
        store.record_vote("vol", "DR14", 99, "AGN", 0.5, is_gold=False)
    assert info.value.retry_after == pytest.approx(55.0)
    assert "try again in 55 s" in str(info.value)
    store.record_vote("other", "DR14", 99, "AGN", 0.5, is_gold=False)  # others unaffected
    clock.now += timedelta(seconds=56)
    store.record_vote("vol", "DR14", 99, "AGN", 0.5, is_gold=False)
    assert len(store.votes_frame("DR14")) == 7
