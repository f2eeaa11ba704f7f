"""The Explore page served with ``--dask local:1`` in headless Chromium: banner, count, sky, a filter, a cone."""

import re

import pytest

from tests.ui.serving import browser, serve_app, wait_idle
from tests.ui.test_explore_ui import numbers, wait_until

pytestmark = pytest.mark.ui

#: The sky image in the page: its shape and how many pixels are not empty.
_IMAGE = """
() => {
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (m.type === 'ColumnDataSource' && m.data && ('image' in m.data)) {
        const img = m.data.image[0];
        let filled = 0;
        for (let i = 0; i < img.length; i++) if (img[i] !== 0) filled++;
        return {shape: Array.from(img.shape || []), filled: filled};
      }
    }
  }
  return null;
}
"""


@pytest.fixture(scope="module")
def partitioned_data_dir(tmp_path_factory):
    from data_loaders.demo.partitioned import write_partitioned_demo

    root = tmp_path_factory.mktemp("dask-ui")
    write_partitioned_demo(root, "BIG", 40_000, 9, workers=0, rows_per_partition=20_000, row_group_size=5_000)
    return root


def count_text(page) -> str:
    return page.get_by_text(re.compile("pass the filters")).first.inner_text()


def test_explore_on_dask(partitioned_data_dir):
    errors = []
    env = {"XMM_EXPLORER_DASK_PARTITION_ROWS": "10000"}
    with serve_app(partitioned_data_dir, "--dask", "local:1", env=env) as base, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1100})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/explore")
        wait_idle(page)
        banner = page.get_by_text(re.compile("this page runs on")).first.inner_text()
        assert banner.startswith("Dask backend") and "1 worker" in banner and "4 partitions" in banner

        start = wait_until(page, lambda: "pass" in (t := count_text(page)) and t, what="the count")
        filtered, total = numbers(start)[:2]
        assert filtered == total > 0

        image = wait_until(page, lambda: (im := page.evaluate(_IMAGE)) and im["filled"] > 0 and im, what="the sky")
        assert len(image["shape"]) == 2 and min(image["shape"]) > 100  # drawn at the frame's size

        page.get_by_role("button", name="clean point sources").click()
        after = wait_until(page, lambda: (t := count_text(page)) != start and t, what="a new count")
        assert 0 < numbers(after)[0] < total

        page.get_by_placeholder(re.compile("M31")).fill("266.4 -29.0 r=2deg")
        page.get_by_role("button", name="Search").click()
        cone = wait_until(page, lambda: "in the cone" in (t := count_text(page)) and t, what="the cone count")
        assert numbers(cone)[0] == numbers(after)[0]
        assert page.get_by_text(re.compile(r"read \d+ of \d+ row groups")).count() >= 1
        # the busy indicator ("Dask: drawing the sky…") goes away once the cluster has answered
        wait_until(page, lambda: page.get_by_text(re.compile("^Dask: ")).count() == 0, what="the page to be idle")
    assert not errors, errors
