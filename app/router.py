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
by ``app/warmup.py``; an id already registered is never overwritten). The router routes every
request, not every connection: it reads each request head, sends a Bokeh websocket to the
worker that owns its session and anything else to the worker with the fewest open connections,
and relays the request and its answer. Plain requests reach the worker on a connection of their
own, so the next request of a kept-alive client connection (a proxy's pool mixes sessions) is
routed again. The router also tells the worker the client's address (``app.clients``),
replacing whatever the client sent under that name. A worker that dies is started again; its
sessions are lost with it, as they would be with Bokeh's own workers.
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
from typing import Any

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

#: A Bokeh session id: signed ids (``serve`` signs them, see app/auth.py) are ``<id>.<signature>``,
#: both base64url. The first character is never ``.``, so an id is never ``.`` or ``..`` as a file name.
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,255}$")
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
        if os.environ.get(SESSIONS_ENV):  # a router worker that cannot record a session breaks its routing
            log.error("session id %.12r… not recorded: its websocket may reach another process", session_context.id)
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
    except Exception:  # a malformed token is the worker's to refuse, not ours
        return None
    return sid if isinstance(sid, str) and _SESSION_ID.match(sid) else None


@dataclass
class _Request:
    """What the router needs of one request head (it relays the request itself unchanged but for headers)."""

    lines: list[bytes]
    method: str
    version: str
    headers: dict[str, str]

    @classmethod
    def parse(cls, head: bytes) -> _Request:
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ")
        method, version = (parts[0], parts[-1]) if len(parts) >= 3 else ("", "")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
        return cls(lines, method, version, headers)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def upgrade(self) -> bool:
        return "upgrade" in self.headers and "upgrade" in self.headers.get("connection", "").lower()

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip() for t in self.headers.get("connection", "").lower().split(",")}
        return "close" not in tokens if self.version == "HTTP/1.1" else "keep-alive" in tokens

    @property
    def expect_continue(self) -> bool:
        return self.headers.get("expect", "").lower() == "100-continue"

    @property
    def content_length(self) -> int:
        try:
            return max(int(self.headers.get("content-length", "0")), 0)
        except ValueError:
            return 0

    def rewrite(self, add: dict[str, str], close: bool) -> bytes:
        """The head with ``add`` set (whatever the client sent under those names), and with
        ``close``, ``Connection: close`` (the worker then ends its connection after the answer)."""
        drop = {k.lower() for k in add}
        if close:
            drop |= {"connection", "keep-alive", "expect"}
        out = [self.lines[0]]
        out += [line for line in self.lines[1:] if line.split(b":", 1)[0].strip().lower().decode("latin-1") not in drop]
        out += [f"{k}: {v}".encode("latin-1", "replace") for k, v in add.items()]
        if close:
            out.append(b"Connection: close")
        return b"\r\n".join(out) + b"\r\n\r\n"


def _keep_alive_answer(head: bytes, method: str) -> tuple[bytes, bool]:
    """A worker's answer head for a client that keeps its connection, and whether it can.

    The worker answered ``Connection: close``; if the answer says where it ends
    (``Content-Length``, chunked, or no body), that header is removed and the client may send
    its next request on the same connection. Otherwise the body ends with the connection.
    """
    lines = head[:-4].split(b"\r\n")
    names = {line.split(b":", 1)[0].strip().lower() for line in lines[1:]}
    try:
        status = int(lines[0].split(b" ")[1])
    except (IndexError, ValueError):
        return head, False
    framed = (
        b"content-length" in names
        or b"transfer-encoding" in names
        or method == "HEAD"
        or status in (204, 304)
        or 100 <= status < 200
    )
    if not framed or status == 101:
        return head, False
    kept = [lines[0]] + [line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() != b"connection"]
    return b"\r\n".join(kept) + b"\r\n\r\n", True


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
        self.proc = subprocess.Popen(self.command, env=self.env)  # our own command line
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

    def pick(self, head: bytes, avoid: tuple[Worker, ...] = ()) -> Worker | None:
        """The worker for a request whose head is ``head`` (none of ``avoid``, which just failed to answer)."""
        sid = websocket_session_id(head)
        if sid is not None:
            owner = self.owner(sid)
            if owner is not None and owner.ready and owner not in avoid:
                return owner
        ready = [w for w in self.workers if w.ready and w not in avoid]
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
        """Serve one client connection: each request on it is routed on its own (see :func:`_requests`)."""
        peer = writer.get_extra_info("peername")
        peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                    return
                if len(head) > MAX_HEAD:
                    return
                if not await self._route(head, peer_ip, reader, writer):
                    return
        except asyncio.CancelledError:
            # The router is stopping. Python 3.11's stream callback logs a cancelled connection
            # task as an error with a traceback (task.exception() raises); ending quietly is right.
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _route(self, head: bytes, peer_ip: str, reader, writer) -> bool:
        """Relay one request and its answer; True if the client connection may carry another request.

        A websocket (routed to the worker of its session), a request with a chunked body and a
        client that does not keep the connection alive hold the connection with their worker
        until it closes, as before. Any other request goes to the worker :meth:`pick` chooses
        on a fresh worker connection that closes after the answer (``Connection: close``), so
        the next request on the same client connection, e.g. another session's, from a proxy's
        pool of kept-alive connections, is routed again instead of following the first.
        """
        req = _Request.parse(head)
        worker = self.pick(head)
        if worker is None:
            writer.write(_unavailable("no server process is ready yet; try again in a few seconds"))
            return False
        pinned = req.upgrade or req.chunked or not req.keep_alive
        forwarded = req.rewrite(self.client_headers(peer_ip, req), close=not req.upgrade)
        tried: tuple[Worker, ...] = ()
        while True:  # a worker that has just died (not yet noticed) is skipped for another one
            try:
                up_reader, upstream = await asyncio.open_unix_connection(str(worker.socket), limit=BUFFER)
                break
            except OSError:
                tried += (worker,)
                worker = None if websocket_session_id(head) else self.pick(head, avoid=tried)
                if worker is None:
                    reason = "the server process for this page is restarting; reload in a few seconds"
                    writer.write(_unavailable(reason))
                    return False
        worker.active += 1
        try:
            upstream.write(forwarded)
            if req.expect_continue and not req.upgrade:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the client waits for it before its body
            if pinned:
                inbound = asyncio.ensure_future(self._relay(reader, upstream))
                try:
                    # Until the worker closes: a client that sends EOF may still read the answer, but
                    # once the worker has closed, nothing more can come, whatever the client does.
                    await self._relay(up_reader, writer)
                finally:
                    inbound.cancel()
                return False
            left = req.content_length
            while left > 0:
                data = await reader.read(min(left, BUFFER))
                if not data:
                    return False
                upstream.write(data)
                await upstream.drain()
                left -= len(data)
            try:
                answer = await up_reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return False
            answer, framed = _keep_alive_answer(answer, req.method)
            writer.write(answer)
            while data := await up_reader.read(BUFFER):  # the worker closes after this one answer
                writer.write(data)
                await writer.drain()
            return framed
        except (ConnectionError, OSError):
            return False
        finally:
            worker.active = max(worker.active - 1, 0)
            with contextlib.suppress(Exception):
                upstream.close()

    def client_headers(self, peer_ip: str, req: _Request) -> dict[str, str]:
        """The client address and scheme the router vouches for (``app.clients``), for the worker."""
        from app.clients import CLIENT_HEADER, PROTO_HEADER, resolve

        client = resolve(peer_ip, req.header("x-forwarded-for"), req.header("x-forwarded-proto"))
        return {CLIENT_HEADER: client.address, PROTO_HEADER: "https" if client.https else "http"}

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
        warming: list[asyncio.Future[Any]] = [starting, stopped]
        await asyncio.wait(warming, return_when=asyncio.FIRST_COMPLETED)  # a stop while warming up
        if done.is_set():
            starting.cancel()
            return
        if not all(w.ready for w in self.workers):
            self.failed = "a server process exited or did not answer while starting (see the messages above)"
            return
        server = await asyncio.start_server(self.handle, address, port, limit=BUFFER, reuse_address=True)
        pids = ", ".join(str(w.proc.pid) for w in self.workers if w.proc is not None)  # all started above
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
