"""Token URLs for SAMP: expiry, unknown tokens, no path traversal, exact bytes, no login needed."""

from __future__ import annotations

import asyncio
import os

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing
import tornado.web

from app.samp_tokens import TableHandler, TokenRegistry, token_url


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def registry(tmp_path, clock):
    return TokenRegistry(tmp_path / "tokens", ttl=600, clock=clock)


def _file(tmp_path, data: bytes, name: str = "table.vot"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_issue_takes_the_file_and_lookup_finds_it_until_expiry(registry, clock, tmp_path):
    src = _file(tmp_path, b"<VOTABLE/>")
    token = registry.issue(src, "sel.vot", "application/x-votable+xml")
    assert not src.exists() and len(token) >= 40 and token_url(token) == f"samp-table/{token}"
    entry = registry.lookup(token)
    assert entry.path.read_bytes() == b"<VOTABLE/>" and entry.filename == "sel.vot"
    clock.now += 599
    assert registry.lookup(token) is not None
    clock.now += 2
    assert registry.lookup(token) is None
    assert not entry.path.exists()  # the expired file is gone, not just hidden


def test_tokens_are_unique_and_sweep_removes_expired_ones(registry, clock, tmp_path):
    tokens = {registry.issue(_file(tmp_path, b"x", f"f{i}"), "f", "text/plain", ttl=10 * i) for i in range(1, 6)}
    assert len(tokens) == 5
    clock.now += 35
    assert registry.sweep() == 3
    assert sum(registry.lookup(t) is not None for t in tokens) == 2


@pytest.mark.parametrize(
    "token",
    ["", "short", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "A" * 43 + "/x", "A" * 43 + ".json", "A" * 200, None],
)
def test_malformed_or_unknown_tokens_find_nothing(registry, token):
    assert registry.lookup(token) is None


def test_a_token_only_names_files_the_registry_wrote(registry, tmp_path):
    secret = tmp_path / "tokens" / "notatoken.data"
    secret.write_bytes(b"secret")
    assert registry.lookup("notatoken") is None


def test_registries_in_other_processes_share_the_directory(registry, tmp_path, clock):
    token = registry.issue(_file(tmp_path, b"abc"), "a.csv", "text/csv")
    other = TokenRegistry(registry.root, clock=clock)  # what another --num-procs worker sees
    assert other.lookup(token).path.read_bytes() == b"abc"


class TestHandler(tornado.testing.AsyncHTTPTestCase):
    """The route served by a real Tornado server, fetched without any cookie (as a SAMP hub does)."""

    def get_app(self):
        import tempfile

        self.tmp = tempfile.mkdtemp()
        self.registry = TokenRegistry(os.path.join(self.tmp, "tokens"))
        return tornado.web.Application([(r"/samp-table/([^/]+)", TableHandler, {"registry": self.registry})])

    def _issue(self, data: bytes) -> str:
        path = os.path.join(self.tmp, "export.fits")
        with open(path, "wb") as f:
            f.write(data)
        return self.registry.issue(path, "DEMO-sources-3.fits", "application/fits")

    def test_served_bytes_equal_the_file(self):
        data = os.urandom(3 * (1 << 20) + 17)  # several streamed blocks
        token = self._issue(data)
        r = self.fetch(f"/samp-table/{token}")
        assert r.code == 200 and r.body == data
        assert r.headers["Content-Type"] == "application/fits"
        assert r.headers["Content-Disposition"] == 'attachment; filename="DEMO-sources-3.fits"'
        assert r.headers["Cache-Control"] == "no-store"

    def test_unknown_expired_and_traversal_are_404(self):
        token = self._issue(b"x")
        assert self.fetch(f"/samp-table/{'B' * 43}").code == 404
        assert self.fetch("/samp-table/..%2F..%2Fetc%2Fpasswd").code == 404
        assert self.fetch("/samp-table/../../etc/passwd").code == 404
        self.registry.clock = lambda: 1e12
        r = self.fetch(f"/samp-table/{token}")
        assert r.code == 404 and b"expired" in r.body


def test_routes_are_declared_for_panel_plugins():
    from app import samp_tokens

    pattern, handler, kwargs = samp_tokens.ROUTES[0]
    assert pattern.startswith("/samp-table/") and handler is TableHandler and kwargs == {}
    assert asyncio.iscoroutinefunction(TableHandler.get)
