"""A loopback HTTP server standing in for a remote HiPS service, so tests need no internet."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):  # the standard library's name
        self.requests.append(self.path)
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_folder(folder: Path):
    """``(base_url, requests)``: ``folder`` over HTTP on 127.0.0.1 (``/moved...`` answers a redirect elsewhere);
    ``requests`` lists the paths asked for."""
    requests: list[str] = []
    handler = type("Handler", (_Quiet,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
