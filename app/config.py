"""Where the data lives and which release a process serves, from the CLI or the environment."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "XMM_EXPLORER_DATA"
RELEASE_ENV = "XMM_EXPLORER_RELEASE"
DB_ENV = "XMM_EXPLORER_DB"


def data_dir() -> Path:
    """The data directory: ``$XMM_EXPLORER_DATA`` or ``./data``."""
    return Path(os.environ.get(DATA_ENV, "data")).resolve()


def default_release() -> str | None:
    """The release to open first (``$XMM_EXPLORER_RELEASE``), or None for the first one."""
    return os.environ.get(RELEASE_ENV) or None


def db_url() -> str | None:
    """Database URL for flags/reviews/votes (``$XMM_EXPLORER_DB``); None = SQLite in the data dir."""
    return os.environ.get(DB_ENV) or None


SKYMAPS_ENV = "XMM_EXPLORER_SKYMAPS"


def skymap_dir(data: Path | None = None) -> Path:
    """The folder of sky maps the query's skymap() predicate reads: ``$XMM_EXPLORER_SKYMAPS`` or DATA/skymaps."""
    folder = os.environ.get(SKYMAPS_ENV)
    return Path(folder).resolve() if folder else (Path(data) if data is not None else data_dir()) / "skymaps"


RESPONSES_ENV = "XMM_EXPLORER_RESPONSES"


def responses_dir(data: Path | None = None) -> Path:
    """The folder of canned EPIC responses (RMFs) for the PPS spectral fit.

    ``$XMM_EXPLORER_RESPONSES`` (``serve --responses DIR``), else DATA/responses.
    """
    folder = os.environ.get(RESPONSES_ENV)
    return Path(folder).resolve() if folder else (Path(data) if data is not None else data_dir()) / "responses"


HIPS_ENV = "XMM_EXPLORER_HIPS"
HIPS_CACHE_MB_ENV = "XMM_EXPLORER_HIPS_CACHE_MB"
HIPS_CACHE_ENV = "XMM_EXPLORER_HIPS_CACHE"
#: The route under which the server hands out the configured HiPS's files (properties, tiles).
HIPS_ROUTE = "hips"


def hips_source() -> str | None:
    """The HiPS drawn under the zoomed-in sky (``serve --hips DIR|URL`` / ``$XMM_EXPLORER_HIPS``): a folder
    or the base URL of a HiPS service; None: off."""
    return os.environ.get(HIPS_ENV) or None


def hips_cache_dir(data: Path | None = None) -> Path:
    """Where tiles fetched from a HiPS service are kept: ``$XMM_EXPLORER_HIPS_CACHE``, else DATA/hips-cache."""
    folder = os.environ.get(HIPS_CACHE_ENV)
    return Path(folder).resolve() if folder else (Path(data) if data is not None else data_dir()) / "hips-cache"


def hips_cache_bytes() -> int:
    """The bound of that cache (``serve --hips-cache-mb`` / ``$XMM_EXPLORER_HIPS_CACHE_MB``, default 512 MB)."""
    return int(float(os.environ.get(HIPS_CACHE_MB_ENV) or 512) * 2**20)


def hips():
    """The configured :class:`data_loaders.hips.Hips`, opened once per process, or None: off.

    Raises :class:`data_loaders.hips.HipsError` (one sentence) when it cannot be opened.
    """
    source = hips_source()
    if source is None:
        return None
    from data_loaders.hips import open_hips

    return open_hips(source, str(hips_cache_dir()), hips_cache_bytes())
