"""Work off the event loop: awaited on the shared pool, or handed back to the session when done."""

import asyncio
import threading

from app.off_loop import in_background, off_loop


def test_off_loop_runs_on_the_pool_while_the_loop_keeps_answering():
    started, release = threading.Event(), threading.Event()

    def blocking(x):
        started.set()
        assert release.wait(60)
        return x * 2, threading.current_thread().name

    async def main():
        work = asyncio.ensure_future(off_loop(blocking, 21))
        # The loop still runs other coroutines while the blocking call waits on its thread.
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 60)
        answered = await asyncio.sleep(0, result="answered")
        release.set()
        return answered, await work

    answered, (value, thread) = asyncio.run(main())
    assert answered == "answered" and value == 42 and thread.startswith("xmm-work")


def test_in_background_without_a_served_session_runs_now_in_order():
    seen = []
    assert in_background(lambda: seen.append("work") or 7, lambda r: seen.append(("done", r))) is False
    assert seen == ["work", ("done", 7)]
