"""The one way to keep something computed once per process, and to forget it when its data changes.

A module that shares a result between sessions (a loaded release, its footprint, a list of
flagged sources, a parsed header...) holds one :class:`ProcessCache`. ``cache.get(key, compute)``
returns the entry of ``key``, computing it first when it is missing: ``compute`` runs once per
key even when several sessions ask at the same time (the others wait for it), an exception is
not kept, at most ``max_items`` entries are kept (the least recently used goes first), and an
entry older than ``max_age_s`` is computed again.

An entry may name the data paths it was computed from (``paths=``). :func:`invalidate_path`
drops, in every cache of the process, the entries computed from a path at or under the given
one: swapping a release (:func:`data_loaders.release_swap.install_release`) and adding a table
to one (:func:`data_loaders.ingest.record_added_table`) call it, so the next page of this
process reads the new data. Another process (a running server while ``xmm-explorer ingest``
swaps) sees a swapped release under a new resolved path, hence under a new key.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

V = TypeVar("V")

_CACHES: weakref.WeakSet[ProcessCache] = weakref.WeakSet()


def _path_keys(path: str | os.PathLike) -> set[str]:
    """The path as given (absolute) and resolved: a release is named through its symlink."""
    p = Path(path).absolute()
    out = {str(p)}
    with contextlib.suppress(OSError):  # a loop or an unreadable link: the given form is enough
        out.add(str(p.resolve()))
    return out


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass
class _Entry(Generic[V]):
    value: V
    paths: frozenset[str]
    made: float


class ProcessCache(Generic[V]):
    """Keyed get-or-compute, shared by the sessions of one process (see the module)."""

    def __init__(
        self,
        name: str,
        max_items: int = 16,
        max_age_s: float | None = None,
        on_drop: Callable[[V], None] | None = None,
    ):
        """``on_drop(value)`` runs after an entry leaves the cache (e.g. to close a database's engine)."""
        if max_items < 1:
            raise ValueError(f"A cache needs room for at least one entry, not {max_items}.")
        self.name, self.max_items, self.max_age_s, self.on_drop = name, max_items, max_age_s, on_drop
        self._items: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        _CACHES.add(self)

    def _fresh(self, key: Hashable, dropped: list) -> _Entry[V] | None:
        """The entry of ``key`` if it is there and young enough (call with the lock held)."""
        entry = self._items.get(key)
        if entry is None:
            return None
        if self.max_age_s is not None and time.monotonic() - entry.made >= self.max_age_s:
            dropped.append(self._items.pop(key).value)
            return None
        self._items.move_to_end(key)
        return entry

    def _dropped(self, values: list) -> None:
        if self.on_drop is not None:
            for value in values:
                self.on_drop(value)

    def get(self, key: Hashable, compute: Callable[[], V], paths: Iterable[str | os.PathLike] = ()) -> V:
        """The value of ``key``; ``compute()`` makes it when missing (once, whoever else asks meanwhile).

        ``paths``: the files or directories it is computed from (see :func:`invalidate_path`).
        """
        dropped: list = []
        try:
            with self._lock:
                entry = self._fresh(key, dropped)
                if entry is not None:
                    return entry.value
                key_lock = self._key_locks.setdefault(key, threading.Lock())
            with key_lock:
                with self._lock:
                    entry = self._fresh(key, dropped)
                    if entry is not None:
                        return entry.value
                try:
                    value = compute()
                except BaseException:
                    with self._lock:
                        self._key_locks.pop(key, None)
                    raise
                deps = frozenset(k for p in paths for k in _path_keys(p))
                with self._lock:
                    self._items[key] = _Entry(value, deps, time.monotonic())
                    self._items.move_to_end(key)
                    while len(self._items) > self.max_items:
                        dropped.append(self._items.popitem(last=False)[1].value)
                    self._key_locks.pop(key, None)
                return value
        finally:
            self._dropped(dropped)

    def peek(self, key: Hashable) -> V | None:
        """The value of ``key`` if it is cached (never computes)."""
        dropped: list = []
        with self._lock:
            entry = self._fresh(key, dropped)
        self._dropped(dropped)
        return None if entry is None else entry.value

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key``: the next ``get`` computes it again."""
        with self._lock:
            entry = self._items.pop(key, None)
        self._dropped([] if entry is None else [entry.value])

    def invalidate_path(self, path: str | os.PathLike) -> int:
        """Forget the entries computed from ``path`` or from anything under it; returns how many."""
        roots = _path_keys(path)
        with self._lock:
            gone = [k for k, e in self._items.items() if any(_under(p, r) for p in e.paths for r in roots)]
            values = [self._items.pop(k).value for k in gone]
        self._dropped(values)
        return len(gone)

    def clear(self) -> None:
        with self._lock:
            values = [e.value for e in self._items.values()]
            self._items.clear()
        self._dropped(values)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        dropped: list = []
        with self._lock:
            found = self._fresh(key, dropped) is not None
        self._dropped(dropped)
        return found


def invalidate_path(path: str | os.PathLike) -> int:
    """Forget, in every cache of this process, what was computed from ``path`` or under it."""
    return sum(cache.invalidate_path(path) for cache in list(_CACHES))
