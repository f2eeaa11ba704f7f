"""Who is signed in and which store to use, from the app's identity modules when they exist.

``app.auth.current_user`` and ``app.store_access.get_store`` are written by the auth work;
until they are present, the signed-in user is Panel's ``pn.state.user`` and the store is one
per process opened here (remove this fallback once ``app.store_access`` lands).
"""

from __future__ import annotations

import threading

import panel as pn

from app import config

_LOCK = threading.Lock()
_FALLBACK_STORE = None


def current_user() -> str | None:
    """The signed-in user's name, or None for an anonymous visitor."""
    try:
        from app.auth import current_user as auth_user
    except ImportError:
        user = pn.state.user
        return user if user and user != "guest" else None
    return auth_user()


def get_store():
    """The process's Store (votes, roles)."""
    global _FALLBACK_STORE
    try:
        from app.store_access import get_store as shared_store
    except ImportError:
        with _LOCK:
            if _FALLBACK_STORE is None:
                from data_loaders.store import open_store

                _FALLBACK_STORE = open_store(config.db_url(), config.data_dir())
            return _FALLBACK_STORE
    return shared_store()


def users_file():
    """The users file sign-ups are written to (``DATA_DIR/users.json``, as the login page reads)."""
    return config.data_dir() / "users.json"
