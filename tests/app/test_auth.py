"""Sign-in helpers: cookie secret, serve options, the session's user and role, the header badge."""

from __future__ import annotations

import html
import os
import stat

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


def test_serve_args_use_this_module_sign_sessions_and_keep_the_secrets_off_argv(tmp_path, monkeypatch):
    for name in ("PANEL_COOKIE_SECRET", "BOKEH_SECRET_KEY", auth.COOKIE_SECRET_ENV, auth.SESSION_SECRET_ENV):
        # set, then delete: monkeypatch then restores the variable's absence after the test, so the
        # secrets serve_args puts into os.environ do not leak into later servers of the same run
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    args = auth.serve_args(tmp_path, [])
    assert args == ["--session-ids", "signed", "--auth-module", auth.__file__]
    secret, session_secret = os.environ["PANEL_COOKIE_SECRET"], os.environ["BOKEH_SECRET_KEY"]
    assert secret == auth.cookie_secret(tmp_path) and secret not in args
    assert session_secret == auth.session_secret(tmp_path) != secret and len(session_secret) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / auth.SESSION_SECRET_FILE).st_mode) == 0o600
    assert auth.serve_args(tmp_path, ["--oauth-provider", "generic"]) == ["--session-ids", "signed"]


def test_a_secret_file_others_can_read_is_narrowed_to_the_owner(tmp_path, monkeypatch):
    monkeypatch.delenv(auth.SESSION_SECRET_ENV, raising=False)
    path = tmp_path / auth.SESSION_SECRET_FILE
    path.write_text("s" * 64 + "\n")
    path.chmod(0o644)
    assert auth.session_secret(tmp_path) == "s" * 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


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
