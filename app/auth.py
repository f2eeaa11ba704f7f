"""Sign-in for XMM Explorer: a Bokeh auth module with optional login, and who the session's user is.

``xmm-explorer serve`` passes this file to ``panel serve --auth-module``. Every page is open
to anonymous visitors (``get_user`` returns ``"guest"``, which Tornado accepts and the Store
treats as anonymous); ``/login`` checks the salted scrypt hashes of the users file
(``data_loaders.store.users``) and sets Tornado's signed ``user`` cookie, ``/logout`` clears
it. Roles are never decided here: every Store write method checks the acting user's role,
and views pass ``current_user()`` as that user. With ``--oauth-provider`` Panel's own OAuth
provider replaces this module (see ``deploy/AUTH.md``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import tornado.escape
import tornado.web
from panel.auth import BasicLoginHandler, _validate_next_url

from app.text import inert

LOGIN_URL = "/login"
LOGOUT_URL = "/logout"
#: Days a sign-in lasts (the signed cookie's lifetime, checked on every request).
SESSION_DAYS = 7
COOKIE_SECRET_ENV = "XMM_EXPLORER_COOKIE_SECRET"  # noqa: S105 - a variable name
COOKIE_SECRET_FILE = ".cookie_secret"  # noqa: S105 - a file name
ANONYMOUS = "guest"

# Bokeh's AuthModule reads these names: optional login on every page.
login_url = LOGIN_URL
logout_url = LOGOUT_URL


def _users_file() -> Path:
    from app.store_access import users_file

    return users_file()


def _known(name: str) -> bool:
    """True if ``name`` still has an account (a removed user's old cookie stops working)."""
    from data_loaders.store import users

    try:
        return users.role_of(_users_file(), name) is not None
    except ValueError:
        return False


def get_user(request_handler) -> str:
    """The signed-in user of a request, or ``"guest"``: every page and websocket is open to visitors."""
    raw = request_handler.get_secure_cookie("user", max_age_days=SESSION_DAYS)
    name = raw.decode("utf-8", "replace") if raw else None
    if name and _known(name):
        return name
    request_handler.request.cookies.pop("user", None)
    return ANONYMOUS


def _next_url(handler, default: str = "/explore") -> str:
    return _validate_next_url(handler.get_argument("next", "") or handler.get_cookie("next_url", "")) or default


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
    """``/login``: a form checked against the users file's scrypt hashes (never plaintext)."""

    _login_endpoint = LOGIN_URL

    def get(self):
        next_url = _next_url(self)
        self.set_cookie("next_url", next_url, httponly=True)
        error = self.get_argument("error", "")
        self.write(login_page(self.request.path, error, back=next_url))

    def _validate(self, username, password):
        from data_loaders.store import users

        try:
            return users.verify_password(_users_file(), username, password)
        except ValueError:
            return False

    def post(self):
        username = self.get_argument("username", "").strip()
        password = self.get_argument("password", "")
        if self._validate(username, password):
            self.set_current_user(username)
            self.redirect(_next_url(self))
        else:
            self.redirect(f"{self.request.path}?error=" + tornado.escape.url_escape("Wrong user name or password."))

    def set_current_user(self, user):
        from panel.config import config

        self.clear_cookie("is_guest")
        self.set_secure_cookie("user", user, expires_days=SESSION_DAYS, httponly=True, path=config.cookie_path)


class LogoutHandler(tornado.web.RequestHandler):
    """``/logout``: forget the sign-in and go back to where the visitor was."""

    def get(self):
        for name in ("user", "id_token", "access_token", "refresh_token", "is_guest", "next_url"):
            self.clear_cookie(name)
        self.redirect(_next_url(self))


# -- the session's user ------------------------------------------------------------------------
def current_user() -> str | None:
    """The signed-in user of the current Panel session, or None for an anonymous visitor."""
    import panel as pn
    from panel.config import config

    user = pn.state.user
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
def cookie_secret(data_dir: Path) -> str:
    """``$XMM_EXPLORER_COOKIE_SECRET``, else one generated once into ``data_dir/.cookie_secret`` (0600)."""
    env = os.environ.get(COOKIE_SECRET_ENV)
    if env:
        return env
    path = Path(data_dir) / COOKIE_SECRET_FILE
    try:
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


def serve_args(data_dir: Path, extra: list[str]) -> list[str]:
    """``panel serve`` options for sign-in; puts the cookie secret in the environment (not argv).

    With ``--oauth-provider``/``--basic-auth`` in ``extra`` Panel's provider is used instead of
    this module (and gets the same cookie secret unless one is given).
    """
    if not any(o.startswith("--cookie-secret") for o in extra) and not os.environ.get("PANEL_COOKIE_SECRET"):
        os.environ["PANEL_COOKIE_SECRET"] = cookie_secret(data_dir)
    if any(o.startswith(("--oauth-provider", "--basic-auth", "--auth-module")) for o in extra):
        return []
    return ["--auth-module", str(Path(__file__).resolve())]
