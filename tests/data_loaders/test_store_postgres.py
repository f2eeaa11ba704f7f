"""The same store on a real PostgreSQL (a throwaway server started by tests/pg_server.py)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import inspect

from data_loaders.store import RateLimited, current_revision, open_store, upgrade
from tests.pg_server import PostgresUnavailable, fresh_database, postgres_server

pytestmark = pytest.mark.postgres

WRITERS, EVENTS = 50, 100


@pytest.fixture(scope="module")
def server_url():
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL not available: {exc}")


@pytest.fixture
def store(server_url, tmp_path):
    with fresh_database(server_url) as url, open_store(url, tmp_path) as s:
        s.grant_role("ann", "admin")
        s.grant_role("rita", "reviewer")
        yield s


def test_schema_is_migrated_once_and_versioned(store):
    assert store.engine.dialect.name == "postgresql"
    assert store.engine.url.drivername == "postgresql+psycopg"
    assert {"flag_events", "votes", "alembic_version"} <= set(inspect(store.engine).get_table_names())
    upgrade(store.engine)
    upgrade(store.engine)
    assert current_revision(store.engine) == "0003"


def test_concurrent_start_ups_migrate_once(server_url, tmp_path):
    with fresh_database(server_url) as url:
        errors = []

        def start():
            try:
                open_store(url, tmp_path).close()
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with open_store(url, tmp_path, migrate=False) as s:
            assert current_revision(s.engine) == "0003"


def test_50_threads_x_100_events_are_all_kept_once(store):
    for w in range(WRITERS):
        store.grant_role(f"user{w}", "reviewer")
    errors = []

    def run(w):
        try:
            for j in range(EVENTS):
                store.add_flags(f"user{w}", "DR14", [(w * 1000 + j, 1.0, 2.0)], "spurious", f"w{w}-e{j}")
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = store.flag_events("DR14")
    assert len(events) == WRITERS * EVENTS
    assert events["id"].is_unique and events["comment"].is_unique
    assert set(events["comment"]) == {f"w{w}-e{j}" for w in range(WRITERS) for j in range(EVENTS)}
    assert len(store.current_flags("DR14")) == WRITERS * EVENTS


@pytest.mark.parametrize(
    "text", ["'); DROP TABLE flag_events;--", "<script>alert(1)</script>", "100% %s %(x)s {0} :name $1 \\ Ω"]
)
def test_text_round_trips_verbatim(store, text):
    store.grant_role(text[:40], "reviewer")
    store.add_flags(text[:40], "DR14", [(3, 1.0, 1.0)], "interesting", text)
    history = store.flag_history("DR14", 3)
    assert history["comment"].tolist() == [text]
    assert history["user"].tolist() == [text[:40]]


def test_roles_are_enforced(store):
    for user in (None, "", "guest"):
        with pytest.raises(PermissionError):
            store.add_flags(user, "DR14", [(1, 1.0, 1.0)], "OK", "")
    store.grant_role("vic", "viewer")
    with pytest.raises(PermissionError):
        store.record_vote("vic", "DR14", 1, "AGN", 0.5, is_gold=False)
    with pytest.raises(PermissionError):
        store.create_campaign("rita", "c", "DR14", [(1, 1.0, 1.0)])
    assert store.flag_events().empty


def test_campaign_and_votes_round_trip(store):
    cid = store.create_campaign("ann", "pg campaign", "DR14", [(1, 1.0, 1.0), (2, 2.0, 2.0, 77)])
    items = store.campaign_queue(cid, "rita")["item_id"].tolist()
    store.record_verdict("rita", cid, items[0], "spurious", "x")
    store.record_verdict("ann", cid, items[0], "spurious", "y")
    assert store.campaign_agreement(cid).fraction_agree == 1.0
    assert store.campaign_progress(cid)["n_reviewed"].tolist() == [1, 1]
    assert store.export_verdicts(cid)["detid"].isna().all()
    store.votes_per_minute = 3
    for i in range(3):
        store.record_vote("rita", "DR14", i, "AGN", 0.5, is_gold=True, correct=i > 0)
    with pytest.raises(RateLimited):
        store.record_vote("rita", "DR14", 9, "AGN", 0.5, is_gold=False)
    assert store.user_stats("rita")["success_rate"] == pytest.approx(2 / 3)


def test_logins_revocation_and_back_off_on_postgres(store):
    from data_loaders.store import logins

    first, second = (logins.open_login(store, "rita", "10.0.0.1") for _ in range(2))
    assert logins.login_user(store, first) == "rita"
    assert logins.revoke_logins(store, "rita", keep=second) == 1
    assert logins.login_user(store, first) is None and logins.login_user(store, second) == "rita"
    policy = logins.LOGIN_BY_ADDRESS
    for _ in range(policy.free):
        assert logins.wait_seconds(store, "login", "addr:10.0.0.9", policy) == 0
        logins.record_attempt(store, "login", "addr:10.0.0.9", "user:rita")
    assert 0 < logins.wait_seconds(store, "login", "addr:10.0.0.9", policy) <= policy.base_s
    assert logins.wait_seconds(store, "login", "addr:10.0.0.10", policy) == 0
