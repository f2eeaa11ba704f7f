"""Sign-in in a real browser: anonymous visitors explore, writing needs a login, login/logout work."""

from __future__ import annotations

import shutil

import pytest

from data_loaders.store import users
from tests.ui.serving import browser, serve_app, wait_idle

pytestmark = [pytest.mark.ui, pytest.mark.slow]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(demo_data_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("auth-ui") / "data"
    shutil.copytree(demo_data_dir, data, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    users.add_user(data / "users.json", "rev", PASSWORD, "reviewer")
    users.add_user(data / "users.json", "vic", PASSWORD, "viewer")
    users.add_user(data / "users.json", "ada", PASSWORD, "admin")
    from data_loaders.catalogue import load_catalogue
    from data_loaders.store import open_store

    cat = load_catalogue(data, "DEMO")
    items = [(int(r.SRCID), float(r.SC_RA), float(r.SC_DEC)) for r in cat.sources.iloc[:3].itertuples()]
    with open_store(None, data) as store:
        store.sync_users(data / "users.json")
        store.create_campaign("ada", "auth check", "DEMO", items)
    with serve_app(data, env={"XMM_EXPLORER_DB": ""}, page="login") as base:
        yield base, data


def login(page, base, name, nxt="/review"):
    page.goto(f"{base}/login?next={nxt}")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"**{nxt}")
    wait_idle(page, 60_000)


def test_anonymous_can_view_but_not_flag_then_logs_in_and_out(server):
    from data_loaders.store import open_store

    base, data = server
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/review")
        wait_idle(page, 60_000)
        page.get_by_text("You are browsing anonymously").wait_for(timeout=15_000)
        assert page.locator("#xmm-login").inner_text() == "Log in"
        page.locator(".xmm-flag-btn button").click()
        page.get_by_text("Sign in to do this").wait_for(timeout=15_000)

        page.goto(f"{base}/login?next=/review")
        page.fill("#username", "rev")
        page.fill("#password", "not the password")
        page.click("#login-submit")
        assert "Wrong user name or password." in page.locator("#login-error").inner_text()

        login(page, base, "vic")
        assert page.locator("#xmm-user-name").inner_text() == "vic"
        page.locator(".xmm-flag-btn button").click()
        page.get_by_text("User 'vic' has the role 'viewer'").wait_for(timeout=15_000)
        page.goto(f"{base}/logout?next=/explore")
        page.wait_for_url("**/explore")
    with open_store(None, data) as store:
        assert store.flag_events("DEMO").empty


def test_logging_out_ends_the_users_pages_in_other_browsers(server):
    """Two browsers signed in as the same reviewer; one logs out: the other's open page can no
    longer write (the login is revoked in the database, not only in the first browser)."""
    from data_loaders.store import open_store

    base, data = server
    with browser() as b:
        first = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        other = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        login(first, base, "rev")
        login(other, base, "rev")
        assert other.locator("#xmm-user-name").inner_text() == "rev"
        first.goto(f"{base}/logout?next=/explore")
        first.wait_for_url("**/explore")
        other.wait_for_timeout(2_500)  # the session re-checks its login every 2 s
        other.locator(".xmm-flag-btn button").click()
        other.get_by_text("Sign in to do this").wait_for(timeout=15_000)
        other.reload()
        wait_idle(other, 60_000)
        assert other.locator("#xmm-login").inner_text() == "Log in"
    with open_store(None, data) as store:
        assert store.flag_events("DEMO").empty
