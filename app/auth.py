"""Sign-in for XMM Explorer: a Bokeh auth module with optional login, and who the session's user is.

``xmm-explorer serve`` passes this file to ``panel serve --auth-module``. Every page is open
to anonymous visitors (``get_user`` returns ``"guest"``, which Tornado accepts and the Store
treats as anonymous); ``/login`` checks the salted scrypt hashes of the users file
(``data_loaders.store.users``, off the event loop, with back-off per account and per client
address) and records a login in the store; the browser gets the login's id in a signed,
``HttpOnly``, ``SameSite=Lax`` cookie (``Secure`` over HTTPS) that lasts :data:`SESSION_DAYS`.
``/logout`` revokes every login of the user in the store, so a copied cookie stops working
in every server process. Roles are never decided here: every Store write method checks the
acting user's role, and views pass ``current_user()`` as that user. With
``--oauth-provider`` Panel's own OAuth provider replaces this module (see ``deploy/AUTH.md``).

Sessions: Bokeh session ids are signed (``--session-ids signed`` with a secret kept like the
cookie secret), and a page request that brings its own session id or token is refused, so
a session can be neither fixed nor taken over by a link. The login cookie is kept out of the
page (``--exclude-cookies``); the page's session learns its login id from the signed session
token instead (:data:`LOGIN_HEADER`, set here on every request, whatever the client sent).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

import tornado.escape
import tornado.web
from panel.auth import BasicLoginHandler, _validate_next_url

from app.off_loop import off_loop
from app.text import inert
from data_loaders.process_cache import ProcessCache

log = logging.getLogger("xmm_explorer.auth")

LOGIN_URL = "/login"
LOGOUT_URL = "/logout"
#: Days a sign-in lasts (the signed cookie's lifetime and the login's expiry in the store).
SESSION_DAYS = 7
COOKIE_SECRET_ENV = "XMM_EXPLORER_COOKIE_SECRET"  # noqa: S105 - a variable name
COOKIE_SECRET_FILE = ".cookie_secret"  # noqa: S105 - a file name
SESSION_SECRET_ENV = "XMM_EXPLORER_SESSION_SECRET"  # noqa: S105 - a variable name
SESSION_SECRET_FILE = ".session_secret"  # noqa: S105 - a file name
ANONYMOUS = "guest"
#: The signed cookie holding the login id (the store says whose login it is and whether it still holds).
LOGIN_COOKIE = "xmm_login"
#: Request header carrying the checked login id into the page's (signed) session token.
LOGIN_HEADER = "X-Xmm-Login"
#: Query arguments and header by which a client could name its own Bokeh session.
CLIENT_SESSION_ARGS = ("bokeh-session-id", "bokeh-token")
CLIENT_SESSION_HEADER = "Bokeh-Session-Id"
#: Seconds a session's answer "this login is still valid" is reused before asking the store again.
LOGIN_CHECK_S = 2.0

# Bokeh's AuthModule reads these names: optional login on every page.
login_url = LOGIN_URL
logout_url = LOGOUT_URL


def _users_file() -> Path:
    from app.store_access import users_file

    return users_file()


def _store():
    from app.store_access import get_store

    return get_store()


def _known(name: str) -> bool:
    """True if ``name`` still has an account (a removed user's old cookie stops working)."""
    from data_loaders.store import users

    try:
        return users.role_of(_users_file(), name) is not None
    except ValueError:
        return False


def _cookie_login(request_handler) -> tuple[str | None, str | None]:
    """(user, login id) of the request's login cookie, if the store still holds that login."""
    from data_loaders.store.logins import login_user

    raw = request_handler.get_secure_cookie(LOGIN_COOKIE, max_age_days=SESSION_DAYS)
    login_id = raw.decode("ascii", "replace") if raw else None
    user = login_user(_store(), login_id) if login_id else None
    if user and _known(user):
        return user, login_id
    return None, None


def _refuse_client_session_id(request_handler) -> None:
    """A page request may not name its session: ids come from the server only (no fixation)."""
    from app.clients import finish_with_sentence

    args = request_handler.request.arguments or {}
    if any(a in args for a in CLIENT_SESSION_ARGS) or CLIENT_SESSION_HEADER in request_handler.request.headers:
        log.warning("refused a page request that names its own session id (%s)", request_handler.request.path)
        finish_with_sentence(
            request_handler,
            400,
            "Bad link",
            "This link names a session, which is not allowed: open the page without "
            "'bokeh-session-id' or 'bokeh-token' in its address.",
        )


def get_user(request_handler) -> str:
    """The signed-in user of a request, or ``"guest"``: every page and websocket is open to visitors.

    For a page request (one that creates a Bokeh session) this is also the gate: a session id
    chosen by the client is refused, and so is a page past the client's or the server's limit
    of open pages (:mod:`app.clients`).
    """
    from bokeh.server.views.session_handler import SessionHandler

    from app import clients

    client = clients.client_of(request_handler)
    if isinstance(request_handler, SessionHandler):
        _refuse_client_session_id(request_handler)
        clients.check_capacity(request_handler, client)
    user, login_id = _cookie_login(request_handler)
    request = request_handler.request
    request.headers[LOGIN_HEADER] = login_id or ""
    # The login cookies are never handed on to the page (Bokeh copies a request's cookies into
    # the session token, which the page can read): HttpOnly has to mean it.
    cookies = request.cookies
    for name in ("user", LOGIN_COOKIE):
        cookies.pop(name, None)
    if "Cookie" in request.headers:
        del request.headers["Cookie"]
        if cookies:
            request.headers["Cookie"] = "; ".join(f"{k}={m.coded_value}" for k, m in cookies.items())
    return user or ANONYMOUS


def _next_url(handler, default: str = "/explore") -> str:
    return _validate_next_url(handler.get_argument("next", "") or handler.get_cookie("next_url", "")) or default


def _cookie_options(handler) -> dict:
    """``HttpOnly``, ``SameSite=Lax`` and, when the site is served over HTTPS, ``Secure``."""
    from panel.config import config

    from app.clients import client_of

    return {"httponly": True, "samesite": "Lax", "secure": client_of(handler).https, "path": config.cookie_path}


LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>XMM Explorer · Log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; background: #181818; color: #eee;
       display: flex; align-items: center; justify-content: center; min-height: 100vh; margin: 0; }}
form {{ background: #242424; padding: 28px 32px; border-radius: 8px; width: 320px;
       box-shadow: 0 4px 24px rgba(0,0,0,.5); }}
h1 {{ font-size: 1.3em; margin: 0 0 4px 0; }} p {{ opacity: .75; font-size: .9em; margin: 0 0 18px 0; }}
label {{ display: block; font-size: .85em; margin: 10px 0 4px 0; opacity: .85; }}
input {{ width: 100%; box-sizing: border-box; padding: 8px; border-radius: 4px; border: 1px solid #555;
        background: #111; color: #eee; font-size: 1em; }}
button {{ margin-top: 18px; width: 100%; padding: 9px; border: 0; border-radius: 4px; background: #f59e0b;
         color: #111; font-weight: 600; font-size: 1em; cursor: pointer; }}
.error {{ background: #7f1d1d; padding: 8px 10px; border-radius: 4px; margin-bottom: 10px; font-size: .9em; }}
a {{ color: #f59e0b; }} .back {{ display: block; margin-top: 14px; font-size: .85em; text-align: center; }}
</style></head>
<body><form action="{action}" method="post">
<h1>XMM Explorer</h1><p>Log in to flag sources, review and vote. Exploring needs no account.</p>
{error}
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="login-submit" type="submit">Log in</button>
<a class="back" href="{back}">Continue without logging in</a>
</form></body></html>
"""


def login_page(action: str, error: str = "", back: str = "/explore") -> str:
    """The login form; ``error`` (from the query string) is shown as text."""
    box = f"<div class='error' id='login-error'>{inert(error)}</div>" if error else ""
    return LOGIN_PAGE.format(action=inert(action), error=box, back=inert(back))


class LoginHandler(BasicLoginHandler):
    """``/login``: a form checked against the users file's scrypt hashes (never plaintext).

    The hash is computed in a thread (a burst of log-ins does not stall the pages), after the
    back-off check, which needs no hashing: a client that is backed off costs one query.
    """

    _login_endpoint = LOGIN_URL

    def get(self):
        next_url = _next_url(self)
        self.set_cookie("next_url", next_url, **_cookie_options(self))
        error = self.get_argument("error", "")
        self.write(login_page(self.request.path, error, back=next_url))

    def _validate(self, username, password):
        from data_loaders.store import users

        try:
            return users.verify_password(_users_file(), username, password)
        except ValueError:
            return False

    def _fail(self, sentence: str) -> None:
        self.redirect(f"{self.request.path}?error=" + tornado.escape.url_escape(sentence))

    async def post(self):
        from app.clients import client_of
        from data_loaders.store import logins

        username = self.get_argument("username", "").strip()[:200]
        password = self.get_argument("password", "")
        address = client_of(self).address
        store = _store()
        keys = (f"addr:{address}", f"user:{username}")
        policies = (logins.LOGIN_BY_ADDRESS, logins.LOGIN_BY_ACCOUNT)
        wait = max(logins.wait_seconds(store, "login", k, p) for k, p in zip(keys, policies, strict=True))
        if wait > 0:
            log.warning("log-in for %r from %s refused: backing off %.0f s", username, address, wait)
            self._fail(f"Too many failed log-ins; please try again in {int(wait) + 1} s.")
            return
        if await off_loop(self._validate, username, password):
            logins.clear_attempts(store, "login", keys[1])
            self.set_current_user(username)
            self.redirect(_next_url(self))
        else:
            logins.record_attempt(store, "login", *keys)
            self._fail("Wrong user name or password.")

    def set_current_user(self, user):
        from app.clients import client_of
        from data_loaders.store.logins import open_login

        login_id = open_login(_store(), user, client_of(self).address, SESSION_DAYS)
        for name in ("is_guest", "user"):
            self.clear_cookie(name)
        self.set_secure_cookie(LOGIN_COOKIE, login_id, expires_days=SESSION_DAYS, **_cookie_options(self))


class LogoutHandler(tornado.web.RequestHandler):
    """``/logout``: end every login of the user in the store (all browsers, all processes) and go back."""

    def get(self):
        from data_loaders.store.logins import revoke_logins

        user, _login_id = _cookie_login(self)
        if user:
            revoke_logins(_store(), user)
        for name in (LOGIN_COOKIE, "user", "id_token", "access_token", "refresh_token", "is_guest", "next_url"):
            self.clear_cookie(name)
        self.redirect(_next_url(self))


# -- the session's user ------------------------------------------------------------------------
_CHECKED: ProcessCache[str | None] = ProcessCache("checked logins", max_items=10_000, max_age_s=LOGIN_CHECK_S)


def _login_user_cached(login_id: str) -> str | None:
    """The store's answer for ``login_id``, reused for :data:`LOGIN_CHECK_S` seconds in this process."""
    from data_loaders.store.logins import login_user

    return _CHECKED.get(login_id, lambda: login_user(_store(), login_id))


def session_user() -> str | None:
    """Who the current Panel session was opened by, if that login still holds (else None).

    The login id comes from the session's signed token, so the page cannot change it; the
    store is asked again every few seconds, so a logout or reset elsewhere ends it here too.
    With Panel's OAuth provider it is the signed ``user`` cookie (at most :data:`SESSION_DAYS` old).
    """
    import panel as pn
    from panel.config import config

    if config.oauth_provider:
        from tornado.web import decode_signed_value

        raw = (pn.state.cookies or {}).get("user")
        value = decode_signed_value(config.cookie_secret, "user", raw, max_age_days=SESSION_DAYS) if raw else None
        return value.decode("utf-8", "replace") if value else None
    login_id = (pn.state.headers or {}).get(LOGIN_HEADER)
    return _login_user_cached(login_id) if isinstance(login_id, str) and login_id else None


def current_user() -> str | None:
    """The signed-in user of the current Panel session, or None for an anonymous visitor."""
    from panel.config import config

    user = session_user()
    if not user or user == ANONYMOUS:
        return None
    if not config.oauth_provider and not _known(user):
        return None
    return user


def current_role(user: str | None = None) -> str | None:
    """The role the store gives the session's user (None if anonymous)."""
    from app.store_access import get_store

    user = current_user() if user is None else user
    return None if user is None else get_store().role_of(user)


def user_badge_html(user: str | None, role: str | None, path: str = "/explore") -> str:
    """Header text: a "Log in" link, or "name (role) · Log out" (names escaped)."""
    from urllib.parse import quote

    nxt = quote(path, safe="/")
    style = "color:inherit;font-weight:600"
    if user is None:
        return (
            f"<div class='xmm-user'><a id='xmm-login' href='login?next={inert(nxt)}' style='{style}'>Log in</a></div>"
        )
    return (
        f"<div class='xmm-user'><span id='xmm-user-name'>{inert(user)}</span> "
        f"<span style='opacity:.75'>({inert(role or '')})</span> · "
        f"<a id='xmm-logout' href='logout?next={inert(nxt)}' style='{style}'>Log out</a></div>"
    )


def user_badge(path: str = "/explore"):
    """A header pane for the current session (one per session, never shared)."""
    import panel as pn

    user = current_user()
    role = current_role(user) if user else None
    return pn.pane.HTML(
        user_badge_html(user, role, path), margin=(12, 14), align="center", styles={"white-space": "nowrap"}
    )


# -- server options ----------------------------------------------------------------------------
def private_secret(data_dir: Path, env: str, filename: str) -> str:
    """``$env``, else a secret generated once into ``data_dir/filename``, readable only by this user (0600).

    An existing file that others may read is narrowed to 0600 (with a warning).
    """
    value = os.environ.get(env)
    if value:
        return value
    path = Path(data_dir) / filename
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); narrowing it to 0600", path, mode)
            path.chmod(0o600)
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret


def cookie_secret(data_dir: Path) -> str:
    """``$XMM_EXPLORER_COOKIE_SECRET``, else one generated once into ``data_dir/.cookie_secret`` (0600)."""
    return private_secret(data_dir, COOKIE_SECRET_ENV, COOKIE_SECRET_FILE)


def session_secret(data_dir: Path) -> str:
    """``$XMM_EXPLORER_SESSION_SECRET``, else one generated once into ``data_dir/.session_secret`` (0600)."""
    return private_secret(data_dir, SESSION_SECRET_ENV, SESSION_SECRET_FILE)


def serve_args(data_dir: Path, extra: list[str]) -> list[str]:
    """``panel serve`` options for sign-in and signed sessions; the secrets go in the environment (not argv).

    Bokeh session ids are always signed (``BOKEH_SECRET_KEY``). With ``--oauth-provider`` or
    ``--basic-auth`` in ``extra`` Panel's provider is used instead of this module (and gets
    the same cookie secret unless one is given).
    """
    if not any(o.startswith("--cookie-secret") for o in extra) and not os.environ.get("PANEL_COOKIE_SECRET"):
        os.environ["PANEL_COOKIE_SECRET"] = cookie_secret(data_dir)
    os.environ["BOKEH_SECRET_KEY"] = session_secret(data_dir)
    args = ["--session-ids", "signed"]
    if any(o.startswith(("--oauth-provider", "--basic-auth", "--auth-module")) for o in extra):
        return args
    return [*args, "--auth-module", str(Path(__file__).resolve())]
