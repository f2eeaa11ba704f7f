"""Fixtures shared by the app tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def reviewer_store(writable_demo_data_dir, monkeypatch):
    """The flags store of a private demo data directory, with ``rita`` as a reviewer, and its DEMO catalogue."""
    from app import store_access
    from data_loaders.catalogue import Catalogue

    monkeypatch.setenv("XMM_EXPLORER_DATA", str(writable_demo_data_dir))
    store_access.reset_store()
    try:
        store = store_access.get_store()
        store.grant_role("rita", "reviewer")
        yield store, Catalogue(writable_demo_data_dir / "releases" / "DEMO")
    finally:
        store_access.reset_store()
