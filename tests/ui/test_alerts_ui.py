"""The Alerts page in a real browser: load, filter by type, click an alert, review it as a reviewer."""

from __future__ import annotations

import shutil

import pytest

from data_loaders.alerts import release as task
from data_loaders.store import users
from tests.ui.serving import browser, serve_app, wait_idle

pytestmark = [pytest.mark.ui, pytest.mark.slow]
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(demo_data_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("alerts-ui") / "data"
    shutil.copytree(demo_data_dir, data, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    task.compute_release_alerts(data, "DEMO")
    users.add_user(data / "users.json", "rev", PASSWORD, "reviewer")
    with serve_app(data, env={"XMM_EXPLORER_DB": ""}, page="alerts") as base:
        yield base, data


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "ERR_NAME_NOT_RESOLVED" not in m.text else None,
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_filter_by_type_click_an_alert_and_review_it(server):
    from data_loaders.store import open_store

    base, data = server
    with browser() as b:
        page = b.new_page(viewport={"width": 1500, "height": 1000})
        errors = _console_errors(page)
        page.goto(f"{base}/alerts")
        wait_idle(page, 90_000)
        page.wait_for_selector(".tabulator-row", timeout=60_000)
        # Keep only short-term alerts: remove the other four type chips.
        alerts = task.load_release_alerts(data / "releases" / "DEMO")
        remaining = len(alerts)
        for atype in ("rising", "falling", "long_term_variable", "new_source"):
            chip = page.locator(f".choices__list--multiple .choices__item[data-value='{atype}']")
            chip.locator(".choices__button").click()
            page.keyboard.press("Escape")
            remaining -= int((alerts["ALERT_TYPE"] == atype).sum())
            page.wait_for_selector(f".xmm-count b:text-is('{remaining:,}')", timeout=20_000)
        page.wait_for_selector(f"text={remaining:,} alerts", timeout=20_000)  # the table's page line
        wait_idle(page)
        types = set(page.locator(".tabulator-row .tabulator-cell[tabulator-field='type']").all_inner_texts())
        assert types == {"short-term"}
        first = page.locator(".tabulator-row").first
        name = first.locator(".tabulator-cell[tabulator-field='source']").inner_text()
        first.click()
        page.wait_for_selector(f"h3:has-text('{name}')", timeout=20_000)
        assert page.get_by_text("Log in to review").is_visible()
        assert page.get_by_text("Open in the Source view").count() == 1

        page.goto(f"{base}/login?next=/alerts")
        page.fill("#username", "rev")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url("**/alerts")
        wait_idle(page, 60_000)
        page.wait_for_selector(".tabulator-row", timeout=60_000)
        page.locator(".tabulator-row").first.click()
        page.wait_for_selector("h3.xmm-card, .xmm-card h3", timeout=20_000)
        page.get_by_role("button", name="confirmed").click()
        page.wait_for_selector("text=Recorded 'confirmed'", timeout=20_000)
        page.screenshot(path=str(data / "alerts-ui.png"), full_page=True)
        assert errors == []

    with open_store(None, data) as store:
        ev = store.flag_events("DEMO")
    assert list(ev["label"]) == ["alert-confirmed"] and list(ev["user"]) == ["rev"]
