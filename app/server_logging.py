"""Keep the server log for events: a browser tab closed mid-update is routine, not a traceback.

When a visitor closes a tab while the server is still sending to it, Tornado's websocket write
fails and asyncio logs "Task exception was never retrieved" with a WebSocketClosedError traceback,
and Bokeh warns once per pending message. Both happen on every ordinary disconnect, so the log
filled with tracebacks that hid real errors. These records are dropped; every other error stays.
"""

from __future__ import annotations

import logging

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

_ROUTINE = (WebSocketClosedError, StreamClosedError)
_BOKEH_CLOSED = "Failed sending message as connection was closed"


class RoutineDisconnectFilter(logging.Filter):
    """Drops log records that only say a browser went away while we were writing to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, _ROUTINE):
            return False
        return record.getMessage() != _BOKEH_CLOSED


def install() -> None:
    """Attach the filter to the loggers that report disconnects (idempotent)."""
    for name in ("asyncio", "bokeh.server.views.ws", "tornado.application"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineDisconnectFilter) for f in logger.filters):
            logger.addFilter(RoutineDisconnectFilter())
