"""Ended sessions free their memory with one full collection per burst, not one per session."""

from __future__ import annotations

import asyncio
import gc

from layouts import common


def _full_collections_during(coro) -> int:
    seen = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(count)
    try:
        asyncio.run(coro)
    finally:
        gc.callbacks.remove(count)
    return len(seen)


def test_a_burst_of_ended_sessions_runs_one_collection(monkeypatch):
    monkeypatch.setattr(common, "RELEASE_DELAY_S", 0.05)

    async def burst_then_wait():
        for _ in range(50):  # 50 tabs expire in one sweep of Bokeh's session cleanup
            common.release_memory(None)
        await asyncio.sleep(0.3)

    assert _full_collections_during(burst_then_wait()) == 1
    assert not common._release_pending


def test_sessions_ending_later_get_their_own_collection(monkeypatch):
    monkeypatch.setattr(common, "RELEASE_DELAY_S", 0.05)

    async def two_bursts():
        common.release_memory(None)
        await asyncio.sleep(0.3)
        common.release_memory(None)
        common.release_memory(None)
        await asyncio.sleep(0.3)

    assert _full_collections_during(two_bursts()) == 2


def test_the_collection_waits_for_the_delay(monkeypatch):
    monkeypatch.setattr(common, "RELEASE_DELAY_S", 5.0)

    async def ended_then_short_wait():
        common.release_memory(None)
        await asyncio.sleep(0.1)

    assert _full_collections_during(ended_then_short_wait()) == 0
    monkeypatch.setattr(common, "_release_pending", False)  # the loop that held the timer is gone
