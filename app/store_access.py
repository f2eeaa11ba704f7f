"""The process's one Store (flags, campaigns, roles) and where the users file lives.

The store is opened on first use from ``config.db_url()`` (SQLite in the data directory
by default), migrated once, and the users file's roles are copied into it, so the role
checks inside every Store write method see the operator's accounts.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import func, select

from app import config
from data_loaders.process_cache import ProcessCache
from data_loaders.store import Store, open_store
from data_loaders.store.models import FlagEvent

USERS_ENV = "XMM_EXPLORER_USERS"
USERS_FILENAME = "users.json"

#: The store of this process's configuration (a new database URL or data directory opens another).
_STORES: ProcessCache[Store] = ProcessCache("stores", max_items=1, on_drop=lambda store: store.close())


def users_file(data_dir: Path | None = None) -> Path:
    """The users file: ``$XMM_EXPLORER_USERS`` or ``<data dir>/users.json``."""
    env = os.environ.get(USERS_ENV)
    if env:
        return Path(env).resolve()
    return Path(data_dir or config.data_dir()) / USERS_FILENAME


def get_store() -> Store:
    """The store of this process (opened, migrated and synced with the users file once)."""
    key = (config.db_url(), str(config.data_dir()), str(users_file()))

    def open_it() -> Store:
        store = open_store(key[0], Path(key[1]))
        path = users_file()
        if path.exists():
            store.sync_users(path)
        return store

    return _STORES.get(key, open_it)


def reset_store() -> None:
    """Forget the process's store (tests, or after changing the configuration)."""
    _STORES.clear()


def flags_version(store: Store, release: str) -> int:
    """Id of the newest flag event of ``release`` (0 if none): changes whenever any process flags.

    Cheap (an indexed max), so per-process caches of flag masks can check it on every use.
    """
    with store.engine.connect() as conn:
        value = conn.execute(select(func.max(FlagEvent.id)).where(FlagEvent.release == release)).scalar()
    return int(value or 0)
