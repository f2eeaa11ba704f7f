"""``xmm-explorer serve --num-procs N``: N server processes behind one port, each session kept in its process.

Bokeh's own ``--num-procs`` forks N processes that accept connections from one shared port. A
page is two connections: ``GET /explore`` creates the session (runs the page script, ~1 s of
CPU) and the page's websocket then asks for that session by id. While the process that served
the GET is busy, the kernel gives the websocket to another process, which does not have the
session and runs the page a second time (bokeh/bokeh#9231); the first copy lingers until it
expires. Measured with 20 Explore pages opened at once on 2 cores: 43 s of server CPU with 2
forked processes against 23 s with one, i.e. almost every page was built twice.

Here this process owns the port and runs N ``panel serve`` workers on private Unix sockets.
Each worker records its sessions' ids in a shared directory (:func:`register_session`, hooked in
by ``app/warmup.py``). For every connection the router reads the first request head, sends a
Bokeh websocket to the worker that owns its session and anything else to the worker with the
fewest open connections, then relays bytes both ways unchanged. A worker that dies is started
again; its sessions are lost with it, as they would be with Bokeh's own workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("xmm_explorer.router")

#: Set in each worker's environment: its index, and the directory of session-id files.
WORKER_ENV = "XMM_EXPLORER_WORKER"
SESSIONS_ENV = "XMM_EXPLORER_SESSIONS_DIR"

#: Longest request head accepted before routing (Tornado answers 431 beyond 64 KiB anyway), and
#: the relay's buffer: a sky image (~2 MB) crosses in a few large reads rather than dozens.
MAX_HEAD = 64 * 1024
BUFFER = 1 << 20
#: A connection that sends no request within this many seconds is closed (browsers preconnect).
HEAD_TIMEOUT_S = 120.0
#: A worker that exits within this many seconds of starting, this many times in a row, stops the server.
CRASH_WINDOW_S, MAX_QUICK_CRASHES = 30.0, 3

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PROTOCOL = re.compile(rb"^sec-websocket-protocol:[ \t]*([^\r\n]*)", re.IGNORECASE | re.MULTILINE)
_UPGRADE = re.compile(rb"^upgrade:[ \t]*websocket", re.IGNORECASE | re.MULTILINE)


# -- in the workers ---------------------------------------------------------------------------------
def _session_file(session_context) -> Path | None:
    root = os.environ.get(SESSIONS_ENV)
    sid = getattr(session_context, "id", None)
    if not root or not isinstance(sid, str) or not _SESSION_ID.match(sid):
        return None
    return Path(root) / sid


def register_session(session_context) -> None:
    """Panel ``on_session_created`` hook: record that this worker owns the session (and its client).

    A session id that is already registered is never overwritten: the file is created
    exclusively, and a second registration of the same id fails the new session instead.
    """
    path = _session_file(session_context)
    if path is None:
        return
    from app.clients import session_address

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RuntimeError(f"session {session_context.id} is already registered; refusing to take it over") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{os.environ.get(WORKER_ENV, '0')}\n{session_address(session_context)}")


def forget_session(session_context) -> None:
    """Panel ``on_session_destroyed`` hook: the session is gone from this worker."""
    path = _session_file(session_context)
    if path is not None and _owner_index(path) == int(os.environ.get(WORKER_ENV, "0")):
        path.unlink(missing_ok=True)


def _owner_index(path: Path) -> int | None:
    """The worker index recorded in a session file (its first line), or None."""
    try:
        return int(path.read_text().partition("\n")[0])
    except (OSError, ValueError):
        return None


def install_hooks() -> bool:
    """Register the session hooks (called by ``app/warmup.py``); True when this process is a router worker.

    A router worker records its sessions in the shared directory (the router routes by it and
    every worker counts open pages in it); a single server counts them in memory.
    """
    import panel as pn

    from app import clients

    if not os.environ.get(SESSIONS_ENV):
        pn.state.on_session_created(clients.session_started)
        pn.state.on_session_destroyed(clients.session_ended)
        return False
    pn.state.on_session_created(register_session)
    pn.state.on_session_destroyed(forget_session)
    return True


# -- in the router ----------------------------------------------------------------------------------
def websocket_session_id(head: bytes) -> str | None:
    """The Bokeh session id a websocket upgrade request asks for, or None (not a Bokeh websocket)."""
    if not _UPGRADE.search(head):
        return None
    match = _PROTOCOL.search(head)
    if match is None:
        return None
    parts = [p.strip() for p in match.group(1).decode("latin-1").split(",")]
    if len(parts) != 2 or parts[0] != "bokeh":
        return None
    from bokeh.util.token import get_session_id

    try:
        sid = get_session_id(parts[1])
    except Exception:  # noqa: BLE001 - a malformed token is the worker's to refuse, not ours
        return None
    return sid if isinstance(sid, str) and _SESSION_ID.match(sid) else None


@dataclass
class Worker:
    index: int
    socket: Path
    command: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started: float = 0.0
    quick_crashes: int = 0
    ready: bool = False
    active: int = 0  # open connections relayed to this worker

    def start(self) -> None:
        self.socket.unlink(missing_ok=True)
        self.ready = False
        self.proc = subprocess.Popen(self.command, env=self.env)  # noqa: S603 - our own command line
        self.started = time.monotonic()


class Router:
    """The public port, the workers and the session directory of one ``serve --num-procs N``."""

    def __init__(self, n: int, worker_command: Callable[[Path], list[str]], runtime_dir: Path | None = None):
        if n < 2:
            raise ValueError("the router is for two or more worker processes")
        self.runtime = Path(runtime_dir or tempfile.mkdtemp(prefix="xmm-explorer-"))
        self.sessions = self.runtime / "sessions"
        self.sessions.mkdir(parents=True, exist_ok=True)
        self.workers = []
        for i in range(n):
            sock = self.runtime / f"worker-{i}.sock"
            command = worker_command(sock)  # first: building it may put settings in the environment
            env = {**os.environ, WORKER_ENV: str(i), SESSIONS_ENV: str(self.sessions)}
            self.workers.append(Worker(i, sock, command, env))
        self._turn = itertools.count()
        self._stopping = False
        self.failed: str | None = None

    # -- routing ---------------------------------------------------------------------------
    def owner(self, session_id: str) -> Worker | None:
        index = _owner_index(self.sessions / session_id)
        return self.workers[index] if index is not None and 0 <= index < len(self.workers) else None

    def pick(self, head: bytes) -> Worker | None:
        """The worker for a connection whose first request head is ``head``."""
        sid = websocket_session_id(head)
        if sid is not None:
            owner = self.owner(sid)
            if owner is not None and owner.ready:
                return owner
        ready = [w for w in self.workers if w.ready]
        if not ready:
            return None
        turn = next(self._turn)  # ties go round the workers, so idle workers share the next pages
        return min(ready, key=lambda w: (w.active, (w.index - turn) % len(self.workers)))

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(BUFFER):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if writer.can_write_eof():
                    writer.write_eof()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = None
        upstream = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                return
            if len(head) > MAX_HEAD:
                return
            worker = self.pick(head)
            if worker is None:
                writer.write(_unavailable("no server process is ready yet; try again in a few seconds"))
                return
            worker.active += 1
            try:
                up_reader, upstream = await asyncio.open_unix_connection(str(worker.socket), limit=BUFFER)
            except OSError:
                writer.write(_unavailable("the server process for this page is restarting; reload in a few seconds"))
                return
            upstream.write(head)
            inbound = asyncio.ensure_future(self._relay(reader, upstream))
            try:
                # Until the worker closes: a client that sends EOF may still read the answer, but
                # once the worker has closed, nothing more can come, whatever the client does.
                await self._relay(up_reader, writer)
            finally:
                inbound.cancel()
        finally:
            if worker is not None:
                worker.active = max(worker.active - 1, 0)
            for w in (upstream, writer):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()

    # -- workers ---------------------------------------------------------------------------
    async def _wait_ready(self, worker: Worker, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.proc is None or worker.proc.poll() is not None:
                return
            if await _answers(worker.socket):
                worker.ready = True
                log.info("worker %d (pid %d) is ready", worker.index, worker.proc.pid)
                return
            await asyncio.sleep(0.25)
        log.warning("worker %d did not answer within %.0f s", worker.index, timeout)

    def _forget_sessions_of(self, worker: Worker) -> None:
        for path in self.sessions.iterdir():
            if _owner_index(path) == worker.index:
                path.unlink(missing_ok=True)

    async def _supervise(self, start_timeout: float) -> None:
        while not self._stopping:
            await asyncio.sleep(0.5)
            for w in self.workers:
                code = w.proc.poll() if w.proc is not None else None
                if code is None or self._stopping:
                    continue
                w.ready = False
                self._forget_sessions_of(w)
                quick = time.monotonic() - w.started < CRASH_WINDOW_S
                w.quick_crashes = w.quick_crashes + 1 if quick else 0
                if w.quick_crashes >= MAX_QUICK_CRASHES:
                    self.failed = f"server process {w.index} exited {w.quick_crashes} times right after starting"
                    self._stopping = True
                    return
                log.warning("worker %d exited with code %s; starting it again", w.index, code)
                w.start()
                asyncio.get_running_loop().create_task(self._wait_ready(w, start_timeout))

    def stop_workers(self, grace_s: float = 10.0) -> None:
        self._stopping = True
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for w in self.workers:
            if w.proc is None:
                continue
            try:
                w.proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(5)
        shutil.rmtree(self.runtime, ignore_errors=True)

    async def serve(self, address: str | None, port: int, start_timeout: float = 600.0) -> None:
        """Start the workers, open the port once they answer, relay until SIGTERM/SIGINT."""
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def stop() -> None:
            self._stopping = True  # workers exiting on the same signal are not restarted
            done.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        for w in self.workers:
            w.start()
        stopped = loop.create_task(done.wait())
        starting = asyncio.gather(*(self._wait_ready(w, start_timeout) for w in self.workers))
        await asyncio.wait([starting, stopped], return_when=asyncio.FIRST_COMPLETED)  # a stop while warming up
        if done.is_set():
            starting.cancel()
            return
        if not all(w.ready for w in self.workers):
            self.failed = "a server process exited or did not answer while starting (see the messages above)"
            return
        server = await asyncio.start_server(self.handle, address, port, limit=BUFFER, reuse_address=True)
        pids = ", ".join(str(w.proc.pid) for w in self.workers)
        log.warning("router on port %d: %d server processes (pids %s)", port, len(self.workers), pids)
        supervisor = loop.create_task(self._supervise(start_timeout))
        await asyncio.wait([supervisor, stopped], return_when=asyncio.FIRST_COMPLETED)
        server.close()
        supervisor.cancel()


def _unavailable(reason: str) -> bytes:
    body = f"Service unavailable: {reason}.\n".encode()
    head = f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\nRetry-After: 5\r\nConnection: close\r\n\r\n" + body


async def _answers(sock: Path) -> bool:
    try:
        reader, writer = await asyncio.open_unix_connection(str(sock))
    except OSError:
        return False
    try:
        writer.write(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 30)
        return status.startswith(b"HTTP/")  # answering; a degraded /health (503) is the probes' business
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


def run(n: int, worker_command: Callable[[Path], list[str]], address: str | None, port: int) -> int:
    """Serve until stopped; the exit code is 0, or 1 with one sentence when the workers cannot run."""
    router = Router(n, worker_command)
    try:
        asyncio.run(router.serve(address, port))
    except OSError as exc:
        print(f"Cannot listen on port {port}: {exc.strerror or exc}.")
        return 1
    finally:
        router.stop_workers()
    if router.failed:
        print(f"The server stopped: {router.failed}.")
        return 1
    return 0
