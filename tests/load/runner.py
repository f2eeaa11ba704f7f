"""Run N simulated Explore sessions against a server for a fixed time and measure it.

Throughput (actions answered per second), latency percentiles per action, and the resident
memory of every process of the server's process group: before, peak during, right after
the sessions close, and once the server has discarded them (``/health`` reports
``n_sessions`` 0 in every worker). Loopback only; bounded in sessions and seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from dataclasses import dataclass

import numpy as np

from tests.load.client import ACTIONS, SessionLog, SimulatedSession


def group_pids(pgid: int) -> list[int]:
    """Processes of the process group ``pgid`` (the server parent and its ``--num-procs`` workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp
                pids.append(int(entry))
    return pids


def rss_mb(pids: list[int]) -> float:
    """Summed current RSS of ``pids`` in MB (processes that exited count as 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1])
        except (OSError, ValueError):
            pass
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


#: Seconds to wait after the last session is discarded before reading the server's memory:
#: layouts.common.release_memory collects RELEASE_DELAY_S after a burst of ended sessions, and
#: no sooner than RELEASE_INTERVAL_S after its previous collection.
RELEASE_SETTLE_S = 35.0


def cpu_s(pids: list[int]) -> float:
    """Summed user+system CPU seconds of ``pids`` so far (processes that exited count as 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime after the name
        except (OSError, ValueError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def health(base: str) -> dict:
    with urllib.request.urlopen(f"{base}/health", timeout=10) as r:  # noqa: S310 - loopback URL we built
        return json.loads(r.read())


def wait_sessions_released(base: str, n_workers: int, timeout: float) -> float | None:
    """Seconds until every worker reports 0 sessions (each seen at 0 twice in a row), or None on timeout."""
    t0 = time.perf_counter()
    zeros: dict[int, int] = {}
    while time.perf_counter() - t0 < timeout:
        h = health(base)
        zeros[h["pid"]] = zeros.get(h["pid"], 0) + 1 if h["n_sessions"] == 0 else 0
        if len([p for p, z in zeros.items() if z >= 2]) >= n_workers:
            return time.perf_counter() - t0
        time.sleep(0.5)
    return None


@dataclass
class LoadResult:
    sessions: int
    duration_s: float
    errors: list[str]
    connect_p50_s: float
    connect_max_s: float
    actions: int
    timeouts: int
    throughput_per_s: float
    p50_s: float
    p95_s: float
    by_action: dict[str, tuple[int, float, float]]
    rss_before_mb: float
    rss_peak_mb: float
    rss_closed_mb: float
    rss_released_mb: float
    released_after_s: float | None
    rss_cold_mb: float | None = None  # at server start, before any warm-up round
    wall_s: float = 0.0  # the sessions' run, from the first page opened to the last tab closed
    server_cpu_s: float = 0.0  # all server processes (router and workers) during that run
    client_cpu_s: float = 0.0  # this load generator during that run

    @property
    def growth_after_mb(self) -> float:
        return self.rss_released_mb - self.rss_before_mb

    def lines(self) -> list[str]:
        rows = [
            f"sessions {self.sessions}, each acting {self.duration_s:.0f} s once open, {len(self.errors)} failed",
            f"page open (GET + websocket + document) p50 {self.connect_p50_s:.1f} s, max {self.connect_max_s:.1f} s; "
            f"actions {self.actions} ({self.timeouts} timed out), "
            f"throughput {self.throughput_per_s:.1f}/s, latency p50 {self.p50_s * 1000:.0f} ms, "
            f"p95 {self.p95_s * 1000:.0f} ms",
        ]
        for action, (n, p50, p95) in sorted(self.by_action.items()):
            rows.append(f"  {action:6s} n={n:4d} p50 {p50 * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms")
        released = "never" if self.released_after_s is None else f"{self.released_after_s:.0f} s after close"
        cold = "" if self.rss_cold_mb is None else f"at start {self.rss_cold_mb:.0f} MB, after a warm-up round "
        rows.append(
            f"server RSS (all processes): {cold}before {self.rss_before_mb:.0f} MB, peak {self.rss_peak_mb:.0f} MB, "
            f"at close {self.rss_closed_mb:.0f} MB, sessions released {released}: {self.rss_released_mb:.0f} MB "
            f"({self.growth_after_mb:+.0f} MB)"
        )
        if self.wall_s:
            rows.append(
                f"CPU during the run ({self.wall_s:.0f} s): server {self.server_cpu_s:.0f} s "
                f"({self.server_cpu_s / self.wall_s:.2f} cores), load generator {self.client_cpu_s:.0f} s "
                f"({self.client_cpu_s / self.wall_s:.2f} cores)"
            )
        rows += [f"  error: {e}" for e in self.errors[:5]]
        return rows


async def _run_sessions(
    base: str, n: int, duration_s: float, ramp_s: float, timeout: float, together: bool, think_s: float
) -> list[SessionLog]:
    from tornado.httpclient import AsyncHTTPClient

    # Tornado's client queues all but 10 requests by default: the load generator itself would
    # then time out page requests that the server never saw.
    AsyncHTTPClient.configure(None, max_clients=max(n, 10))
    connected = [asyncio.Event() for _ in range(n)]
    start = asyncio.Event() if together else None

    async def one(i: int) -> SessionLog:
        await asyncio.sleep(ramp_s * i / max(n, 1))  # tabs open over the ramp, as visitors arrive
        session = SimulatedSession(base, seed=i, timeout=timeout, think_s=think_s)
        return await session.run(duration_s, connected=connected[i], start=start)

    async def release() -> None:
        for event in connected:
            await event.wait()
        start.set()

    tasks = [one(i) for i in range(n)]
    if together:
        tasks.append(release())
    return (await asyncio.gather(*tasks))[:n]


def _acting_span(samples, fallback: float) -> float:
    """Seconds from the first action sent to the last answer (the run's wall time if none)."""
    if not samples:
        return fallback
    end = max(s.sent + (s.latency or 0.0) for s in samples)
    return max(end - min(s.sent for s in samples), 1e-9)


def _sampler(pgid: int, peak: list[float], stop: list[bool], every: float = 0.5) -> None:
    while not stop[0]:
        peak[0] = max(peak[0], rss_mb(group_pids(pgid)))
        time.sleep(every)


def run_load(
    base: str,
    n_sessions: int,
    duration_s: float,
    *,
    ramp_s: float = 5.0,
    timeout: float = 20.0,
    release_timeout: float = 90.0,
    together: bool = False,
    think_s: float = 1.0,
    warm_sessions: int = 0,
    settle_s: float = RELEASE_SETTLE_S,
) -> LoadResult:
    """Drive ``n_sessions`` Explore sessions against ``base`` for ``duration_s`` seconds and measure.

    ``together``: every session first opens (over the ramp), then all act at once for
    ``duration_s`` — the latencies are then those of ``n_sessions`` concurrent users, not of a
    server still busy opening pages. ``think_s``: mean pause between a session's actions.
    ``warm_sessions``: first open, use and close this many sessions and wait until the server has
    released them, so that one-off caches (projections, trees, compiled code) are not counted as
    growth; memory growth is then measured from that warmed level. ``settle_s``: seconds between
    the last session discarded and the memory reading.
    """
    import threading

    first = health(base)
    pgid = os.getpgid(first["pid"])
    n_procs = len(group_pids(pgid))
    n_workers = n_procs - 1 if n_procs > 1 else 1  # with --num-procs the parent only waits
    cold = None
    if warm_sessions:
        cold = rss_mb(group_pids(pgid))
        asyncio.run(_run_sessions(base, warm_sessions, 5.0, 1.0, timeout, False, think_s))
        if wait_sessions_released(base, n_workers, release_timeout) is not None:
            time.sleep(settle_s)
    before = rss_mb(group_pids(pgid))
    peak, stop = [before], [False]
    sampler = threading.Thread(target=_sampler, args=(pgid, peak, stop), daemon=True)
    sampler.start()
    t0, cpu0, me0 = time.perf_counter(), cpu_s(group_pids(pgid)), time.process_time()
    try:
        logs = asyncio.run(_run_sessions(base, n_sessions, duration_s, ramp_s, timeout, together, think_s))
    finally:
        stop[0] = True
        sampler.join()
    wall = time.perf_counter() - t0
    server_cpu, client_cpu = cpu_s(group_pids(pgid)) - cpu0, time.process_time() - me0
    closed = rss_mb(group_pids(pgid))
    released_after = wait_sessions_released(base, n_workers, release_timeout)
    if released_after is not None:
        time.sleep(settle_s)  # the server collects ended sessions' memory a moment after they end
    released = rss_mb(group_pids(pgid))

    samples = [s for log in logs for s in log.samples]
    answered = [s.latency for s in samples if s.latency is not None]
    by_action = {}
    for action in {s.action for s in samples}:
        lat = [s.latency for s in samples if s.action == action and s.latency is not None]
        if lat:
            by_action[action] = (len(lat), float(np.percentile(lat, 50)), float(np.percentile(lat, 95)))
    connects = [log.connect_s for log in logs if log.connect_s is not None]
    return LoadResult(
        sessions=n_sessions,
        duration_s=duration_s,
        errors=[log.error for log in logs if log.error],
        connect_p50_s=float(np.median(connects)) if connects else float("nan"),
        connect_max_s=max(connects) if connects else float("nan"),
        actions=len(samples),
        timeouts=len(samples) - len(answered),
        throughput_per_s=len(answered) / _acting_span(samples, wall),
        p50_s=float(np.percentile(answered, 50)) if answered else float("nan"),
        p95_s=float(np.percentile(answered, 95)) if answered else float("nan"),
        by_action=by_action,
        rss_before_mb=before,
        rss_peak_mb=peak[0],
        rss_closed_mb=closed,
        rss_released_mb=released,
        released_after_s=released_after,
        rss_cold_mb=cold,
        wall_s=wall,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
    )


def per_action_cost(base: str, n: int = 30, pause_s: float = 0.3) -> dict[str, tuple[float, float]]:
    """One session alone: for pan, filter and tap, the median latency (ms) and the server CPU per
    action (ms, every server process, the router included), from ``n`` actions of each kind."""

    pgid = os.getpgid(health(base)["pid"])

    async def measure() -> dict[str, tuple[float, float]]:
        session = SimulatedSession(base, seed=12345, timeout=30.0, think_s=0.0)
        await session.connect()
        await asyncio.sleep(2.0)  # the first render after document_ready
        out = {}
        try:
            for action in ACTIONS:
                await session.act(action)  # a first one of each kind: one-off work
                await asyncio.sleep(pause_s)
                cpu0, latencies = cpu_s(group_pids(pgid)), []
                for _ in range(n):
                    sample = await session.act(action)
                    if sample.latency is not None:
                        latencies.append(sample.latency)
                    await asyncio.sleep(pause_s)  # lets the answer's tail (busy indicator, URL) finish
                cpu = cpu_s(group_pids(pgid)) - cpu0
                out[action] = (float(np.median(latencies)) * 1000 if latencies else float("nan"), cpu / n * 1000)
        finally:
            await session.close()
        return out

    return asyncio.run(measure())
