"""A remote HiPS service the operator configured (``serve --hips URL``), read through a bounded disk cache.

Only the configured base URL is ever fetched: a file is named by :func:`data_loaders.hips.tile_path`
from integers (or is ``properties``), so nothing a browser sends can point the server elsewhere.
Redirects are refused (a redirect could lead to any host), every request has a timeout and a
size limit, and a tile's first bytes must be those of its format. A service that fails is not
asked again for :data:`RETRY_AFTER_S` seconds, so an outage costs one timeout, not one per tile;
:attr:`HipsService.problem` says what went wrong in one sentence (for the log and the page).

The cache holds the files as the service sent them, under ``cache_dir``; when it grows past
``max_bytes`` the least recently used files go first (a hit touches the file). Files are written
to a temporary name and renamed, so the processes of ``serve --num-procs`` can share the folder.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from pathlib import Path

from data_loaders.errors import CatalogueError

log = logging.getLogger("xmm_explorer.hips")

#: Seconds a request to the service may take (connect and each read).
TIMEOUT_S = 5.0
#: Seconds during which a service that failed is not asked again.
RETRY_AFTER_S = 60.0
#: The largest file accepted from the service (a 512-px FITS tile of doubles is 2 MB).
MAX_FILE_BYTES = 8 << 20
#: Default bound of the disk cache.
DEFAULT_CACHE_BYTES = 512 << 20
#: First bytes of each tile format.
MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "jpg": (b"\xff\xd8\xff",), "fits": (b"SIMPLE  =",)}
_MISSING_KEPT = 4096  # tiles the service said it does not have, remembered (a sparse HiPS has many)


class HipsError(CatalogueError):
    """A HiPS folder or service that cannot be read, said in one sentence."""


def is_url(source: str | os.PathLike) -> bool:
    """Whether a ``--hips`` value is a URL (``scheme://...``; only http and https are then accepted), not a folder."""
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", str(source)) is not None


def check_url(url: str) -> str:
    """The base URL without a trailing slash (HipsError, one sentence, when it cannot be a HiPS service)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HipsError(f"{url!r} is not an http(s) URL of a HiPS service.")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise HipsError(
            f"The HiPS service URL {url!r} has a query, fragment or user name; give the HiPS's base URL only."
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise HipsError(f"The HiPS service at {req.full_url} redirects to {newurl}; configure that URL instead.")


_OPENER = urllib.request.build_opener(_NoRedirect)


class HipsService:
    """Files of the HiPS at ``base_url``, fetched on the server and kept in ``cache_dir`` (at most ``max_bytes``)."""

    def __init__(
        self, base_url: str, cache_dir: Path | str, max_bytes: int = DEFAULT_CACHE_BYTES, timeout: float = TIMEOUT_S
    ):
        self.base_url = check_url(base_url)
        self.cache_dir = Path(cache_dir)
        self.max_bytes, self.timeout = int(max_bytes), float(timeout)
        self.problem: str | None = None  # one sentence while the service is failing
        self._failed_at = -float("inf")
        self._missing: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes in the cache, counted on first write

    # --- fetching ------------------------------------------------------------------------------
    def fetch(self, name: str) -> bytes:
        """``base_url/name`` from the service (HipsError, one sentence, on any failure but a 404)."""
        url = f"{self.base_url}/{name}"
        try:
            # check_url let only http(s) through
            request = urllib.request.Request(url, headers={"User-Agent": "xmm-explorer"})  # noqa: S310
            with _OPENER.open(request, timeout=self.timeout) as response:
                body = response.read(MAX_FILE_BYTES + 1)
        except HipsError:
            raise
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise FileNotFoundError(url) from None
            raise HipsError(f"The HiPS service answered {exc.code} {exc.reason} for {url}.") from None
        except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timeout, reset
            reason = getattr(exc, "reason", exc)
            raise HipsError(f"The HiPS service at {self.base_url} cannot be reached ({reason}).") from None
        if len(body) > MAX_FILE_BYTES:
            raise HipsError(f"The HiPS service sent more than {MAX_FILE_BYTES >> 20} MB for {url}.")
        return body

    def get(self, name: str, ext: str | None = None) -> bytes | None:
        """The file ``name`` (cached, else fetched and cached); None when absent or the service is failing.

        With ``ext`` the body must start with that format's magic bytes.
        """
        path = self.cache_dir / name
        try:
            body = path.read_bytes()
            os.utime(path)  # least recently used goes first
            return body
        except OSError:
            pass
        if name in self._missing or time.monotonic() - self._failed_at < RETRY_AFTER_S:
            return None
        try:
            body = self.fetch(name)
            if ext is not None and not body.startswith(MAGIC[ext]):
                raise HipsError(f"The HiPS service sent something that is not a {ext} tile for {name}.")
        except FileNotFoundError:
            with self._lock:
                self._missing[name] = None
                while len(self._missing) > _MISSING_KEPT:
                    self._missing.popitem(last=False)
            return None
        except HipsError as exc:
            with self._lock:
                self._failed_at = time.monotonic()
                if self.problem != str(exc) and ext is not None:  # (properties: the caller raises it)
                    log.warning("%s Tiles from it are left out for %.0f s.", exc, RETRY_AFTER_S)
                self.problem = str(exc)
            return None
        self.problem = None
        self._store(path, body)
        return body

    def _store(self, path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
        with self._lock:
            if self._size is None:
                self._size = self.cache_bytes()
            else:
                self._size += len(body)
            if self._size > self.max_bytes:
                self._size = self._evict(int(self.max_bytes * 0.9))

    # --- the cache -----------------------------------------------------------------------------
    def _files(self) -> list[tuple[float, int, Path]]:
        found = []
        for p in self.cache_dir.rglob("*"):
            try:
                st = p.stat()
            except OSError:
                continue
            if p.is_file() and p.name != "properties":
                found.append((st.st_mtime, st.st_size, p))
        return found

    def cache_bytes(self) -> int:
        """Bytes of tiles in the cache now."""
        return sum(size for _, size, _ in self._files())

    def _evict(self, target: int) -> int:
        files = sorted(self._files(), key=lambda f: f[0])
        total = sum(size for _, size, _ in files)
        for _, size, path in files:
            if total <= target:
                break
            path.unlink(missing_ok=True)
            total -= size
        return total
