"""Citizen science: scoring, levels, consensus arithmetic, queue, leaderboard, opt-in, sign-up, concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from data_loaders.citizen import (
    LEADERBOARD_COLUMNS,
    consensus,
    is_correct,
    leaderboard,
    pick_next,
    user_scores,
)
from data_loaders.citizen.accounts import SignupError, check_nickname, sign_up
from data_loaders.citizen.consensus import CONSENSUS_COLUMNS
from data_loaders.citizen.gold import gold_from_tables
from data_loaders.citizen.preferences import opted_in_users, set_show_on_leaderboard, shows_on_leaderboard
from data_loaders.citizen.scoring import level_of
from data_loaders.store import open_store
from data_loaders.store.votes import VOTES_DTYPES

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def votes(rows) -> pd.DataFrame:
    """Votes frame like Store.votes_frame from (user, srcid, answer, confidence, correct, days_ago) tuples."""
    out = [
        (i, NOW - timedelta(days=ago), user, "DEMO", srcid, answer, conf, correct is not None, correct)
        for i, (user, srcid, answer, conf, correct, ago) in enumerate(rows)
    ]
    frame = pd.DataFrame(out, columns=list(VOTES_DTYPES), dtype=object)
    return frame.astype({k: v for k, v in VOTES_DTYPES.items() if v is not object})


def gold_answers(user, n_right, n_wrong, start=1000):
    return [(user, start + i, "star", 1.0, i < n_right, 0) for i in range(n_right + n_wrong)]


def test_answers_are_right_for_every_class_their_family_covers():
    assert is_correct("agn", "bk_AGN") and is_correct("agn", "AGN")
    assert is_correct("xrb", "ext_xrb") and is_correct("galaxy", "ext_xrb")
    assert not is_correct("star", "AGN")
    assert is_correct("dont_know", "star") is None
    with pytest.raises(ValueError, match="Unknown answer"):
        is_correct("<script>", "star")


def test_level_two_needs_ten_scored_answers_at_seventy_percent():
    assert level_of(10, 0.7) == 2
    assert level_of(9, 1.0) == 1
    assert level_of(10, 0.69) == 1
    scores = user_scores(
        votes(gold_answers("ada", 7, 3) + gold_answers("bob", 6, 4) + gold_answers("cy", 9, 0)), now=NOW
    ).set_index("user")
    assert scores.loc["ada", "level"] == 2 and scores.loc["ada", "success_rate"] == pytest.approx(0.7)
    assert scores.loc["bob", "level"] == 1
    assert scores.loc["cy", "level"] == 1  # 9 perfect answers are not yet 10


def test_dont_know_is_never_scored_and_recent_counts_one_week():
    rows = [*gold_answers("ada", 10, 0), ("ada", 5, "dont_know", 0.34, None, 0), ("ada", 6, "star", 1.0, None, 30)]
    s = user_scores(votes(rows), now=NOW).set_index("user").loc["ada"]
    assert (s.n_votes, s.n_scored, s.n_correct, s.n_recent) == (12, 10, 10, 11)
    assert s.success_rate == 1.0


def test_consensus_weights_level_two_votes_by_success_rate_and_confidence():
    rows = gold_answers("ada", 10, 0) + gold_answers("bob", 8, 2, start=2000) + gold_answers("kid", 1, 0, 3000)
    rows += [
        ("ada", 1, "star", 1.0, None, 0),  # weight 1.0 * 1.0
        ("bob", 1, "agn", 0.5, None, 0),  # weight 0.8 * 0.5
        ("kid", 1, "agn", 1.0, None, 0),  # level 1: not counted
        ("ada", 2, "dont_know", 1.0, None, 0),  # adds nothing
        ("bob", 2, "cluster", 1.0, None, 0),
    ]
    table = consensus(votes(rows)).set_index("SRCID")
    assert tuple(table.reset_index().columns) == CONSENSUS_COLUMNS
    one = table.loc[1]
    assert one.PbaC1 == pytest.approx(1.0 / 1.4)  # star
    assert one.PbaC0 == pytest.approx(0.4 / 1.4)  # AGN
    assert one.prediction == 1 and one.prediction_name == "star"
    assert one.ClMargin == pytest.approx(0.6 / 1.4)
    assert one.N_VOTES == 2
    assert float(one["AGREEMENT"]) == pytest.approx(0.5)
    two = table.loc[2]
    assert two.prediction_name == "extended" and two.PbaC6 == 1.0 and two.N_VOTES == 1 and two.AGREEMENT == 1.0
    probs = table[[f"PbaC{i}" for i in range(7)]].sum(axis=1)
    np.testing.assert_allclose(probs, 1.0, rtol=1e-6)


def test_consensus_without_level_two_voters_is_empty_but_typed():
    table = consensus(votes(gold_answers("kid", 3, 0)))
    assert table.empty and tuple(table.columns) == CONSENSUS_COLUMNS


def test_leaderboard_has_the_seed_columns_and_lists_only_opted_in_users():
    rows = gold_answers("ada", 10, 0) + gold_answers("bob", 9, 1, start=2000) + [("bob", 1, "star", 1.0, None, 0)]
    rows += gold_answers("shy", 10, 0, start=3000) + gold_answers("kid", 2, 1, start=4000)
    scores = user_scores(votes(rows), now=NOW)
    board = leaderboard(scores, {"ada", "bob", "kid"})
    assert tuple(board.columns) == LEADERBOARD_COLUMNS
    assert board["User"].tolist() == ["bob", "ada"]  # more classifications first; 'shy' did not opt in
    assert board.iloc[0].tolist() == [1, "bob", 11, 11, 90.0]
    beginners = leaderboard(scores, {"ada", "bob", "kid"}, level=1)
    assert beginners["User"].tolist() == ["kid"] and beginners.iloc[0]["Success rate"] == pytest.approx(66.7)


def test_queue_mixes_gold_never_repeats_and_prefers_sources_that_need_votes():
    pool = pd.DataFrame({"SRCID": np.arange(100, 200), "MARGIN": np.linspace(1, 0, 100)})
    gold = np.arange(1, 31)
    counts = pd.Series(5, index=pool["SRCID"])
    counts.loc[150:159] = 0  # ten sources without votes
    rng = np.random.default_rng(1)
    seen: set[int] = set()
    for _ in range(100):
        seen.add(pick_next(pool, gold, counts, seen, rng, shortlist=5))
    assert len(seen) == 100
    n_gold = len(seen & set(gold.tolist()))
    assert 10 <= n_gold <= 30  # about one in five
    first = [pick_next(pool, gold, counts, set(), np.random.default_rng(s), 0, 5) for s in range(20)]
    assert set(first) <= set(range(155, 160))  # fewest votes, then smallest machine margin
    everything = set(range(100, 200)) | set(gold.tolist())
    assert pick_next(pool, gold, counts, everything, rng) is None


def test_gold_set_uses_the_truth_table_else_confident_machine_classes():
    cps = pd.DataFrame({"SRCID": [1, 2, 3], "MATCH_PROB": [0.95, 0.5, 0.99]})
    truth = pd.DataFrame({"SRCID": [1, 2, 3], "TRUE_CLASS": ["star", "AGN", "CV"]})
    gold = gold_from_tables(truth, None, cps)
    assert gold["SRCID"].tolist() == [1, 3] and gold["TRUE_CLASS"].tolist() == ["star", "CV"]
    probs = np.zeros((3, 7))
    probs[0, 1], probs[1, 0], probs[2, 3] = 0.99, 0.99, 0.6
    cls = pd.DataFrame(probs, columns=[f"PbaC{i}" for i in range(7)]).assign(SRCID=[1, 2, 3])
    machine = gold_from_tables(None, cls, cps)
    assert machine["SRCID"].tolist() == [1] and machine["TRUE_CLASS"].tolist() == ["star"]


def test_demo_gold_set_comes_from_the_truth_table(demo_catalogue):
    from data_loaders.citizen import gold_set

    gold = gold_set(demo_catalogue)
    assert len(gold) > 100 and set(gold["ORIGIN"]) == {"truth"}


@pytest.mark.parametrize("nick", ["ab", "a" * 25, "has space", "<b>x</b>", "名字", ""])
def test_nicknames_are_restricted(nick):
    with pytest.raises(SignupError):
        check_nickname(nick)


def test_sign_up_writes_the_users_file_grants_classifier_and_backs_off_per_address(tmp_path):
    from data_loaders.store import logins
    from data_loaders.store.users import verify_password

    with open_store(None, tmp_path) as store:
        users = tmp_path / "users.json"
        assert sign_up(users, store, "stargazer", "correct horse", "10.0.0.1") == "stargazer"
        assert verify_password(users, "stargazer", "correct horse")
        assert store.role_of("stargazer") == "classifier"
        with pytest.raises(SignupError, match="taken"):
            sign_up(users, store, "stargazer", "another pw1", "10.0.0.1")
        with pytest.raises(SignupError, match="8 characters"):
            sign_up(users, store, "short_pw", "1234567", "10.0.0.1")
        store.grant_role("boss", "admin")
        with pytest.raises(SignupError, match="taken"):
            sign_up(users, store, "boss", "takeover!!", "10.0.0.1")  # never downgrade a known account
        for i in range(logins.SIGNUP_BY_ADDRESS.free - 1):
            sign_up(users, store, f"second{i}", "password2", "10.0.0.1")
        with pytest.raises(SignupError, match="from your address"):
            sign_up(users, store, "third", "password3", "10.0.0.1")
        assert sign_up(users, store, "third", "password3", "10.0.0.2") == "third", "other addresses are not blocked"
        with pytest.raises(SignupError, match="from your address"):  # the same address later: still waiting
            sign_up(users, store, "fourth", "password4", "10.0.0.1")


def test_leaderboard_opt_in_defaults_off_and_latest_choice_wins(tmp_path):
    with open_store(None, tmp_path) as store:
        assert not shows_on_leaderboard(store, "ada")
        set_show_on_leaderboard(store, "ada", True)
        set_show_on_leaderboard(store, "bob", True)
        set_show_on_leaderboard(store, "bob", False)
        assert opted_in_users(store) == {"ada"}
        with pytest.raises(PermissionError):
            set_show_on_leaderboard(store, None, True)


def test_a_hundred_players_voting_at_once_lose_no_vote(tmp_path):
    n_players, n_votes = 100, 3
    with open_store(None, tmp_path) as store:
        errors = []
        start = threading.Barrier(n_players)

        def play(k: int) -> None:
            try:
                start.wait()
                for j in range(n_votes):
                    store.record_vote(f"player{k}", "DEMO", 10_000 + j, "star", 0.67, False)
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=play, args=(k,)) for k in range(n_players)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        frame = store.votes_frame("DEMO")
        assert len(frame) == n_players * n_votes
        assert frame.groupby("user").size().eq(n_votes).all()


def test_login_rows_expire_and_back_off_grows_then_caps(tmp_path):
    from datetime import timedelta

    from data_loaders.store import logins
    from data_loaders.store.models import utcnow

    with open_store(None, tmp_path) as store:
        gone = logins.open_login(store, "ada", "10.0.0.1", days=-1 / 86400)  # expired a second ago
        assert logins.login_user(store, gone) is None and logins.login_user(store, "x" * 500) is None
        policy = logins.Backoff(free=2, window=timedelta(minutes=5), base_s=2.0, max_s=10.0)
        assert [policy.delay(n) for n in range(7)] == [0, 0, 2, 4, 8, 10, 10]
        for _ in range(3):
            logins.record_attempt(store, "login", "addr:a")
        wait = logins.wait_seconds(store, "login", "addr:a", policy)
        assert 3.0 < wait <= 4.0  # three failures: 4 s after the last one
        later = utcnow() + timedelta(seconds=5)
        assert logins.wait_seconds(store, "login", "addr:a", policy, now=later) == 0
