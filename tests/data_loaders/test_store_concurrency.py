"""Many writers at once, and a writer killed mid-transaction, on a real SQLite file."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest
from sqlalchemy import event

from data_loaders.store import open_store

WRITERS, EVENTS = 50, 100
BIG_BATCH = 20_000
#: fork: the children need no re-import (50 spawned interpreters would take ~20 s).
FORK = multiprocessing.get_context("fork")


def _write_events(store, writer: int) -> None:
    for j in range(EVENTS):
        store.add_flags(f"user{writer}", "DR14", [(writer * 1000 + j, 10.0, 20.0)], "spurious", f"w{writer}-e{j}")


def _process_writer(data_dir, writer: int) -> None:
    with open_store(None, data_dir, migrate=False) as store:
        _write_events(store, writer)


def _check_exactly_once(store) -> None:
    events = store.flag_events("DR14")
    assert len(events) == WRITERS * EVENTS
    assert events["id"].is_unique
    assert events["comment"].is_unique
    expected = {f"w{w}-e{j}" for w in range(WRITERS) for j in range(EVENTS)}
    assert set(events["comment"]) == expected
    assert (events.groupby("user").size() == EVENTS).all()
    assert len(store.current_flags("DR14")) == WRITERS * EVENTS
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.fixture
def store(tmp_path):
    with open_store(None, tmp_path) as s:
        for w in range(WRITERS):
            s.grant_role(f"user{w}", "reviewer")
        yield s


def test_50_threads_x_100_events_are_all_kept_once(store):
    errors = []

    def run(w):
        try:
            _write_events(store, w)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _check_exactly_once(store)


def test_50_processes_x_100_events_are_all_kept_once(store, tmp_path):
    processes = [FORK.Process(target=_process_writer, args=(tmp_path, w)) for w in range(WRITERS)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    _check_exactly_once(store)


def _killable_writer(data_dir, started, pause: bool) -> None:
    store = open_store(None, data_dir, migrate=False)
    if pause:

        @event.listens_for(store.engine, "after_cursor_execute")
        def hold_open(conn, cursor, statement, *args):
            if statement.startswith("INSERT INTO flag_events"):
                started.set()
                time.sleep(120)  # the transaction is open and half-written: kill me here

    started.set()
    batch = 0
    while True:
        sources = [(1_000_000 + batch * BIG_BATCH + i, 1.0, 1.0) for i in range(BIG_BATCH)]
        store.add_flags("killed", "DR14", sources, "spurious", f"batch {batch}")
        batch += 1


def _setup_then_kill(store, tmp_path, pause: bool, delay: float):
    store.grant_role("killed", "reviewer")
    earlier = [(i, 5.0, 5.0) for i in range(500)]
    store.add_flags("user0", "DR14", earlier, "OK", "earlier data")
    started = FORK.Event()
    child = FORK.Process(target=_killable_writer, args=(tmp_path, started, pause))
    child.start()
    assert started.wait(60)
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL


def _check_consistent(tmp_path):
    with open_store(None, tmp_path) as fresh:
        with fresh.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        events = fresh.flag_events("DR14")
        earlier = events[events["comment"] == "earlier data"]
        assert len(earlier) == 500
        killed = events[events["user"] == "killed"]
        sizes = killed.groupby("batch").size()
        assert (sizes == BIG_BATCH).all(), "a batch was partly written"
        # The database still takes writes: the dead writer's lock is gone.
        fresh.add_flags("user0", "DR14", [(7, 1.0, 1.0)], "OK", "after the crash")
        return len(sizes)


def test_sigkill_inside_an_open_big_transaction_leaves_nothing_of_it(store, tmp_path):
    _setup_then_kill(store, tmp_path, pause=True, delay=0.2)
    assert _check_consistent(tmp_path) == 0


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.9])
def test_sigkill_at_a_random_moment_keeps_whole_batches_only(store, tmp_path, delay):
    _setup_then_kill(store, tmp_path, pause=False, delay=delay)
    whole = _check_consistent(tmp_path)
    print(f"killed after {delay} s with {whole} whole batches of {BIG_BATCH} committed")
