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


@pytest.fixture(scope="session")
def dask_demo_catalogue(demo_data_dir):
    """The demo release on the Dask engine (Dask's threaded scheduler in this process; small partitions)."""
    from data_loaders.dask_catalogue import DaskCatalogue

    # The row path, which equals the in-memory engine pixel for pixel (the pyramid has its own tests).
    return DaskCatalogue(demo_data_dir / "releases" / "DEMO", partition_rows=1_000, pyramid=False)


@pytest.fixture(params=["memory", "dask"])
def engine_catalogue(request, demo_catalogue, dask_demo_catalogue):
    """The demo release on each catalogue engine: page and state tests run on both."""
    return demo_catalogue if request.param == "memory" else dask_demo_catalogue
