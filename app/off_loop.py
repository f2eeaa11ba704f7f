"""The one way to run blocking work off the event loop that serves every session of this process.

One Tornado loop answers every page of a server process: a password hash, a product read or
an alert computation run on it would freeze every other visitor meanwhile. Such work runs
on :data:`POOL` instead, either awaited (:func:`off_loop`, in ``async`` callbacks and
handlers) or handed back to a session when done (:func:`in_background`, from a Panel
callback that is not ``async``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

#: Threads shared by every session of the process for blocking work.
POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="xmm-work")
#: Threads that wait on a remote engine (a Dask cluster) for the Explore views, apart from
#: :data:`POOL`: a busy cluster may hold every one of them, and must not delay ``/health``,
#: sign-ins or product reads meanwhile. Waiting costs no CPU here, hence the larger number.
REMOTE_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="xmm-remote")


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` computed on :data:`POOL`, awaited without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(POOL, partial(fn, *args))


def in_background(work: Callable[[], T], done: Callable[[T], None], doc=None, pool: Executor = POOL) -> bool:
    """``work()`` on ``pool`` (:data:`POOL`), then ``done(result)`` on the loop of the session of
    ``doc`` (default: the current one), as a Panel callback of that session; dropped if the
    session has closed meanwhile.

    Without a served session (tests, scripts) both run now, in order. Returns whether the work
    went to the background. ``work`` should catch what it can report: an exception raised by it
    is raised again on the loop, where Panel logs it.
    """
    import panel as pn
    from panel.io.state import set_curdoc

    doc = pn.state.curdoc if doc is None else doc
    if doc is None or getattr(doc, "session_context", None) is None:
        done(work())
        return False

    def back_on_the_loop(future: Future) -> None:
        try:
            alive = getattr(doc, "session_context", None) is not None
        except (AttributeError, RuntimeError):  # the document was destroyed with its session
            alive = False
        if not alive:
            return  # the tab closed meanwhile: nobody to show the result to
        with set_curdoc(doc):
            pn.state.execute(partial(done, future.result()), schedule=True)

    pool.submit(work).add_done_callback(back_on_the_loop)
    return True
