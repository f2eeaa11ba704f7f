"""``GET /hips/properties`` and ``GET /hips/Norder{k}/Dir{d}/Npix{n}.{ext}``: the configured HiPS's files.

Registered by ``xmm-explorer serve --hips DIR|URL`` with ``panel serve --plugins app.hips_route``
(Panel reads :data:`ROUTES`), for HiPS clients on the same network (Aladin, a linked view). The
tiles come from the folder, or from the HiPS service through the server's disk cache
(:mod:`data_loaders.hips_service`): the browser talks to this server only, and the request
names only an order, a pixel and a format, which must be a tile the HiPS can have
(:meth:`data_loaders.hips.Hips.file`); nothing else is read or fetched. Behind a sign-in
(``serve --auth``) the route asks for it as the pages do.
"""

from __future__ import annotations

import logging

import tornado.web
from bokeh.server.views.auth_request_handler import AuthRequestHandler

from app import config
from app.off_loop import off_loop
from data_loaders.hips import HipsError

log = logging.getLogger("xmm_explorer.hips")

TYPES = {"properties": "text/plain; charset=utf-8", "png": "image/png", "jpg": "image/jpeg", "fits": "image/fits"}


class HipsFileHandler(AuthRequestHandler):
    """One file of the configured HiPS: 404 when there is none, it is not one of its files or it is absent;
    502 with one sentence when its service cannot be reached."""

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        try:
            hips = await off_loop(config.hips)
        except HipsError as exc:
            log.warning("%s", exc)
            raise tornado.web.HTTPError(502, reason="HiPS unavailable") from None
        body = None if hips is None else await off_loop(hips.file, name)
        if body is None:
            problem = hips.problem if hips is not None else None
            self.set_status(502 if problem else 404)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(problem or "Not a file of the configured HiPS.")
            return
        self.set_header("Content-Type", TYPES[name.rsplit(".", 1)[-1]])
        self.set_header("Cache-Control", "max-age=86400" if name != "properties" else "no-cache")
        self.finish(body)


#: Read by ``panel serve --plugins app.hips_route``.
ROUTES = [(rf"/{config.HIPS_ROUTE}/(properties|Norder\d+/Dir\d+/Npix\d+\.(?:png|jpg|fits))", HipsFileHandler)]
