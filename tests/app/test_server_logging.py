"""A browser that goes away while the server writes to it leaves no traceback in the log; real errors still do."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application
from tornado.websocket import WebSocketHandler, websocket_connect

from app import server_logging


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def asyncio_log():
    """Records what reaches the handlers of the 'asyncio' logger, with and without our filter."""
    handler = _Records()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    saved = list(logger.filters)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.filters[:] = saved


def _write_after_the_browser_left() -> None:
    """A real websocket: the client disconnects, then the server writes to it without awaiting the
    write, as Bokeh does when it pushes a patch to a tab that was just closed."""
    closed = asyncio.Event()
    handlers: list[WebSocketHandler] = []

    class Socket(WebSocketHandler):
        def open(self) -> None:
            handlers.append(self)

        def on_close(self) -> None:
            closed.set()

    async def scenario() -> None:
        sock, port = bind_unused_port()
        server = HTTPServer(Application([("/ws", Socket)]))
        server.add_sockets([sock])
        client = await websocket_connect(f"ws://127.0.0.1:{port}/ws")
        while not handlers:
            await asyncio.sleep(0.01)
        # A message larger than the socket buffers is still being written when the tab goes away.
        handlers[0].write_message(b"patch" * 4_000_000, binary=True)  # not awaited, as Bokeh's pushes
        client.protocol.stream.close()
        await asyncio.wait_for(closed.wait(), 5)
        await asyncio.sleep(0.05)
        server.stop()

    asyncio.run(scenario())
    gc.collect()  # the unretrieved task's exception is logged when the task is collected


def _unretrieved(records):
    return [r for r in records if "never retrieved" in r.getMessage()]


def test_the_scenario_logs_a_traceback_without_the_filter(asyncio_log):
    _write_after_the_browser_left()
    logged = _unretrieved(asyncio_log)
    assert logged and type(logged[0].exc_info[1]).__name__ == "WebSocketClosedError"


def test_routine_disconnects_are_not_logged_but_other_errors_are(asyncio_log):
    server_logging.install()
    server_logging.install()  # idempotent: one filter
    assert sum(isinstance(f, server_logging.RoutineDisconnectFilter) for f in logging.getLogger("asyncio").filters) == 1
    _write_after_the_browser_left()
    assert _unretrieved(asyncio_log) == []

    async def fails() -> None:
        raise ValueError("a real bug")

    async def scenario() -> None:
        asyncio.get_running_loop().create_task(fails())
        await asyncio.sleep(0.01)

    asyncio.run(scenario())
    gc.collect()
    assert [type(r.exc_info[1]) for r in _unretrieved(asyncio_log)] == [ValueError]


def test_bokehs_closed_connection_warning_is_dropped():
    flt = server_logging.RoutineDisconnectFilter()
    routine = logging.LogRecord(
        "bokeh.server.views.ws",
        logging.WARNING,
        __file__,
        1,
        "Failed sending message as connection was closed",
        None,
        None,
    )
    other = logging.LogRecord("bokeh.server.views.ws", logging.WARNING, __file__, 1, "Something else", None, None)
    assert not flt.filter(routine) and flt.filter(other)
