"""Fetch products from an HTTP archive of the same layout into an on-disk cache.

Which files exist is learnt from the directory listing of ``<base>/<OBS_ID>/pps/``
(Apache/nginx autoindex, ``python -m http.server``, most static servers), read for links
whose names are product names. When there is no usable listing (HTTP error, or a page with
no product names at all) the standard PPS names are probed instead: the pn merged
lightcurve ``X000`` and pn's single-exposure ones (they hold the statistics), the usual
scheduled exposures per camera (pn S003, M1 S001, M2 S002, ...) for lightcurves and
spectra, then background and ARF beside the spectrum.
The cache mirrors the archive layout (``<cache>/<OBS_ID>/pps/<name>``), so a cached file
is never fetched twice; a file is downloaded beside its target and renamed into place.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from data_loaders.products.errors import ProductUnavailable
from data_loaders.products.names import (
    SPECTRUM_ORDER,
    TOTAL_BAND_ORDER,
    ProductName,
    names_in,
    product_dir,
)

log = logging.getLogger(__name__)

#: Exposure ids tried, in order, when the server gives no listing.
PROBE_EXPIDS = {
    "PN": ("S003", "S001", "S002", "S004", "U002"),
    "M1": ("S001", "S002", "S003", "U001", "U002"),
    "M2": ("S002", "S003", "S001", "U002", "U003"),
}
MAX_DOWNLOAD = 256 * 1024 * 1024
_HREF = re.compile(r"""href\s*=\s*["']?([^"' >]+)""", re.IGNORECASE)


class RemoteArchive:
    """An HTTP archive in the PPS layout, read through an on-disk cache. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        cache_dir: Path,
        *,
        timeout: float = 10.0,
        listing_ttl: float = 600.0,
        miss_ttl: float = 300.0,
    ) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/") + "/"
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.listing_ttl = listing_ttl
        self.miss_ttl = miss_ttl
        self._guard = threading.Lock()
        self._file_locks: dict[str, threading.Lock] = {}
        self._listings: dict[str, tuple[float, list[str] | None]] = {}
        self._misses: dict[str, tuple[float, str]] = {}

    def url(self, obs_id: str, filename: str = "") -> str:
        return urllib.parse.urljoin(self.base_url, f"{obs_id}/pps/{filename}")

    def cache_path(self, name: ProductName) -> Path:
        return product_dir(self.cache_dir, name.obs_id) / name.archive_name

    # -- which products exist -------------------------------------------------------------
    def detection_names(self, obs_id: str, src_num: int) -> list[ProductName] | ProductUnavailable:
        """Product names of one detection, from the listing or, failing that, by probing."""
        listing = self._listing(obs_id)
        if listing is not None:
            return names_in(listing, obs_id, src_num)
        found = self._probe(obs_id, src_num)
        if found:
            return found
        return ProductUnavailable(
            f"no products for {obs_id}/{src_num} at {self.url(obs_id)} "
            "(no directory listing, and none of the standard names exist)"
        )

    def _listing(self, obs_id: str) -> list[str] | None:
        now = time.monotonic()
        with self._guard:
            cached = self._listings.get(obs_id)
        if cached and now - cached[0] < self.listing_ttl:
            return cached[1]
        names: list[str] | None = None
        try:
            with urllib.request.urlopen(self.url(obs_id), timeout=self.timeout) as response:  # noqa: S310 (scheme checked)
                page = response.read(8 * 1024 * 1024).decode("utf-8", "replace")
            links = [Path(urllib.parse.unquote(urllib.parse.urlsplit(h).path)).name for h in _HREF.findall(page)]
            # A page without a single product name is not a listing we can trust.
            if any(link.upper().startswith("P" + obs_id) for link in links):
                names = links
        except (urllib.error.URLError, OSError, ValueError) as err:
            log.info("no product listing at %s (%s); probing standard names", self.url(obs_id), err)
        with self._guard:
            self._listings[obs_id] = (now, names)
        return names

    def _probe(self, obs_id: str, src_num: int) -> list[ProductName]:
        found = []
        for camera, expids in PROBE_EXPIDS.items():
            lightcurve_ids = ("X000", *expids) if camera == "PN" else expids
            for expid in lightcurve_ids:
                name = ProductName(obs_id, camera, expid, "SRCTSR", TOTAL_BAND_ORDER, src_num)
                if not isinstance(self.fetch(name), ProductUnavailable):
                    found.append(name)
                    if expid != "X000":
                        break
                    # A merged lightcurve has no statistics: keep looking for its exposures' files.
            for expid in expids:
                name = ProductName(obs_id, camera, expid, "SRSPEC", SPECTRUM_ORDER, src_num)
                if isinstance(self.fetch(name), ProductUnavailable):
                    continue
                found.append(name)
                for ptype in ("BGSPEC", "SRCARF"):
                    extra = ProductName(obs_id, camera, expid, ptype, SPECTRUM_ORDER, src_num)
                    if not isinstance(self.fetch(extra), ProductUnavailable):
                        found.append(extra)
                break
        return found

    # -- fetching -------------------------------------------------------------------------
    def fetch(self, name: ProductName) -> Path | ProductUnavailable:
        """The cached copy of ``name``, downloading it first if needed."""
        target = self.cache_path(name)
        if target.is_file():
            return target
        url = self.url(name.obs_id, name.archive_name)
        with self._lock_for(url):
            if target.is_file():  # another thread fetched it while we waited
                return target
            with self._guard:
                miss = self._misses.get(url)
            if miss and time.monotonic() - miss[0] < self.miss_ttl:
                return ProductUnavailable(miss[1])
            try:
                self._download(url, target)
            except urllib.error.HTTPError as err:
                reason = (
                    f"{name.archive_name} is not in the archive ({url} gave HTTP 404)"
                    if err.code == 404
                    else f"{name.archive_name} could not be fetched ({url} gave HTTP {err.code})"
                )
                if err.code == 404:
                    with self._guard:
                        self._misses[url] = (time.monotonic(), reason)
                return ProductUnavailable(reason)
            except (urllib.error.URLError, OSError, ValueError) as err:
                why = getattr(err, "reason", None) or err
                return ProductUnavailable(f"{name.archive_name} could not be fetched from {url}: {why}")
        return target

    def _download(self, url: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=self.timeout) as response:  # noqa: S310
                size = 0
                while chunk := response.read(1 << 16):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD:
                        raise ValueError(f"more than {MAX_DOWNLOAD} bytes, not a product")
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._file_locks.setdefault(key, threading.Lock())
