"""``serve --num-procs N``: one port, N Panel processes, each session built once, where its websocket goes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest
from bokeh.util.token import generate_jwt_token, generate_session_id

from app.router import Router, websocket_session_id
from tests.load.client import SimulatedSession
from tests.load.runner import group_pids
from tests.ui.serving import serve_app


def _ws_head(protocol: str) -> bytes:
    return (
        "GET /explore/ws HTTP/1.1\r\nHost: 127.0.0.1:5006\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n"
    ).encode()


def test_a_bokeh_websocket_names_its_session():
    # `serve` signs session ids (`<id>.<signature>`): the router must read those, or websockets
    # go to any process and pages are built twice (it did, until this test used a signed id).
    for sid in (generate_session_id(secret_key=b"k" * 32, signed=True), generate_session_id()):
        assert websocket_session_id(_ws_head(f"bokeh, {generate_jwt_token(sid)}")) == sid
    assert websocket_session_id(_ws_head(f"bokeh, {generate_jwt_token('../x')}")) is None
    assert websocket_session_id(_ws_head("bokeh, not-a-token")) is None
    assert websocket_session_id(_ws_head("chat, superchat")) is None
    assert websocket_session_id(b"GET /explore HTTP/1.1\r\nHost: x\r\n\r\n") is None


def test_websockets_go_to_their_session_and_pages_to_the_least_busy_process(tmp_path):
    router = Router(2, lambda sock: ["true"], runtime_dir=tmp_path)
    for w in router.workers:
        w.ready = True
    sid = generate_session_id()
    (router.sessions / sid).write_text("1")
    ws = _ws_head(f"bokeh, {generate_jwt_token(sid)}")
    router.workers[1].active = 5  # busier, but it holds the session
    assert router.pick(ws) is router.workers[1]
    page = b"GET /explore HTTP/1.1\r\nHost: x\r\n\r\n"
    assert router.pick(page) is router.workers[0]
    router.workers[1].active = 0
    assert {router.pick(page).index for _ in range(4)} == {0, 1}, "idle processes take turns"
    router.workers[1].ready = False  # restarting: its sessions are gone, new pages go elsewhere
    assert router.pick(ws) is router.workers[0] and router.pick(page) is router.workers[0]


def _worker_health(pid: int) -> dict:
    """``GET /health`` straight from one worker, through its private socket (not the router)."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    path = argv[argv.index(b"--unix-socket") + 1].decode()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def _workers(base: str) -> list[int]:
    with urllib.request.urlopen(f"{base}/health", timeout=30) as r:  # noqa: S310 - loopback URL we built
        router_pid = os.getpgid(json.load(r)["pid"])
    return sorted(p for p in group_pids(router_pid) if p != router_pid)


@pytest.mark.slow
def test_concurrent_pages_are_each_built_once_and_a_dead_process_comes_back(demo_data_dir):
    n = 6
    with serve_app(demo_data_dir, "--num-procs", "2", page="health", timeout=180) as base:
        workers = _workers(base)
        assert len(workers) == 2

        async def open_and_pan():
            sessions = [SimulatedSession(base, seed=i, timeout=60) for i in range(n)]
            await asyncio.gather(*(s.connect() for s in sessions))  # all at once: the case that built pages twice
            samples = [await s.act("pan") for s in sessions]
            counts = [_worker_health(pid)["n_sessions"] for pid in workers]
            for s in sessions:
                await s.close()
            return samples, counts

        samples, counts = asyncio.run(open_and_pan())
        assert all(s.latency is not None for s in samples), "every page answered a pan through the router"
        assert sum(counts) == n, f"sessions per process {counts}: a page was built twice"
        assert min(counts) >= 1, f"sessions per process {counts}: the pages were not shared out"

        os.kill(workers[0], signal.SIGKILL)
        deadline = time.time() + 120
        replaced = []
        while time.time() < deadline and len(replaced) < 2:
            time.sleep(0.5)
            replaced = [p for p in _workers(base) if p != workers[0]]
        assert len(replaced) == 2, "the killed server process was not started again"
        new = (set(replaced) - set(workers)).pop()
        while time.time() < deadline:
            try:
                assert _worker_health(new)["n_sessions"] == 0
                break
            except OSError:  # still warming up: its socket is not there yet
                time.sleep(0.5)
        else:
            pytest.fail("the restarted server process never answered")

        async def one_more():
            s = SimulatedSession(base, seed=99, timeout=60)
            await s.connect()
            sample = await s.act("pan")
            await s.close()
            return sample

        assert asyncio.run(one_more()).latency is not None


@pytest.fixture
def serve_env(monkeypatch):
    """``serve`` sets the data directory and release in the environment for the server it starts;
    run in-process, restore them, or every later server of the test run inherits them."""
    from app import config

    for name in (config.DATA_ENV, config.RELEASE_ENV, config.DB_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_serve_checks_the_release_before_starting_workers(demo_data_dir, capsys, serve_env):
    from app.cli import main

    assert main(["--data-dir", str(demo_data_dir), "serve", "--num-procs", "2", "--release", "NOPE"]) == 2
    err = capsys.readouterr().err
    assert "No release 'NOPE'" in err and "DEMO" in err


def test_serve_says_in_one_sentence_that_a_release_cannot_be_read(demo_data_dir, tmp_path, capsys, serve_env):
    import shutil

    from app.cli import main

    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    for parquet in (data / "releases" / "DEMO").rglob("*.parquet"):
        if parquet.is_file():
            parquet.write_bytes(b"not parquet at all")
    assert main(["--data-dir", str(data), "serve", "--num-procs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err


async def _stand_in_router(tmp_path, seen: list):
    """A router in front of two stand-in workers that answer one request each with their index and close."""
    router = Router(2, lambda sock: ["true"], runtime_dir=tmp_path)

    def serve(index: int):
        async def worker(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append((index, head))
            if b"upgrade: websocket" in head.lower():
                writer.write(f"HTTP/1.1 101 Switching Protocols\r\nX-Worker: {index}\r\n\r\n".encode())
            else:
                body = f"worker {index}".encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )
            await writer.drain()
            writer.close()

        return worker

    servers = [await asyncio.start_unix_server(serve(w.index), path=str(w.socket)) for w in router.workers]
    for w in router.workers:
        w.ready = True
    front = await asyncio.start_server(router.handle, "127.0.0.1", 0)
    return router, front, servers


async def _answer(reader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    n = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    return head + (await reader.readexactly(int(n.group(1))) if n else b"")


def test_each_request_of_a_kept_alive_connection_is_routed_on_its_own(tmp_path):
    """A proxy's kept-alive connection carries requests of many sessions: a page's websocket that
    follows another request on the same connection still reaches the worker of its session, and
    the connection stays open between requests (the worker's ``Connection: close`` is not passed on)."""
    seen = []

    async def scenario():
        router, front, servers = await _stand_in_router(tmp_path, seen)
        sid = generate_session_id()
        (router.sessions / sid).write_text("1\n127.0.0.1")
        port = front.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        router.workers[1].active = 5  # busy: plain requests go to worker 0
        writer.write(b"GET /static/x.js HTTP/1.1\r\nHost: x\r\nX-Xmm-Client: 6.6.6.6\r\n\r\n")
        first = await _answer(reader)
        writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde")
        second = await _answer(reader)
        router.workers[1].active = 0
        writer.write(_ws_head(f"bokeh, {generate_jwt_token(sid)}"))
        third = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        active = [w.active for w in router.workers]
        writer.close()
        front.close()
        for s in servers:
            s.close()
        return first, second, third, active

    first, second, third, active = asyncio.run(scenario())
    assert first.endswith(b"worker 0") and b"connection: close" not in first.lower()
    assert second.endswith(b"worker 0")
    assert third.startswith(b"HTTP/1.1 101") and b"X-Worker: 1" in third, "the websocket went to its session"
    heads = [h for _, h in seen]
    assert b"Connection: close" in heads[0] and b"6.6.6.6" not in heads[0], "the client cannot name its address"
    assert b"X-Xmm-Client: 127.0.0.1" in heads[0]
    assert b"Connection: Upgrade" in heads[2] and active == [0, 0]


def test_a_registered_session_is_never_overwritten(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from app import router as router_module

    monkeypatch.setenv(router_module.SESSIONS_ENV, str(tmp_path))
    sid = generate_session_id()
    monkeypatch.setenv(router_module.WORKER_ENV, "0")
    router_module.register_session(SimpleNamespace(id=sid, request=None))
    monkeypatch.setenv(router_module.WORKER_ENV, "1")
    with pytest.raises(RuntimeError, match="already registered"):
        router_module.register_session(SimpleNamespace(id=sid, request=None))
    router_module.forget_session(SimpleNamespace(id=sid, request=None))  # worker 1 cannot remove worker 0's
    assert (tmp_path / sid).read_text().startswith("0\n")


def test_a_client_that_does_not_keep_alive_is_closed_after_its_answer(tmp_path):
    """The relay ends with the worker's side, even if the client keeps its socket open; the
    worker's count of open connections (which routes new pages) goes back to zero."""

    async def scenario():
        router, front, servers = await _stand_in_router(tmp_path, [])
        port = front.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n")  # and never closes its side
        answer = await asyncio.wait_for(reader.read(), 10)  # EOF arrives: the router closed the client
        await asyncio.sleep(0.05)
        active = [w.active for w in router.workers]
        writer.close()
        front.close()
        for s in servers:
            s.close()
        return answer, active

    answer, active = asyncio.run(scenario())
    assert answer.endswith(b"worker 0") and active == [0, 0]


def test_a_stop_while_the_workers_warm_up_stops_everything(demo_data_dir, tmp_path):
    import subprocess
    import sys

    from tests.ui.serving import free_port

    cmd = [sys.executable, "-m", "app.cli", "--data-dir", str(demo_data_dir), "serve", "--num-procs", "2"]
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen(
            [*cmd, "--port", str(free_port())], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.time() + 60
            while time.time() < deadline and len(group_pids(proc.pid)) < 3:  # the router and its 2 workers
                time.sleep(0.1)
            assert len(group_pids(proc.pid)) == 3
            proc.send_signal(signal.SIGTERM)  # to the router alone, as `kill PID` does
            assert proc.wait(30) == 0
            time.sleep(0.5)
            assert group_pids(proc.pid) == [], "a worker outlived the router"
            assert "router on port" not in (tmp_path / "server.log").read_text(), "it opened the port after the stop"
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
