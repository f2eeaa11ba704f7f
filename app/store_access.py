"""The process's one Store (flags, campaigns, roles) and where the users file lives.

The store is opened on first use from ``config.db_url()`` (SQLite in the data directory
by default), migrated once, and the users file's roles are copied into it, so the role
checks inside every Store write method see the operator's accounts.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import func, select

from app import config
from data_loaders.store import Store, open_store
from data_loaders.store.models import FlagEvent

USERS_ENV = "XMM_EXPLORER_USERS"
USERS_FILENAME = "users.json"

_STORE: Store | None = None
_KEY: tuple | None = None
_LOCK = threading.Lock()


def users_file(data_dir: Path | None = None) -> Path:
    """The users file: ``$XMM_EXPLORER_USERS`` or ``<data dir>/users.json``."""
    env = os.environ.get(USERS_ENV)
    if env:
        return Path(env).resolve()
    return Path(data_dir or config.data_dir()) / USERS_FILENAME


def get_store() -> Store:
    """The store of this process (opened, migrated and synced with the users file once)."""
    global _STORE, _KEY
    key = (config.db_url(), str(config.data_dir()), str(users_file()))
    with _LOCK:
        if _STORE is None or key != _KEY:
            if _STORE is not None:
                _STORE.close()
            store = open_store(key[0], Path(key[1]))
            path = users_file()
            if path.exists():
                store.sync_users(path)
            _STORE, _KEY = store, key
        return _STORE


def reset_store() -> None:
    """Forget the process's store (tests, or after changing the configuration)."""
    global _STORE, _KEY
    with _LOCK:
        if _STORE is not None:
            _STORE.close()
        _STORE, _KEY = None, None


def flags_version(store: Store, release: str) -> int:
    """Id of the newest flag event of ``release`` (0 if none): changes whenever any process flags.

    Cheap (an indexed max), so per-process caches of flag masks can check it on every use.
    """
    with store.engine.connect() as conn:
        value = conn.execute(select(func.max(FlagEvent.id)).where(FlagEvent.release == release)).scalar()
    return int(value or 0)
