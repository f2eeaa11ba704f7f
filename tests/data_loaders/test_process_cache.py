"""The process cache: computed once per key under concurrency, bounded, and forgotten when its data changes."""

import shutil
import threading

import pytest

from data_loaders import catalogue
from data_loaders.catalogue import load_catalogue
from data_loaders.ingest import read_release_meta, record_added_table, releases_dir
from data_loaders.process_cache import ProcessCache, invalidate_path
from data_loaders.release_swap import build_dir, install_release


def test_sessions_asking_at_once_compute_a_key_once():
    cache: ProcessCache[object] = ProcessCache("test", max_items=4)
    n_threads, calls, go = 8, [], threading.Event()
    start = threading.Barrier(n_threads + 1)

    def compute():
        calls.append(1)
        assert go.wait(60)  # the others ask meanwhile
        return object()

    results = []

    def ask():
        start.wait(60)
        results.append(cache.get("key", compute))

    threads = [threading.Thread(target=ask) for _ in range(n_threads)]
    for t in threads:
        t.start()
    start.wait(60)
    go.set()
    for t in threads:
        t.join(60)
    assert len(calls) == 1 and len(results) == n_threads
    assert all(r is results[0] for r in results)


def test_a_failure_is_not_kept_and_other_keys_do_not_wait():
    cache: ProcessCache[int] = ProcessCache("test")

    def fail():
        raise ValueError("no")

    with pytest.raises(ValueError):
        cache.get("a", fail)
    assert "a" not in cache
    assert cache.get("a", lambda: 1) == 1 and cache.get("b", lambda: 2) == 2


def test_the_least_recently_used_entry_leaves_a_full_cache():
    dropped = []
    cache: ProcessCache[str] = ProcessCache("test", max_items=2, on_drop=dropped.append)
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "never")  # a used again: b is now the oldest
    cache.get("c", lambda: "C")
    assert len(cache) == 2 and "a" in cache and "c" in cache and "b" not in cache
    assert dropped == ["B"]
    with pytest.raises(ValueError, match="at least one"):
        ProcessCache("test", max_items=0)


def test_an_entry_older_than_max_age_is_computed_again():
    cache: ProcessCache[int] = ProcessCache("test", max_age_s=0.0)
    assert cache.get("k", lambda: 1) == 1
    assert cache.get("k", lambda: 2) == 2
    assert ProcessCache("test", max_age_s=3600).get("k", lambda: 3) == 3


def test_invalidate_path_forgets_what_was_computed_from_a_directory_in_every_cache(tmp_path):
    release, other = tmp_path / "releases" / "R1", tmp_path / "releases" / "R10"
    release.mkdir(parents=True)
    other.mkdir()
    link = tmp_path / "current"
    link.symlink_to(release)
    first, second = ProcessCache("first"), ProcessCache("second")
    first.get("release", lambda: 1, paths=[release])
    first.get("file", lambda: 2, paths=[release / "sources.parquet"])
    first.get("other", lambda: 3, paths=[other])  # R10 is not under R1
    second.get("linked", lambda: 4, paths=[link])
    second.get("none", lambda: 5)
    assert invalidate_path(link) == 3  # named through its symlink: the target's entries go too
    assert "release" not in first and "file" not in first and "linked" not in second
    assert "other" in first and "none" in second
    first.invalidate("other")
    assert "other" not in first


def test_a_release_swap_and_an_added_table_invalidate_the_loaded_catalogue(writable_demo_data_dir):
    data = writable_demo_data_dir
    before = load_catalogue(data, "DEMO")
    assert load_catalogue(data, "DEMO") is before

    record_added_table(before.path, "photoz")
    added = load_catalogue(data, "DEMO")
    assert added is not before and "photoz" in added.meta["added_tables"]
    assert read_release_meta(added.path)["added_tables"] == added.meta["added_tables"]

    root = releases_dir(data)
    built = build_dir(root, "DEMO")
    built.rmdir()
    shutil.copytree(added.path, built)
    install_release(built, root / "DEMO")
    swapped = load_catalogue(data, "DEMO")
    assert swapped is not added and swapped.path != added.path
    assert added.path not in catalogue._CATALOGUES and swapped.path in catalogue._CATALOGUES
