"""Flag events on SQLite: bulk add, history, derived current flags, vocabulary, verbatim text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from data_loaders.store import ALERT_LABELS, DEFAULT_FLAG_LABELS, open_store
from data_loaders.store.models import FlagEvent

NASTY = [
    "'); DROP TABLE flag_events;--",
    "<script>alert(1)</script>",
    "Robert'); DELETE FROM users WHERE ('a'='a",
    'quote " and backslash \\ and 100% _wild_ %s {0} :name ?',
    "unicode: Ω ☃ 𝔛 — right-to-left \u202e and NUL-free\nnew line\ttab",
    "",
]


@pytest.fixture
def store(tmp_path):
    with open_store(None, tmp_path) as s:
        s.grant_role("ada", "reviewer")
        s.grant_role("bob", "reviewer")
        s.grant_role("root", "admin")
        yield s


def test_default_store_is_a_sqlite_file_in_wal_mode_with_foreign_keys(tmp_path):
    with open_store(None, tmp_path) as s:
        assert s.engine.url.database == str(tmp_path / "xmm_explorer.db")
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    assert (tmp_path / "xmm_explorer.db").exists()


def test_postgres_urls_use_psycopg3():
    from data_loaders.store.engine import resolve_url

    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg2://u@h/db"):
        assert resolve_url(url, None).drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match="in-memory"):
        resolve_url("sqlite://", None)
    with pytest.raises(ValueError, match="Unsupported store URL"):
        resolve_url("mysql://u@h/db", None)


def test_a_3000_source_selection_is_one_call_one_batch(store):
    sources = [(10_000 + i, (i * 0.1) % 360, -80 + i * 0.05) for i in range(3000)]
    assert store.add_flags("ada", "DR14", sources, "spurious", "field edge") == 3000
    events = store.flag_events("DR14")
    assert len(events) == 3000
    assert events["batch"].nunique() == 1
    assert events["time"].nunique() == 1
    assert set(events["srcid"]) == {s[0] for s in sources}
    assert events.set_index("srcid").loc[10_010, "ra"] == pytest.approx(1.0)


def test_history_is_append_only_and_unflag_is_a_new_event(store):
    src = [(42, 150.1, 2.2, 101)]
    store.add_flags("ada", "DR14", src, "pile-up", "bright core")
    store.add_flags("ada", "DR14", src, "pile-up", "actually fine", action="unflag")
    store.add_flags("bob", "DR14", src, "pile-up", "I see pile-up")
    history = store.flag_history("DR14", 42)
    assert list(history["action"]) == ["flag", "unflag", "flag"]
    assert list(history["user"]) == ["ada", "ada", "bob"]
    assert list(history["detid"]) == [101, 101, 101]
    assert str(history["time"].dtype) == "datetime64[us, UTC]"
    current = store.current_flags("DR14")
    assert current[["srcid", "label", "n_users", "last_user", "last_comment"]].values.tolist() == [
        [42, "pile-up", 1, "bob", "I see pile-up"]
    ]
    store.add_flags("bob", "DR14", src, "pile-up", "", action="unflag")
    assert store.current_flags("DR14").empty
    assert len(store.flag_history("DR14", 42)) == 4


def test_current_flags_counts_users_per_label_and_filters_by_srcid(store):
    store.add_flags("ada", "DR14", [(1, 1.0, 1.0), (2, 2.0, 2.0)], "spurious", "a1")
    store.add_flags("bob", "DR14", [(1, 1.0, 1.0)], "spurious", "b1")
    store.add_flags("bob", "DR14", [(1, 1.0, 1.0)], "interesting", "b2")
    store.add_flags("ada", "DR13", [(1, 1.0, 1.0)], "variable", "other release")
    current = store.current_flags("DR14")
    table = {(r.srcid, r.label): (r.n_users, r.last_user, r.last_comment) for r in current.itertuples()}
    assert table == {
        (1, "spurious"): (2, "bob", "b1"),
        (1, "interesting"): (1, "bob", "b2"),
        (2, "spurious"): (1, "ada", "a1"),
    }
    assert list(store.current_flags("DR14", srcids=[2])["srcid"]) == [2]
    many = list(range(100, 5000)) + [1]
    assert set(store.current_flags("DR14", srcids=many)["srcid"]) == {1}
    assert list(store.current_flags("DR13")["label"]) == ["variable"]
    empty = store.current_flags("DR99")
    assert list(empty.columns) == ["srcid", "label", "n_users", "last_comment", "last_user", "last_time"]
    assert str(empty["srcid"].dtype) == "int64"


def test_unknown_label_lists_the_allowed_ones(store):
    with pytest.raises(ValueError) as info:
        store.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "alert-confirmed", "")
    message = str(info.value)
    assert message.startswith("Unknown label 'alert-confirmed'; allowed labels are: ")
    assert all(label in message for label in DEFAULT_FLAG_LABELS)
    assert message.count(".") == 1 and message.endswith(".")
    store.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "alert-confirmed", "", vocabulary=ALERT_LABELS)
    assert list(store.current_flags("DR14")["label"]) == ["alert-confirmed"]
    with pytest.raises(ValueError, match="Unknown action"):
        store.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "OK", "", action="delete")


def test_store_wide_vocabulary_is_configurable(tmp_path):
    with open_store(None, tmp_path, flag_labels=("good", "bad")) as s:
        s.grant_role("ada", "reviewer")
        s.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "bad", "")
        with pytest.raises(ValueError, match="allowed labels are: good, bad"):
            s.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "spurious", "")


@pytest.mark.parametrize("text", NASTY)
def test_sql_and_html_looking_text_round_trips_verbatim(store, text):
    store.add_flags("ada", "DR14", [(7, 10.0, 10.0)], "interesting", text)
    assert store.flag_history("DR14", 7)["comment"].tolist() == [text]
    assert store.current_flags("DR14")["last_comment"].tolist() == [text]
    weird_release = "DR14'; --"
    store.add_flags("ada", weird_release, [(7, 10.0, 10.0)], "OK", text)
    assert store.flag_history(weird_release, 7)["release"].tolist() == [weird_release]
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FlagEvent)).scalar() == 2


def test_names_that_look_like_code_round_trip(store):
    for name in ("<b>eve</b>", "o'brien; DROP TABLE users;--"):
        store.grant_role(name, "reviewer")
        store.add_flags(name, "DR14", [(9, 1.0, 1.0)], "OK", name)
    assert store.flag_history("DR14", 9)["user"].tolist() == ["<b>eve</b>", "o'brien; DROP TABLE users;--"]
    assert set(store.users_frame()["name"]) >= {"<b>eve</b>", "o'brien; DROP TABLE users;--"}


def test_bad_sources_are_rejected_before_anything_is_written(store):
    with pytest.raises(ValueError, match="outside 0..360"):
        store.add_flags("ada", "DR14", [(1, 1.0, 1.0), (2, 400.0, 0.0)], "OK", "")
    with pytest.raises(ValueError, match="release name"):
        store.add_flags("ada", "", [(1, 1.0, 1.0)], "OK", "")
    with pytest.raises(LookupError, match="No review campaign with id 77"):
        store.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "OK", "", campaign_id=77)
    assert store.flag_events().empty
    assert store.add_flags("ada", "DR14", [], "OK", "") == 0


def test_times_are_utc_aware_and_naive_times_are_refused(store):
    fixed = datetime(2025, 3, 1, 12, 0, tzinfo=UTC) + timedelta(hours=5)
    store.clock = lambda: fixed.astimezone(ZoneInfo("Europe/Madrid"))
    store.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "OK", "")
    assert store.flag_history("DR14", 1)["time"].iloc[0] == fixed
    store.clock = lambda: datetime(2025, 3, 1, 12, 0)
    with pytest.raises(Exception, match="Naive datetime"):
        store.add_flags("ada", "DR14", [(1, 1.0, 1.0)], "OK", "")
