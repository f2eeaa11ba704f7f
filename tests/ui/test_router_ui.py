"""Pages in headless Chromium through ``serve --num-procs 2``: the router relays the page, its
resources and its websocket, and several tabs at once each get a working page."""

import pytest

from tests.ui.serving import browser, serve_app, wait_idle
from tests.ui.test_explore_ui import count_text, numbers, wait_count_change, wait_until

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def test_tabs_through_the_router_each_work(demo_data_dir, tmp_path):
    errors = []
    with serve_app(demo_data_dir, "--num-procs", "2", timeout=180) as base, browser() as b:
        pages = []
        for _ in range(3):  # opened together: each GET and its websocket must meet in one process
            page = b.new_page(viewport={"width": 1400, "height": 1100})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/explore", wait_until="commit")
            pages.append(page)
        for page in pages:
            wait_idle(page, timeout=90_000)
            start = wait_until(page, lambda p=page: "pass" in (t := count_text(p)) and t, 60, "the count")
            assert numbers(start)[0] == numbers(start)[1] > 0
        last = pages[-1]
        before = count_text(last)
        last.get_by_role("button", name="clean point sources").click()  # a round trip on the websocket
        assert numbers(wait_count_change(last, before))[0] < numbers(before)[0]
        last.screenshot(path=str(tmp_path / "explore-router.png"), full_page=True)
        source = pages[0]
        source.goto(f"{base}/source")
        wait_idle(source, timeout=90_000)
        wait_until(source, lambda: source.get_by_text("Lightcurve", exact=False).count() > 0, 60, "the Source page")
    assert not [e for e in errors if "websocket" in e.lower() or "disconnected" in e.lower()], errors
