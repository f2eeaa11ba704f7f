"""Who is asking: the client's address and scheme, and how many pages each address may keep open.

The address is the TCP peer, except when the peer is a proxy the operator names as trusted
(``serve --trusted-proxy 127.0.0.1`` or ``$XMM_EXPLORER_TRUSTED_PROXIES``, addresses or
networks, comma-separated): then it is the right-most address of ``X-Forwarded-For`` that is
not itself a trusted proxy, and ``X-Forwarded-Proto: https`` marks the site as served over
HTTPS (so cookies get ``Secure``). A header from anyone else is ignored, so a client cannot
pick its own address. Behind ``serve --num-procs`` the router, which sees the real peer, does
this and hands the result to its workers in :data:`CLIENT_HEADER`/:data:`PROTO_HEADER`.

Every page (a Bokeh session) is counted against its client address and against the server's
total (:func:`check_capacity`); past either limit the visitor gets a one-sentence "busy, try
again in N s" page (HTTP 503 with ``Retry-After``) instead of a page that takes minutes.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.text import inert

log = logging.getLogger("xmm_explorer.clients")

TRUSTED_ENV = "XMM_EXPLORER_TRUSTED_PROXIES"
MAX_SESSIONS_ENV = "XMM_EXPLORER_MAX_SESSIONS"
MAX_PER_CLIENT_ENV = "XMM_EXPLORER_MAX_SESSIONS_PER_CLIENT"
#: Open pages allowed in total and per client address, unless configured.
DEFAULT_MAX_SESSIONS = 150
DEFAULT_MAX_PER_CLIENT = 12
#: A closed tab's session ends 30-35 s later (``--unused-session-lifetime`` + the check interval).
RETRY_AFTER_S = 35

#: Set on every request the app handles (overwriting whatever the client sent): the resolved
#: client address and scheme. They reach the page's session through its signed token.
CLIENT_HEADER = "X-Xmm-Client"
PROTO_HEADER = "X-Xmm-Proto"


@dataclass(frozen=True)
class Client:
    address: str
    https: bool


@lru_cache(maxsize=8)
def _parse_trusted(spec: str) -> tuple:
    nets = []
    for part in spec.replace(" ", ",").split(","):
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            log.warning("%s: %r is not an address or a network; ignored", TRUSTED_ENV, part)
    return tuple(nets)


def trusted_proxies() -> tuple:
    return _parse_trusted(os.environ.get(TRUSTED_ENV, ""))


def is_trusted(address: str, trusted: tuple | None = None) -> bool:
    trusted = trusted_proxies() if trusted is None else trusted
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in trusted)


def resolve(peer: str, forwarded_for: str | None, forwarded_proto: str | None, trusted: tuple | None = None) -> Client:
    """The client behind ``peer``: the peer itself unless it is a trusted proxy (see the module)."""
    trusted = trusted_proxies() if trusted is None else trusted
    peer = (peer or "").strip() or "unknown"
    if not is_trusted(peer, trusted):
        return Client(peer, False)
    address = peer
    for hop in reversed([h.strip() for h in (forwarded_for or "").split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage: stop at the last address a trusted proxy vouched for
        address = hop
        if not is_trusted(hop, trusted):
            break
    proto = (forwarded_proto or "").split(",")[-1].strip().lower()
    return Client(address, proto == "https")


def client_of(handler) -> Client:
    """The client of a Tornado request, stamped on the request's headers for the session."""
    request = handler.request
    headers = request.headers
    if os.environ.get("XMM_EXPLORER_WORKER") is not None and CLIENT_HEADER in headers:
        # A `serve --num-procs` worker: only the router can reach its socket, and it overwrites these.
        client = Client(headers[CLIENT_HEADER], headers.get(PROTO_HEADER) == "https")
    else:
        client = resolve(request.remote_ip, headers.get("X-Forwarded-For"), headers.get("X-Forwarded-Proto"))
        client = Client(client.address, client.https or request.protocol == "https")
    headers[CLIENT_HEADER] = client.address
    headers[PROTO_HEADER] = "https" if client.https else "http"
    return client


# -- open pages per client ----------------------------------------------------------------------------
def _limit(env: str, default: int) -> int:
    raw = os.environ.get(env, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        log.warning("%s=%r is not a whole number; using %d", env, raw, default)
        return default
    return value if value > 0 else default


def max_sessions() -> int:
    return _limit(MAX_SESSIONS_ENV, DEFAULT_MAX_SESSIONS)


def max_sessions_per_client() -> int:
    return _limit(MAX_PER_CLIENT_ENV, DEFAULT_MAX_PER_CLIENT)


_LOCK = threading.Lock()
_LOCAL: dict[str, str] = {}  # this process's sessions: id -> client address


def _sessions_dir() -> Path | None:
    root = os.environ.get("XMM_EXPLORER_SESSIONS_DIR")
    return Path(root) if root else None


def session_address(session_context=None) -> str:
    """The client address of a Bokeh session (default: the current Panel session's), or 'unknown'."""
    if session_context is None:
        import panel as pn

        doc = pn.state.curdoc
        session_context = getattr(doc, "session_context", None) if doc is not None else None
    request = getattr(session_context, "request", None)
    headers = getattr(request, "headers", None) or {}
    return str(headers.get(CLIENT_HEADER) or "unknown")[:64]


def session_started(session_context) -> None:
    """``on_session_created``: count the page against its client (single-process server)."""
    sid = getattr(session_context, "id", None)
    if isinstance(sid, str):
        with _LOCK:
            _LOCAL[sid] = session_address(session_context)


def session_ended(session_context) -> None:
    sid = getattr(session_context, "id", None)
    if isinstance(sid, str):
        with _LOCK:
            _LOCAL.pop(sid, None)


def open_sessions() -> list[str]:
    """The client address of every open page of the server (all its processes)."""
    root = _sessions_dir()
    if root is None:
        with _LOCK:
            return list(_LOCAL.values())
    out = []
    for path in root.iterdir():  # one small file per session, written by app.router.register_session
        try:
            out.append(path.read_text().partition("\n")[2] or "unknown")
        except OSError:
            continue
    return out


def busy_reason(address: str) -> str | None:
    """One sentence if a new page for ``address`` would exceed a limit, else None."""
    addresses = open_sessions()
    per_client, total = max_sessions_per_client(), max_sessions()
    if addresses.count(address) >= per_client:
        return (
            f"You already have {per_client} page{'s' if per_client != 1 else ''} of XMM Explorer open, "
            "the most one visitor may: "
            f"close some tabs, or try again in {RETRY_AFTER_S} s."
        )
    if len(addresses) >= total:
        return f"XMM Explorer is busy ({total} pages are open, its limit): please try again in {RETRY_AFTER_S} s."
    return None


SENTENCE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>XMM Explorer · {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body {{ font-family: system-ui, sans-serif; background: #181818; color: #eee; display: flex;
align-items: center; justify-content: center; min-height: 100vh; margin: 0; }}
main {{ background: #242424; padding: 24px 30px; border-radius: 8px; max-width: 34em; }}
a {{ color: #f59e0b; }}</style></head>
<body><main><h1 style="font-size:1.2em">{title}</h1><p id="xmm-message">{sentence}</p>
<p><a href="/explore">Back to XMM Explorer</a></p></main></body></html>
"""


def finish_with_sentence(handler, status: int, title: str, sentence: str, retry_after: int | None = None) -> None:
    """End a Tornado request with a small page saying ``sentence`` (escaped); raises ``Finish``."""
    import tornado.web

    handler.clear()
    handler.set_status(status)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.set_header("Cache-Control", "no-store")
    if retry_after is not None:
        handler.set_header("Retry-After", str(int(retry_after)))
    raise tornado.web.Finish(SENTENCE_PAGE.format(title=inert(title), sentence=inert(sentence)))


def check_capacity(handler, client: Client) -> None:
    """Refuse a new page with the busy page when its client or the server is at its limit."""
    reason = busy_reason(client.address)
    if reason is not None:
        log.warning("refused a page for %s: %s", client.address, reason)
        finish_with_sentence(handler, 503, "Busy", reason, RETRY_AFTER_S)
