"""The Explore page in headless Chromium: load, zoom, galactic, preset, HR lasso, go-to, tap, export, flag, permalink.

The journey runs on both catalogue engines: in memory, and ``serve --dask local:1`` (the same page).
"""

import json
import re

import pytest

from data_loaders.store import users
from tests.ui.serving import browser, serve_app, wait_idle

pytestmark = pytest.mark.ui


def count_text(page) -> str:
    # Panel renders panes inside shadow roots: locate by text, which Playwright pierces.
    return page.get_by_text(re.compile("pass the filters")).first.inner_text()


def wait_until(page, predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll ``predicate()`` (Playwright locators pierce Panel's shadow DOM; JS querySelector does not)."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
        except Exception:  # element not there yet
            value = None
        if value:
            return value
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}")


def numbers(text: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"[\d,]+", text)]


def wait_count_change(page, before: str) -> str:
    return wait_until(page, lambda: (t := count_text(page)) != before and "pass" in t and t, what="a new count")


def settled_count(page, timeout: float = 30.0) -> str:
    """The count once the page is idle and it reads the same twice a second apart.

    A preset sets several parameters; each may update the count on its own, so the first new
    count can be an intermediate one on a loaded machine.
    """
    last = None

    def same_twice():
        nonlocal last
        wait_idle(page)
        now = count_text(page)
        stable, last = now == last, now
        if not stable:
            page.wait_for_timeout(1000)
        return stable and now

    return wait_until(page, same_twice, timeout=timeout, what="a settled count")


def canvas_box(page, index: int):
    """Bounding box of the index-th Bokeh plot canvas on the page (0 = sky)."""
    canvases = page.locator(".bk-Canvas, .bk-canvas-events")
    return canvases.nth(index).bounding_box()


def preset_counts(catalogue, *presets: str) -> list[int]:
    """Rows passing the filters of each preset, counted in this process (the expected answers)."""
    from app.state import ExploreState

    out = []
    for name in presets:
        st = ExploreState(catalogue)
        st.apply_preset(name)
        out.append(st.counts()["filtered"])
    return out


def presets_while_the_cluster_is_busy(page, base: str, start: str, bright_then_clean: tuple[int, int]) -> str:
    """Occupy the page's one-worker cluster with a task blocked on a ``distributed.Event``, click two
    presets, check that the process still answers, then release it; the count once settled."""
    import urllib.request

    import distributed

    bright, clean = bright_then_clean
    assert bright != clean
    banner = page.get_by_text(re.compile("this page runs on")).first.inner_text()
    address = re.search(r"scheduler (\S+) ·", banner).group(1)
    with distributed.Client(address, timeout=30) as client:
        gate = distributed.Event("xmm-test-gate", client=client)
        blocker = client.submit(gate.wait, pure=False)
        wait_until(page, lambda: any(blocker.key in keys for keys in client.processing().values()), what="the blocker")
        page.get_by_role("button", name="bright").click()
        page.get_by_role("button", name="clean point sources").click()
        page.wait_for_timeout(500)
        # the views' computations wait on the cluster; the event loop still serves everyone
        with urllib.request.urlopen(f"{base}/health", timeout=30) as r:  # noqa: S310 - loopback
            assert json.loads(r.read())["n_sessions"] >= 1
        with urllib.request.urlopen(f"{base}/explore", timeout=60) as r:  # noqa: S310 - a second session
            assert r.status == 200 and b"bokeh" in r.read().lower()
        assert count_text(page) == start and blocker.status == "pending"
        gate.set()
        seen = []
        wait_until(page, lambda: seen.append(count_text(page)) or seen[-1] != start, what="the newest count")
        blocker.result(timeout=30)
    after = settled_count(page)
    assert numbers(after)[0] == clean
    assert not any(numbers(t)[0] == bright for t in seen), seen  # the first preset's answer came stale
    return after


@pytest.mark.parametrize("engine", [(), ("--dask", "local:1")], ids=["memory", "dask"])
def test_explore_journey(writable_demo_data_dir, demo_catalogue, tmp_path, engine):
    errors = []
    data = writable_demo_data_dir
    users.add_user(data / "users.json", "rev", "correct horse battery", "reviewer")
    with serve_app(data, *engine, env={"XMM_EXPLORER_DB": ""}) as base, browser() as b:
        page = b.new_page(viewport={"width": 1500, "height": 1800})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # a reviewer signs in first (flagging needs the role); the login page leads to Explore
        page.goto(f"{base}/login?next=/explore")
        page.fill("#username", "rev")
        page.fill("#password", "correct horse battery")
        page.click("#login-submit")
        page.wait_for_url("**/explore")
        wait_idle(page, 60_000)
        start = wait_until(page, lambda: "pass" in (t := count_text(page)) and t, what="the count")
        total = numbers(start)[1]
        assert numbers(start)[0] == total > 0
        assert page.get_by_text("synthetic demo data").count() >= 1
        if engine:
            banner = page.get_by_text(re.compile("this page runs on")).first.inner_text()
            assert banner.startswith("Dask backend") and "1 worker" in banner

        # zoom the sky with the mouse wheel: the view (x/y ranges) lands in the URL
        sky = canvas_box(page, 0)
        page.mouse.move(sky["x"] + sky["width"] / 2, sky["y"] + sky["height"] / 2)
        page.mouse.wheel(0, -600)
        page.wait_for_function("() => location.search.includes('x=')", timeout=15_000)

        # galactic frame
        page.locator("select:has(option[value='galactic'])").select_option("galactic")
        page.wait_for_function("() => location.search.includes('frame=galactic')", timeout=15_000)

        # a preset narrows the count
        clean, bright = preset_counts(demo_catalogue, "clean point sources", "bright")
        if engine:
            # On Dask the views compute off the event loop: while the cluster is busy, /health and
            # another session still answer, a stale answer is dropped and the newest one shown.
            after_preset = presets_while_the_cluster_is_busy(page, base, start, bright_then_clean=(bright, clean))
        else:
            page.get_by_role("button", name="clean point sources").click()
            after_preset = wait_count_change(page, start)
        assert numbers(after_preset)[0] == clean < total

        # lasso on the HR diagram: a selection appears in the count
        hr = canvas_box(page, 1)
        cx, cy = hr["x"] + hr["width"] * 0.5, hr["y"] + hr["height"] * 0.55
        page.mouse.move(cx - 60, cy - 60)
        page.mouse.down()
        for dx, dy in ((60, -60), (60, 60), (-60, 60), (-60, -60)):
            page.mouse.move(cx + dx, cy + dy, steps=6)
        page.mouse.up()
        after_lasso = wait_count_change(page, after_preset)
        assert "selected" in after_lasso
        assert 0 < numbers(after_lasso)[2] < numbers(after_lasso)[0]

        # a typed query narrows the selection further (ANDed with the lasso)
        query = page.get_by_placeholder("sc_det_ml > 100 and cone('M31', 1deg)")
        query.fill("sc_det_ml > 30")
        query.press("Enter")
        after_query = wait_count_change(page, after_lasso)
        assert 0 < numbers(after_query)[2] < numbers(after_lasso)[2]

        # go to a source by name: the card shows it
        name = page.locator(".tabulator-cell[tabulator-field='IAUNAME']").first.inner_text()
        box = page.get_by_placeholder("Go to: coordinates, name, SRCID, OBS_ID…")
        box.fill(name)
        box.press("Enter")
        wait_until(page, lambda: page.get_by_text("Open the full source page").count() > 0, what="the source card")
        wait_until(page, lambda: page.locator("h3", has_text=name).count() > 0, what="the source name on the card")
        # clear the card, then tap the centre of the sky (the view is centred on that source)
        page.get_by_role("button", name="clear selection").click()
        sky = canvas_box(page, 0)
        page.mouse.click(sky["x"] + sky["width"] / 2, sky["y"] + sky["height"] / 2)
        page.wait_for_timeout(1500)
        wait_until(page, lambda: page.locator("h3", has_text=name).count() > 0, what="the tapped source")
        page.screenshot(path=str(tmp_path / "explore.png"), full_page=True)

        # collapsed panels are built when first opened
        page.get_by_text("Export · SAMP · import a list").click()
        send = page.get_by_role("button", name=re.compile("Send to"))
        wait_until(page, lambda: send.count() > 0, what="the export panel")
        # the selection downloads as a FITS file (the default format)
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name=re.compile("^Download")).click()
        fits_path = tmp_path / f"selection-{bool(engine)}.fits"
        download.value.save_as(fits_path)
        assert fits_path.read_bytes()[:6] == b"SIMPLE"

        # the reviewer flags the tapped source from the page
        page.get_by_text("Flag this source or the selection (reviewers)").click()
        page.locator(".xmm-flag-btn button").click()
        flagged = page.get_by_text(re.compile(r"Flagged 1 source as "))
        wait_until(page, lambda: flagged.count() > 0, what="the flag's confirmation")

        # the permalink restores the same counts and source
        url = page.url
        final = count_text(page)
        assert "src=" in url and "quality=clean" in url
        page2 = b.new_page(viewport={"width": 1500, "height": 1800})
        page2.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page2.goto(url)
        wait_idle(page2)
        wait_until(page2, lambda: count_text(page2) == final, what="the permalink's count")
        wait_until(page2, lambda: page2.locator("h3", has_text=name).count() > 0, what="the source after reload")
        page2.screenshot(path=str(tmp_path / "explore-permalink.png"), full_page=True)
        port = base.rsplit(":", 1)[1].split("/")[0]
    assert not [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e], errors
    # no exception on the server either (e.g. a model changed without Bokeh's document lock)
    log = (data / f"server-{port}.log").read_text(errors="replace")
    assert "Traceback" not in log, log[log.find("Traceback") - 300 :][:3000]
    from data_loaders.store import open_store

    with open_store(None, data) as store:
        events = store.flag_events("DEMO")
    assert list(events["user"]) == ["rev"] and list(events["action"]) == ["flag"]


@pytest.fixture(scope="module")
def shared_explore(demo_data_dir):
    """One server and one browser for the read-only Explore checks below."""
    with serve_app(demo_data_dir) as base, browser() as b:
        yield base, b


def test_back_and_forward_restore_views(shared_explore):
    base, b = shared_explore
    page = b.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{base}/explore")
    wait_idle(page)
    wait_until(page, lambda: "pass" in count_text(page), what="the count")
    start = settled_count(page)
    page.get_by_role("button", name="extended").first.click()  # the preset, not the extent toggle
    wait_count_change(page, start)
    wait_until(page, lambda: "extent=extended" in page.url, what="the preset in the URL")
    narrowed = settled_count(page)
    page.go_back()
    wait_until(page, lambda: "extent=extended" not in page.url, what="the previous URL")
    wait_idle(page)
    wait_until(page, lambda: count_text(page) == start, what="the count before the preset", timeout=60)
    page.go_forward()
    wait_idle(page)
    wait_until(page, lambda: count_text(page) == narrowed, what="the count after the preset", timeout=60)
    page.close()


def test_light_theme_and_unknown_theme_argument_still_render(shared_explore):
    base, b = shared_explore
    for theme in ("light", "purple"):
        page = b.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{base}/explore?theme={theme}")
        wait_idle(page)
        wait_until(page, lambda p=page: "pass" in count_text(p), what=f"the count with theme={theme}")
        page.close()
