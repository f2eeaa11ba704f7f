"""Short-lived, unguessable URLs for exported tables, so a desktop SAMP hub can fetch them without a login.

A SAMP hub (TOPCAT, Aladin, DS9 on the user's computer) loads a table from a URL but never
carries the user's cookie. :class:`TokenRegistry` takes ownership of an exported file and
returns a random token; :class:`TableHandler` serves ``/samp-table/<token>`` to anyone
holding the token until it expires (``TOKEN_TTL_S``), and 404 otherwise. Tokens and files
live in one directory (not process memory), so every ``panel serve --num-procs`` worker
can serve a token another worker issued. Only the token is ever taken from the request:
it must match ``[A-Za-z0-9_-]{32,64}`` and names files the registry wrote itself, so no
request can reach any other path.

Registered on the server with ``panel serve --plugins app.samp_tokens`` (Panel reads
:data:`ROUTES`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import tornado.web

log = logging.getLogger("xmm_explorer.samp_tokens")

#: Seconds a table URL stays valid: long enough for a hub to fetch a large table.
TOKEN_TTL_S = 600
#: Relative URL of a token (resolved against the page's URL by the browser, so a proxy prefix works).
URL_PREFIX = "samp-table/"
DIR_ENV = "XMM_EXPLORER_SAMP_DIR"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class TokenEntry:
    """What a token grants: one file, until ``expires`` (UNIX seconds), sent as ``filename``."""

    path: Path
    expires: float
    filename: str
    mime: str


class TokenRegistry:
    """Token -> exported file, with expiry; files are moved into ``root`` and removed when they expire."""

    def __init__(self, root: Path | str | None = None, ttl: float = TOKEN_TTL_S, clock=time.time):
        self.root = Path(root) if root is not None else default_root()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ttl, self.clock = ttl, clock
        self._lock = threading.Lock()

    def issue(self, path: Path | str, filename: str, mime: str, ttl: float | None = None) -> str:
        """Take ownership of the file at ``path`` and return a new token for it."""
        self.sweep()
        token = secrets.token_urlsafe(32)
        data = self.root / f"{token}.data"
        shutil.move(os.fspath(path), data)
        meta = {"expires": self.clock() + (self.ttl if ttl is None else ttl), "filename": filename, "mime": mime}
        tmp = self.root / f"{token}.json.tmp"
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        tmp.replace(self.root / f"{token}.json")  # atomic: a reader sees all of it or nothing
        return token

    def lookup(self, token: str) -> TokenEntry | None:
        """The entry of a valid, unexpired token, else None (malformed, unknown and expired alike)."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            return None
        try:
            meta = json.loads((self.root / f"{token}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        data = self.root / f"{token}.data"
        if meta.get("expires", 0) <= self.clock() or not data.exists():
            self.revoke(token)
            return None
        return TokenEntry(data, float(meta["expires"]), str(meta["filename"]), str(meta["mime"]))

    def revoke(self, token: str) -> None:
        if _TOKEN.match(token or ""):
            for suffix in (".json", ".data"):
                (self.root / f"{token}{suffix}").unlink(missing_ok=True)

    def sweep(self) -> int:
        """Remove expired tokens and their files; return how many went."""
        gone, now = 0, self.clock()
        with self._lock:
            for meta_path in self.root.glob("*.json"):
                token = meta_path.name[: -len(".json")]
                try:
                    expires = json.loads(meta_path.read_text(encoding="utf-8")).get("expires", 0)
                except (OSError, ValueError):
                    expires = 0
                if expires <= now:
                    self.revoke(token)
                    gone += 1
        return gone


def default_root() -> Path:
    """``$XMM_EXPLORER_SAMP_DIR``, else a private directory per user under the system temp dir."""
    env = os.environ.get(DIR_ENV)
    return Path(env) if env else Path(tempfile.gettempdir()) / f"xmm-explorer-samp-{os.getuid()}"


_REGISTRY: TokenRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def registry() -> TokenRegistry:
    """The process-wide registry (the one the route serves); created on first use."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None or _REGISTRY.root != default_root():
            _REGISTRY = TokenRegistry()
        return _REGISTRY


def token_url(token: str) -> str:
    """The relative URL of a token, e.g. ``samp-table/AbC...``."""
    return URL_PREFIX + token


class TableHandler(tornado.web.RequestHandler):
    """``GET /samp-table/<token>``: the file, streamed, to anyone holding a valid token; else 404."""

    def initialize(self, registry: TokenRegistry | None = None) -> None:
        self._registry = registry

    def _entry(self, token: str) -> TokenEntry | None:
        entry = (self._registry or registry()).lookup(token)
        if entry is None:
            self.set_status(404)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("This table link has expired or never existed; send the table again.\n")
        return entry

    def _send_headers(self, entry: TokenEntry) -> None:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in entry.filename)
        self.set_header("Content-Type", entry.mime)
        self.set_header("Content-Length", str(entry.path.stat().st_size))
        self.set_header("Content-Disposition", f'attachment; filename="{safe}"')
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        # Browser-based tools (Aladin Lite, the web profile's URL translator) fetch cross-origin.
        self.set_header("Access-Control-Allow-Origin", "*")

    def head(self, token: str) -> None:
        entry = self._entry(token)
        if entry is not None:
            self._send_headers(entry)

    async def get(self, token: str) -> None:
        entry = self._entry(token)
        if entry is None:
            return
        self._send_headers(entry)
        with open(entry.path, "rb") as handle:
            while block := handle.read(_BLOCK):
                self.write(block)
                await self.flush()
        log.info("served %s (%s) to %s", entry.filename, entry.mime, self.request.remote_ip)


#: Read by ``panel serve --plugins app.samp_tokens``.
ROUTES: list[tuple[str, type, dict]] = [(r"/samp-table/([^/]+)", TableHandler, {})]
