"""Schema migrations (alembic, inside the package): empty DB, idempotence, upgrade from 0001."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from data_loaders.store import current_revision, head_revision, open_store, upgrade
from data_loaders.store.engine import make_engine, resolve_url
from data_loaders.store.models import Base, FlagEvent

TABLES = {
    "users",
    "role_events",
    "campaigns",
    "campaign_items",
    "flag_events",
    "verdicts",
    "votes",
    "logins",
    "auth_attempts",
    "alembic_version",
}


def _engine(tmp_path):
    return make_engine(resolve_url(None, tmp_path))


def test_upgrade_on_an_empty_database_creates_the_models_schema(tmp_path):
    engine = _engine(tmp_path)
    assert current_revision(engine) is None
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == TABLES
    assert current_revision(engine) == head_revision() == "0003"
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], "models.py and the migrations disagree"
    engine.dispose()


def test_running_upgrade_twice_is_a_no_op(tmp_path):
    with open_store(None, tmp_path) as store:
        store.grant_role("ada", "reviewer")
        store.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "OK", "kept")
        upgrade(store.engine)
        upgrade(store.engine)
        with store.engine.connect() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        assert [v[0] for v in versions] == ["0003"]
        assert store.flag_history("DR14", 1)["comment"].tolist() == ["kept"]
    with open_store(None, tmp_path) as again:  # a second start-up
        assert again.flag_history("DR14", 1)["comment"].tolist() == ["kept"]


def test_a_database_at_0001_upgrades_and_keeps_its_data(tmp_path):
    engine = _engine(tmp_path)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "votes" not in inspect(engine).get_table_names()
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(FlagEvent),
            {
                "batch": "b" * 32,
                "time": when,
                "user_name": "old",
                "action": "flag",
                "label": "spurious",
                "comment": "from 0001",
                "release": "DR13",
                "srcid": 5,
                "ra": 1.0,
                "dec": 2.0,
                "detid": None,
                "campaign_id": None,
            },
        )
    upgrade(engine)
    assert current_revision(engine) == "0003"
    assert {"votes"} <= set(inspect(engine).get_table_names())
    assert "ix_flag_events_release_srcid" in {ix["name"] for ix in inspect(engine).get_indexes("flag_events")}
    with engine.connect() as conn:
        assert conn.execute(select(FlagEvent.comment, FlagEvent.time)).one() == ("from 0001", when)
    engine.dispose()
    with open_store(None, tmp_path) as store:
        store.record_vote("old", "DR13", 5, "AGN", 0.5, is_gold=False)
        assert len(store.votes_frame("DR13")) == 1
