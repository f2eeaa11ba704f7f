"""``GET /health``: a JSON liveness/readiness report of the serving process, for probes and operators.

Registered with ``panel serve --plugins app.health`` (Panel reads :data:`ROUTES`). The answer
describes the process that answered (with ``--num-procs N`` the router sends each request to
one of the workers, and each worker answers for itself, hence ``pid``)::

    {"status": "ok", "releases": ["DR14"], "n_sessions": 3, "uptime_s": 812.4,
     "pid": 4242, "rss_mb": 611.0, "db": "ok"}

``status`` is ``"ok"`` with HTTP 200 when at least one release is ingested and the flags
database answers ``SELECT 1`` within :data:`DB_TIMEOUT_S`; otherwise ``"degraded"`` with
HTTP 503, so a container health check or a load balancer takes the process out of rotation.
No user data and no configuration values are reported; the route needs no sign-in, so a
proxy in front should keep it internal (see ``deploy/nginx.conf``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sys
import time

import tornado.web

from app.off_loop import off_loop

log = logging.getLogger("xmm_explorer.health")

#: Seconds the database check may take before the database is reported as ``error``.
DB_TIMEOUT_S = 3.0
_STARTED = time.monotonic()


def rss_mb() -> float:
    """Resident memory of this process in MB (current on Linux, peak elsewhere)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:  # current RSS, not the peak getrusage reports
            pages = int(f.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def uptime_s() -> float:
    """Seconds since this module was imported in this process."""
    return round(time.monotonic() - _STARTED, 1)


def release_names() -> list[str]:
    """Names of the ingested releases in the configured data directory."""
    from app import config
    from data_loaders.ingest import list_releases

    return [r["name"] for r in list_releases(config.data_dir())]


def check_db() -> str:
    """``"ok"`` if the process's flags database answers ``SELECT 1``, else ``"error"`` (logged)."""
    from sqlalchemy import text

    from app.store_access import get_store

    try:
        with get_store().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception:  # any driver error means the same thing to a probe
        log.exception("health: the flags database does not answer")
        return "error"


def count_sessions(application) -> int:
    """Live Bokeh sessions of every page served by this process's Tornado ``application``."""
    contexts = getattr(application, "applications", {}) or {}
    return sum(len(list(ctx.sessions)) for ctx in contexts.values())


async def report(application) -> tuple[int, dict]:
    """The HTTP status and JSON body of ``/health`` for this process."""
    try:
        releases = await off_loop(release_names)
    except Exception:
        log.exception("health: cannot list the releases")
        releases = []
    try:
        db = await asyncio.wait_for(off_loop(check_db), DB_TIMEOUT_S)
    except TimeoutError:
        log.error("health: the flags database did not answer within %.0f s", DB_TIMEOUT_S)
        db = "error"
    ok = bool(releases) and db == "ok"
    body = {
        "status": "ok" if ok else "degraded",
        "releases": releases,
        "n_sessions": count_sessions(application),
        "uptime_s": uptime_s(),
        "pid": os.getpid(),
        "rss_mb": rss_mb(),
        "db": db,
    }
    return (200 if ok else 503), body


class HealthHandler(tornado.web.RequestHandler):
    """``GET /health`` (and ``HEAD``): the JSON report of the process that took the request."""

    async def get(self) -> None:
        status, body = await report(self.application)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    async def head(self) -> None:
        status, _ = await report(self.application)
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish()


#: Read by ``panel serve --plugins app.health``.
ROUTES = [(r"/health", HealthHandler)]
