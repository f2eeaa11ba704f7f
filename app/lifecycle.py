"""Server lifecycle work of every page's process: heap freezing after a page or the warm-up, and
giving memory back after sessions end (one delayed full collection plus ``malloc_trim``).

The warm-up itself is ``app/warmup.py`` (the script ``panel serve --setup`` runs once per
process); it freezes the heap through :func:`freeze_heap` when done. Pages (``layouts.common.template``)
register :func:`freeze_heap` on load and :func:`release_memory` at session end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:  # pragma: no cover - not glibc
        return None


_LIBC = _libc()


#: Seconds between a session's end and the collection that frees it: the sessions that end in
#: the meantime (Bokeh expires closed tabs in batches) share one collection.
RELEASE_DELAY_S = 2.0
#: At least this many seconds between two such collections: each walks every object of the
#: process (0.85 s with 25 open pages, measured), stalling its live sessions, so visitors who
#: come and go do not cost the others a stall each.
RELEASE_INTERVAL_S = 30.0
_release_pending = False
_last_release = -float("inf")


def freeze_heap() -> None:
    """Hide every object alive now from the cyclic collector's full collections (``gc.freeze``).

    A served page holds ~50k objects, so a process with 25 open pages holds over a million, and
    every full collection (which Python runs by itself as objects accumulate) walked all of them:
    0.2-1.0 s with every session of the process stalled, measured under 50 sessions, the largest
    part of the latency tail. Pages and the catalogue live until their session ends, so they are
    frozen once built (an ``onload`` callback of every page) and after the warm-up; what an action creates
    afterwards is collected as usual. Frozen objects still die by reference counting; frozen
    cycles are collected by :func:`_release_now` when sessions end.
    """
    gc.freeze()


def _release_now() -> None:
    global _release_pending, _last_release
    _release_pending = False
    gc.unfreeze()  # the ended sessions' objects were frozen with their pages
    gc.collect()
    freeze_heap()
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)
    _last_release = time.monotonic()  # the interval runs from the end of this (long) collection


def release_memory(session_context) -> None:  # Bokeh checks the signature
    """After sessions end: collect their reference cycles and hand freed heap pages back to the OS.

    A page's models, plots and widgets form cycles that wait for the next full collection, and
    glibc keeps freed memory in its arenas; without this the server's resident memory stayed
    ~100 MB above its level before a burst of sessions long after they had all closed. A full
    collection takes a noticeable fraction of a second on a big heap and blocks every live
    session of the process, so one collection runs :data:`RELEASE_DELAY_S` after the first of a
    burst of ended sessions (not one per session), and not sooner than :data:`RELEASE_INTERVAL_S`
    after the previous one.
    """
    global _release_pending
    if _release_pending:
        return
    from tornado.ioloop import IOLoop

    _release_pending = True
    wait = max(RELEASE_DELAY_S, _last_release + RELEASE_INTERVAL_S - time.monotonic())
    IOLoop.current().call_later(wait, _release_now)
