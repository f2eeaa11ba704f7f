"""Sign-in helpers: cookie secret, serve options, the session's user and role, the header badge."""

from __future__ import annotations

import html
import os
import stat

import pytest

from app import auth, store_access
from tests.app import test_flags_view as _fixtures
from tests.app.test_flags_view import as_user
from tests.shown import shown

app_env = _fixtures.app_env  # shared pytest fixture


def test_cookie_secret_is_generated_once_private(tmp_path, monkeypatch):
    monkeypatch.delenv(auth.COOKIE_SECRET_ENV, raising=False)
    first = auth.cookie_secret(tmp_path)
    assert len(first) >= 40 and auth.cookie_secret(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / auth.COOKIE_SECRET_FILE).st_mode) == 0o600
    monkeypatch.setenv(auth.COOKIE_SECRET_ENV, "from-the-environment")
    assert auth.cookie_secret(tmp_path) == "from-the-environment"


def test_serve_args_use_this_module_and_keep_the_secret_off_argv(tmp_path, monkeypatch):
    monkeypatch.delenv("PANEL_COOKIE_SECRET", raising=False)
    monkeypatch.delenv(auth.COOKIE_SECRET_ENV, raising=False)
    args = auth.serve_args(tmp_path, [])
    assert args == ["--auth-module", auth.__file__]
    secret = os.environ["PANEL_COOKIE_SECRET"]
    assert secret == auth.cookie_secret(tmp_path) and secret not in args
    assert auth.serve_args(tmp_path, ["--oauth-provider", "generic"]) == []


def test_anonymous_names_are_no_user(app_env, monkeypatch):
    for name in (None, "", "guest"):
        as_user(monkeypatch, name)
        assert auth.current_user() is None and auth.current_role() is None


def test_signed_in_user_and_role_come_from_the_users_file(app_env, monkeypatch):
    as_user(monkeypatch, "rev")
    assert auth.current_user() == "rev" and auth.current_role() == "reviewer"
    as_user(monkeypatch, "vic")
    assert auth.current_role() == "viewer"


def test_removed_account_is_anonymous_even_with_a_valid_cookie(app_env, monkeypatch):
    from data_loaders.store import users

    as_user(monkeypatch, "rev")
    users.remove_user(store_access.users_file(), "rev")
    assert auth.current_user() is None


def test_store_is_opened_once_and_synced(app_env):
    store = store_access.get_store()
    assert store_access.get_store() is store
    assert store.role_of("ada") == "admin" and store.role_of("vic") == "viewer"


def test_badge_escapes_names():
    out = auth.user_badge_html("<b>eve</b>", "admin", "/review")
    assert "<b>eve</b>" not in out and "<b>eve</b>" in shown(out) and "logout?next=/review" in html.unescape(out)
    assert "login?next=/explore" in html.unescape(auth.user_badge_html(None, None))


def test_login_page_escapes_the_reflected_error():
    page = auth.login_page("/login", "<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in page and "<script>alert(1)</script>" in shown(page)


class _Request:
    def __init__(self):
        self.cookies = {"user": "x"}


class _Handler:
    def __init__(self, cookie):
        self.cookie = cookie
        self.request = _Request()

    def get_secure_cookie(self, name, max_age_days=None):
        assert name == "user" and max_age_days == auth.SESSION_DAYS
        return self.cookie


@pytest.mark.parametrize(("cookie", "expected"), [(None, "guest"), (b"rev", "rev"), (b"mallory", "guest")])
def test_get_user_lets_everyone_in_as_guest_unless_signed_in(app_env, cookie, expected):
    assert auth.get_user(_Handler(cookie)) == expected
