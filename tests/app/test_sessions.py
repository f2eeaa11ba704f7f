"""Sessions and logins against a real server on loopback (SQLite store): nothing a client sends picks
its session, its address or its user.

One server for the module, started with ``--trusted-proxy 127.0.0.1`` so that each test can act
as a different client address through ``X-Forwarded-For`` (what the trusted proxy would send),
and with at most 2 open pages per client.
"""

from __future__ import annotations

import http.client
import re
import shutil
import time
import urllib.parse
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from bokeh.util.token import check_token_signature, generate_jwt_token, generate_session_id, get_token_payload

from app import auth, clients
from data_loaders.store import logins, open_store, users
from tests.shown import shown
from tests.ui.serving import serve_app

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'"token":\s*"([A-Za-z0-9_.\-]+)"')


@pytest.fixture(scope="module")
def server(demo_data_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("sessions") / "data"
    shutil.copytree(demo_data_dir, data, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    for name in ("rev", "ann", "bob", "cat"):
        users.add_user(data / "users.json", name, PASSWORD, "reviewer")
    env = {"XMM_EXPLORER_DB": "", clients.MAX_PER_CLIENT_ENV: "2", clients.MAX_SESSIONS_ENV: "10000"}
    with serve_app(data, "--trusted-proxy", "127.0.0.1", env=env, page="login") as base:
        yield base, data


class Response:
    def __init__(self, r: http.client.HTTPResponse):
        self.status = r.status
        self.headers = r.headers
        self.body = r.read().decode("utf-8", "replace")

    def cookies(self) -> dict[str, str]:
        """Set-Cookie headers by cookie name (the whole header, attributes included)."""
        return {h.split("=", 1)[0]: h for h in self.headers.get_all("Set-Cookie") or []}


def request(base: str, method: str, path: str, client: str, body: dict | None = None, headers: dict | None = None):
    """One HTTP request as client address ``client`` (via the trusted proxy's X-Forwarded-For)."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    hdrs = {"X-Forwarded-For": client, **(headers or {})}
    data = None
    if body is not None:
        data = urllib.parse.urlencode(body)
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, data, hdrs)
        return Response(conn.getresponse())
    finally:
        conn.close()


def log_in(base: str, name: str, client: str, password: str = PASSWORD) -> Response:
    return request(base, "POST", "/login", client, {"username": name, "password": password})


def cookie_value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def page_token(base: str, client: str, cookie: str | None = None, path: str = "/explore") -> str:
    r = request(base, "GET", path, client, headers={"Cookie": cookie} if cookie else None)
    assert r.status == 200, r.body[:300]
    return _TOKEN.search(r.body).group(1)


def test_a_session_id_or_token_chosen_by_the_client_is_refused(server):
    base, _ = server
    sid = generate_session_id()
    for path, headers in (
        (f"/explore?bokeh-session-id={sid}", None),
        (f"/explore?bokeh-token={generate_jwt_token(sid)}", None),
        ("/source/autoload.js?bokeh-autoload-element=x&bokeh-session-id=" + sid, None),
        ("/explore", {"Bokeh-Session-Id": sid}),
    ):
        r = request(base, "GET", path, "10.1.0.1", headers=headers)
        assert r.status == 400, path
        assert "names a session, which is not allowed" in shown(r.body)
        assert "Traceback" not in r.body and "/app/" not in r.body


def test_session_ids_are_signed_with_the_private_secret(server):
    base, data = server
    token = page_token(base, "10.1.0.2")
    secret = (data / auth.SESSION_SECRET_FILE).read_text().strip()
    assert (data / auth.SESSION_SECRET_FILE).stat().st_mode & 0o077 == 0
    assert check_token_signature(token, secret_key=secret.encode(), signed=True)
    assert not check_token_signature(token, secret_key=b"x" * 64, signed=True)


def test_login_cookie_is_httponly_lax_seven_days_and_kept_out_of_the_page(server):
    base, _ = server
    r = log_in(base, "rev", "10.1.0.3")
    assert r.status == 302 and r.headers["Location"] == "/explore"
    cookie = r.cookies()[auth.LOGIN_COOKIE]
    attrs = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "httponly" in attrs and "samesite=lax" in attrs and "secure" not in attrs  # plain http here
    expires = next(a for a in cookie.split(";") if a.strip().lower().startswith("expires="))
    left_s = parsedate_to_datetime(expires.split("=", 1)[1].strip()).timestamp() - time.time()
    assert abs(left_s - auth.SESSION_DAYS * 86400) < 120
    token = page_token(base, "10.1.0.3", f"{auth.LOGIN_COOKIE}={cookie_value(cookie)}")
    payload = get_token_payload(token)
    assert auth.LOGIN_COOKIE not in payload["cookies"] and "Cookie" not in payload["headers"]
    assert cookie_value(cookie) not in str(payload), "the signed cookie must not reach the page"
    assert payload["headers"][auth.LOGIN_HEADER], "the session knows its login"
    assert payload["headers"][clients.CLIENT_HEADER] == "10.1.0.3"


def test_cookies_are_secure_behind_the_trusted_https_proxy(server):
    base, _ = server
    r = request(
        base,
        "POST",
        "/login",
        "10.1.0.4",
        {"username": "ann", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    attrs = [a.strip().lower() for a in r.cookies()[auth.LOGIN_COOKIE].split(";")[1:]]
    assert "secure" in attrs and "httponly" in attrs and "samesite=lax" in attrs


def test_a_cookie_replayed_after_logout_is_refused_everywhere(server):
    base, data = server
    first = cookie_value(log_in(base, "bob", "10.1.0.5").cookies()[auth.LOGIN_COOKIE])
    other = cookie_value(log_in(base, "bob", "10.1.0.6").cookies()[auth.LOGIN_COOKIE])  # a second browser
    for c in (first, other):
        assert get_token_payload(page_token(base, "10.1.0.7", f"{auth.LOGIN_COOKIE}={c}"))["headers"][auth.LOGIN_HEADER]
    out = request(base, "GET", "/logout?next=/explore", "10.1.0.5", headers={"Cookie": f"{auth.LOGIN_COOKIE}={first}"})
    assert out.status == 302
    for c in (first, other):  # the copied cookie and the other browser's are both over
        payload = get_token_payload(page_token(base, "10.1.0.8", f"{auth.LOGIN_COOKIE}={c}"))
        assert payload["headers"][auth.LOGIN_HEADER] == ""
    with open_store(None, data) as store:  # revoked in the shared database, not in one process
        assert (
            store.engine.connect()
            .exec_driver_sql("SELECT count(*) FROM logins WHERE user_name = 'bob' AND revoked IS NULL")
            .scalar()
            == 0
        )


def test_failed_logins_back_off_per_address_and_per_account(server):
    base, _ = server
    for _ in range(logins.LOGIN_BY_ADDRESS.free):
        assert "Wrong+user+name" in log_in(base, "cat", "10.2.0.1", "wrong password").headers["Location"]
    backed_off = log_in(base, "cat", "10.2.0.1")  # even the right password waits now
    assert backed_off.status == 302 and "Too+many+failed+log-ins" in backed_off.headers["Location"]
    assert auth.LOGIN_COOKIE not in backed_off.cookies()
    ok = log_in(base, "cat", "10.2.0.2")  # another address is not blocked by the first one
    assert ok.headers["Location"] == "/explore" and auth.LOGIN_COOKIE in ok.cookies()
    # One account attacked from many addresses backs off too (each address stays under its own limit).
    for i in range(logins.LOGIN_BY_ACCOUNT.free):
        log_in(base, "ann", f"10.3.0.{i // 4 + 1}", "wrong password")
    assert "Too+many+failed+log-ins" in log_in(base, "ann", "10.3.1.1").headers["Location"]
    assert log_in(base, "rev", "10.3.1.1").headers["Location"] == "/explore", "other accounts are not affected"


def test_a_client_past_its_page_limit_gets_the_busy_page_and_others_do_not(server):
    base, _ = server
    for _ in range(2):
        page_token(base, "10.4.0.1")
    busy = request(base, "GET", "/explore", "10.4.0.1")
    assert busy.status == 503 and busy.headers["Retry-After"] == str(clients.RETRY_AFTER_S)
    assert f"try again in {clients.RETRY_AFTER_S} s" in busy.body and "Traceback" not in busy.body
    page_token(base, "10.4.0.2")  # another client still gets its page


def test_forwarded_headers_count_only_from_a_trusted_proxy():
    trusted = clients._parse_trusted("127.0.0.1,10.9.0.0/16")
    assert clients.resolve("203.0.113.5", "1.2.3.4", "https", trusted) == clients.Client("203.0.113.5", False)
    assert clients.resolve("127.0.0.1", "1.2.3.4", "https", trusted) == clients.Client("1.2.3.4", True)
    # A client's own X-Forwarded-For entry in front of the proxy's is not believed.
    assert clients.resolve("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.9.1.1", None, trusted).address == "1.2.3.4"
    assert clients.resolve("127.0.0.1", "not-an-ip", None, trusted).address == "127.0.0.1"


def test_the_session_secret_is_private_on_disk(server):
    _, data = server
    for name in (auth.SESSION_SECRET_FILE, auth.COOKIE_SECRET_FILE):
        assert Path(data / name).stat().st_mode & 0o077 == 0, name


@pytest.mark.parametrize(
    ("path", "sentence"),
    [
        ("/explore?release=../../x", "There is no release"),
        ("/source?release=../../etc/passwd&srcid=1", "There is no release"),
        ("/alerts?release=%00%ff", "There is no release"),
        ("/source?srcid=" + "9" * 400, "is not a SRCID"),
        ("/source?srcid=abc", "is not a SRCID"),
        ("/source?detid=-5", "is not a DETID"),
        ("/alerts?run=obs/../../../../tmp/x", "is not the name of an observation run"),
    ],
)
def test_bad_url_parameters_get_one_sentence_without_traceback_or_path(server, path, sentence):
    base, data = server
    text = pulled_document(base, path, f"10.5.0.{len(path) % 250 + 1}")
    assert sentence in text
    assert "Traceback" not in text and str(data) not in text and "releases/" not in text


def pulled_document(base: str, path: str, client: str) -> str:
    """The page's document as the browser receives it (GET, then the websocket's PULL-DOC), as JSON text."""
    import asyncio
    import json

    from bokeh.client.websocket import WebSocketClientConnectionWrapper
    from bokeh.protocol import Protocol
    from bokeh.protocol.receiver import Receiver
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    token = page_token(base, client, path=path)

    async def pull() -> str:
        url = base.replace("http", "ws", 1) + "/" + urllib.parse.urlsplit(path).path.strip("/") + "/ws"
        sock = await websocket_connect(HTTPRequest(url, request_timeout=60), subprotocols=["bokeh", token])
        ws, protocol = WebSocketClientConnectionWrapper(sock), Protocol()
        receiver = Receiver(protocol)

        async def read():
            while True:
                msg = await receiver.consume(await ws.read_message())
                if msg is not None:
                    return msg

        try:
            assert (await read()).msgtype == "ACK"
            await protocol.create("PULL-DOC-REQ").send(ws)
            while (reply := await read()).msgtype != "PULL-DOC-REPLY":
                pass
            return json.dumps(reply.content["doc"], ensure_ascii=False)
        finally:
            sock.close()

    return asyncio.run(pull())


def test_the_total_page_limit_and_the_shared_count_of_router_workers(tmp_path, monkeypatch):
    """Limits count every process's pages: a router worker counts the shared session directory."""
    from types import SimpleNamespace

    from app import router

    def ctx(address):
        return SimpleNamespace(
            id=generate_session_id(), request=SimpleNamespace(headers={clients.CLIENT_HEADER: address})
        )

    monkeypatch.setenv(clients.MAX_SESSIONS_ENV, "3")
    monkeypatch.setenv(clients.MAX_PER_CLIENT_ENV, "2")
    monkeypatch.setenv(router.SESSIONS_ENV, str(tmp_path))
    for worker, address in ((0, "10.0.0.1"), (1, "10.0.0.1"), (1, "10.0.0.2")):
        monkeypatch.setenv(router.WORKER_ENV, str(worker))
        router.register_session(ctx(address))
    assert "already have 2 pages" in clients.busy_reason("10.0.0.1")  # its two pages are in two processes
    assert "3 pages are open, its limit" in clients.busy_reason("10.0.0.3")
    monkeypatch.setenv(clients.MAX_SESSIONS_ENV, "4")
    assert clients.busy_reason("10.0.0.3") is None
