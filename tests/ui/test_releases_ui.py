"""Several releases side by side: switching in the browser, and permalinks that name the release."""

import re
import shutil

import pytest

from tests.ui.serving import browser, serve_app, wait_idle
from tests.ui.test_explore_ui import count_text, numbers, wait_until

pytestmark = pytest.mark.ui


@pytest.fixture(scope="module")
def two_releases(demo_data_dir, tmp_path_factory):
    from data_loaders.demo.stacked import write_stacked_demo
    from data_loaders.ingest_stacked import ingest_stacked

    root = tmp_path_factory.mktemp("two-releases") / "data"
    shutil.copytree(demo_data_dir, root, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    files = write_stacked_demo(root / "stacked", 3000, 5)
    ingest_stacked(
        files.catalogue,
        root,
        name="STACKED",
        title="4XMM stacked demo (synthetic)",
        observations=files.observations,
        synthetic=True,
    )
    return root


def test_switch_release_and_reload_its_permalink(two_releases):
    errors = []
    with serve_app(two_releases) as base, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1100})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/explore")
        wait_idle(page)
        first = wait_until(page, lambda: "pass" in (t := count_text(page)) and t, what="the count")
        page.locator("select:has(option[value='STACKED'])").select_option("STACKED")
        wait_until(page, lambda: "release=STACKED" in page.url, what="the release in the URL")
        wait_idle(page)
        wait_until(page, lambda: page.get_by_text(re.compile("4XMM stacked demo")).count() > 0, what="the new title")
        second = wait_until(page, lambda: "pass" in (t := count_text(page)) and t, what="the new count")
        assert numbers(second)[1] != numbers(first)[1]
        page.get_by_role("button", name="detections").click()
        wait_until(page, lambda: "level=detections" in page.url, what="the level in the URL")
        permalink = page.url
        page2 = b.new_page(viewport={"width": 1400, "height": 1100})
        page2.goto(permalink)
        wait_idle(page2)
        wait_until(page2, lambda: page2.get_by_text(re.compile("4XMM stacked demo")).count() > 0, what="release")
        wait_until(page2, lambda: "detections pass" in count_text(page2), what="the detection level")
    assert not [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e], errors
