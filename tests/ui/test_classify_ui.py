"""Browser journey: sign up, go through the tutorial, classify five sources, opt in, appear on the leaderboard."""

from __future__ import annotations

import pytest

from tests.ui.serving import browser, serve_app, wait_idle

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def test_volunteer_journey(writable_demo_data_dir):
    with serve_app(writable_demo_data_dir, page="classify") as base, browser() as b:
        page = b.new_page(viewport={"width": 1024, "height": 768})
        page.goto(f"{base}/classify", timeout=120_000)
        wait_idle(page, 120_000)
        # Below 1100 px the sidebar starts collapsed: the visitor opens it from the header to sign up.
        assert page.locator("#sidebar.hidden").count() == 1
        page.locator("#sidebar-button").click()
        page.wait_for_timeout(400)  # the sidebar slides in

        page.get_by_placeholder("3-24 letters").fill("comet_kid")
        page.get_by_placeholder("3-24 letters").press("Tab")
        page.get_by_placeholder("at least 8 characters").fill("halley1986")
        page.get_by_placeholder("at least 8 characters").press("Tab")
        page.get_by_role("button", name="Sign up and play").click()
        page.get_by_text("Hello, comet_kid!").wait_for(timeout=30_000)

        for _ in range(6):
            page.get_by_role("button", name="Next ▶").click()
            wait_idle(page)
        page.get_by_text("Step 7 of 7").wait_for()
        page.get_by_role("button", name="Let's play! ▶").click()
        wait_idle(page)

        for _ in range(5):
            page.get_by_role("button", name="Star", exact=True).click()
            page.get_by_role("button", name="Next source ➜").wait_for(timeout=30_000)
            page.get_by_role("button", name="Next source ➜").click()
            page.get_by_role("button", name="Next source ➜").wait_for(state="hidden", timeout=30_000)

        page.locator("input[type=checkbox]").check()
        wait_idle(page)
        page.get_by_text("Leaderboard", exact=True).click()
        wait_idle(page)
        row = page.locator(".tabulator-row", has_text="comet_kid")
        row.wait_for(timeout=30_000)
        assert "5" in row.inner_text()
