"""Bounded load test: 6 simulated Explore sessions pan, filter and tap for 8 s against a loopback server.

Prints throughput, latency percentiles and server memory; asserts that every session was
served, that actions were answered, and that the server discards every session after the
tabs close (memory is reported, not asserted: it depends on the machine).
The full goal (50 sessions, p95 < 1 s) is ``python -m tests.benchmarks.bench_load``.
"""

from __future__ import annotations

import pytest

from tests.load.runner import per_action_cost, run_load
from tests.ui.serving import serve_app

pytestmark = pytest.mark.slow

SESSIONS, DURATION_S = 6, 8


def test_concurrent_sessions_are_served_and_released(demo_data_dir):
    with serve_app(demo_data_dir, "--num-procs", "1", page="health") as base:
        alone = per_action_cost(base, n=3, pause_s=0.1)
        result = run_load(base, SESSIONS, DURATION_S, ramp_s=3.0, timeout=20.0, release_timeout=60.0, settle_s=1.0)
    print(alone)
    assert set(alone) == {"pan", "filter", "tap"}
    assert all(latency > 0 and cpu > 0 for latency, cpu in alone.values()), alone
    print("\n".join(result.lines()))
    assert not result.errors, result.errors
    answered = result.actions - result.timeouts
    assert answered >= SESSIONS, "every session should get at least one answer"
    assert result.timeouts <= max(1, result.actions // 20)
    assert {"pan", "filter", "tap"} <= set(result.by_action)
    assert result.released_after_s is not None, "sessions were not discarded after the tabs closed"
