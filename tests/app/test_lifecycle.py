"""Ended sessions free their memory with one full collection per burst, not one per session."""

from __future__ import annotations

import asyncio
import gc

from app import lifecycle as common


def _releases_during(coro, monkeypatch) -> int:
    """How many times the server's release (the real one: unfreeze, full collection, trim) ran."""
    ran = []
    real = common._release_now

    def counted():
        ran.append(1)
        real()

    monkeypatch.setattr(common, "_release_now", counted)
    asyncio.run(coro)
    return len(ran)


def test_a_burst_of_ended_sessions_runs_one_collection(monkeypatch):
    monkeypatch.setattr(common, "RELEASE_DELAY_S", 0.05)
    monkeypatch.setattr(common, "_last_release", -float("inf"))

    async def burst_then_wait():
        for _ in range(50):  # 50 tabs expire in one sweep of Bokeh's session cleanup
            common.release_memory(None)
        await asyncio.sleep(0.3)

    assert _releases_during(burst_then_wait(), monkeypatch) == 1
    assert not common._release_pending


def test_sessions_ending_later_get_their_own_collection(monkeypatch):
    monkeypatch.setattr(common, "RELEASE_DELAY_S", 0.05)
    monkeypatch.setattr(common, "RELEASE_INTERVAL_S", 0.0)

    async def two_bursts():
        common.release_memory(None)
        await asyncio.sleep(0.3)
        common.release_memory(None)
        common.release_memory(None)
        await asyncio.sleep(0.3)

    assert _releases_during(two_bursts(), monkeypatch) == 2


def test_collections_are_spaced_by_the_interval(monkeypatch):
    monkeypatch.setattr(common, "RELEASE_DELAY_S", 0.05)
    monkeypatch.setattr(common, "RELEASE_INTERVAL_S", 30.0)
    monkeypatch.setattr(common, "_last_release", -float("inf"))

    async def two_bursts_close_together():
        common.release_memory(None)
        await asyncio.sleep(0.2)  # the first collection ran
        common.release_memory(None)
        await asyncio.sleep(0.2)  # far too soon for the second

    assert _releases_during(two_bursts_close_together(), monkeypatch) == 1
    assert common._release_pending, "the second collection is scheduled, after the interval"
    monkeypatch.setattr(common, "_release_pending", False)  # its timer died with the loop above


def test_the_collection_waits_for_the_delay(monkeypatch):
    monkeypatch.setattr(common, "RELEASE_DELAY_S", 5.0)

    async def ended_then_short_wait():
        common.release_memory(None)
        await asyncio.sleep(0.1)

    assert _releases_during(ended_then_short_wait(), monkeypatch) == 0
    monkeypatch.setattr(common, "_release_pending", False)  # the loop that held the timer is gone


class _Node:
    def __init__(self):
        self.other = self  # a reference cycle: only the cyclic collector frees it


def test_frozen_cycles_of_ended_sessions_are_collected_at_release():
    import weakref

    node = _Node()
    alive = weakref.ref(node)
    common.freeze_heap()  # the page was built and frozen
    assert gc.get_freeze_count() > 0
    del node  # the session ended
    gc.collect()
    assert alive() is not None, "a frozen cycle waits (this is what keeps full collections short)"
    common._release_now()
    assert alive() is None
    assert gc.get_freeze_count() > 0, "what is still alive is frozen again"
    gc.unfreeze()


def test_a_full_collection_skips_frozen_objects():
    import time

    gc.collect()
    gc.unfreeze()
    pages = [[_Node() for _ in range(1000)] for _ in range(300)]  # 300k objects kept alive, like open pages
    t0 = time.perf_counter()
    gc.collect()
    walked = time.perf_counter() - t0
    common.freeze_heap()
    t0 = time.perf_counter()
    gc.collect()
    frozen = time.perf_counter() - t0
    gc.unfreeze()
    del pages
    print(f"full collection: {walked * 1000:.0f} ms, with the heap frozen {frozen * 1000:.0f} ms")
    assert frozen < walked / 3
