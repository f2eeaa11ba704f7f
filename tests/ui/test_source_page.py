"""The Source page in a real browser: a source with products, one without, an unknown id, the URL's
OBS_ID, and a stacked release (no products, no TSERIES, no bands 6 and 7)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from app.views.source.state import default_observation, source_detections
from data_loaders.catalogue import Catalogue
from tests.ui.serving import browser, scroll_through, serve_app, wait_idle

pytestmark = [pytest.mark.ui, pytest.mark.slow]

PANEL_TITLES = (
    "Long-term lightcurve",
    "EPIC lightcurve of the observation",
    "EPIC spectrum",
    "Band fluxes and hardness",
    "Classification",
    "Counterparts",
    "Detections",
)


def _sources(data_dir):
    cat = Catalogue(data_dir / "releases" / "DEMO")
    det = cat.detections
    with_products = det[det["TSERIES"].to_numpy(bool)].nlargest(1, "EP_8_FLUX")
    without = det[~det["TSERIES"].to_numpy(bool) & ~det["SPECTRA"].to_numpy(bool)]
    only_without = without[~without["SRCID"].isin(det.loc[det["TSERIES"].to_numpy(bool), "SRCID"])]
    return int(with_products["SRCID"].iloc[0]), int(only_without["SRCID"].iloc[0])


#: Text of the whole page including Panel's shadow roots (innerText alone stops at them).
ALL_TEXT = """() => {
  const parts = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent);
      else if (child.nodeType === Node.ELEMENT_NODE && !['SCRIPT', 'STYLE'].includes(child.tagName)) walk(child);
    }
  };
  walk(document.body);
  return parts.join(' ');
}"""
CANVASES = """() => {
  let n = 0;
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children || []) { if (child.tagName === 'CANVAS') n++; walk(child); }
  };
  walk(document.body);
  return n;
}"""


#: The options and the chosen option of every <select> on the page (band, observation, rebin, grouping).
SELECTS = """() => {
  const out = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children || []) {
      if (child.tagName === 'SELECT') out.push({value: child.value, options: [...child.options].map(o => o.text)});
      walk(child);
    }
  };
  walk(document.body);
  return out;
}"""


def _text(page) -> str:
    return page.evaluate(ALL_TEXT)


def _wait_text(page, needle: str, timeout: float = 30_000) -> None:
    page.wait_for_function(f"() => ({ALL_TEXT})().includes({needle!r})", timeout=timeout)


def _open(page, url):
    """Open ``url`` and scroll to the bottom, so that the panels made when first seen are made."""
    page.goto(url)
    wait_idle(page)
    _wait_text(page, "Find a source")
    scroll_through(page)
    page.wait_for_timeout(1500)
    return _text(page)


def test_source_page_with_and_without_products(writable_demo_data_dir, tmp_path):
    with_products, without_products = _sources(writable_demo_data_dir)
    with serve_app(writable_demo_data_dir, page="source") as base, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 2600})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        text = _open(page, f"{base}/source?release=DEMO&srcid={with_products}")
        for title in PANEL_TITLES:
            assert title in text, title
        _wait_text(page, "In-observation variability")
        text = _text(page)
        assert "Traceback" not in text and "In-observation variability" in text
        assert page.evaluate(CANVASES) >= 6
        assert "srcid=" in page.url and "obs=" in page.url
        page.screenshot(path=str(tmp_path / "source-with-products.png"), full_page=True)

        # Another source in the same session: the figures take its data in place.
        search = page.get_by_placeholder("SRCID, DETID or 4XMM J…")
        search.fill(str(without_products))
        search.press("Enter")
        _wait_text(page, "TSERIES = F")
        assert "Traceback" not in _text(page) and page.evaluate(CANVASES) >= 3

        text = _open(page, f"{base}/source?release=DEMO&srcid={without_products}")
        assert "not available" in text and "TSERIES = F" in text
        assert "Band fluxes and hardness" in text and page.evaluate(CANVASES) >= 3
        page.screenshot(path=str(tmp_path / "source-without-products.png"), full_page=True)

        page.goto(f"{base}/source?release=DEMO&srcid=999")
        wait_idle(page)
        _wait_text(page, "No source with SRCID 999")
        assert "Bright sources to try" in _text(page)

    real = [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e]
    assert real == []


def _query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_the_url_keeps_obs_ids_as_strings(writable_demo_data_dir):
    """obs=0010000301 in a link selects that observation, and stays 0010000301 after another source."""
    cat = Catalogue(writable_demo_data_dir / "releases" / "DEMO")
    det = cat.detections
    counts = det.groupby("SRCID").size()
    first, second = (int(s) for s in counts[counts >= 3].index[:2])
    default = default_observation(source_detections(cat, first))
    wanted = next(o for o in sorted(det.loc[det["SRCID"] == first, "OBS_ID"].astype(str)) if o != default)
    with serve_app(writable_demo_data_dir, page="source") as base, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1600})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        _open(page, f"{base}/source?release=DEMO&srcid={first}&obs={wanted}")
        assert _query(page)["obs"] == wanted
        assert f"{wanted} (" in [s["value"][:12] for s in page.evaluate(SELECTS)]  # the chooser: "OBS_ID (date)"

        search = page.get_by_placeholder("SRCID, DETID or 4XMM J…")
        search.fill(str(second))
        search.press("Enter")
        page.wait_for_function(f"() => location.search.includes('srcid={second}')", timeout=30_000)
        page.wait_for_timeout(1000)
        query = _query(page)
        shown = set(det.loc[det["SRCID"] == second, "OBS_ID"].astype(str))
        assert len(query["obs"]) == 10 and query["obs"] in shown
        assert f"{query['obs']} (" in [s["value"][:12] for s in page.evaluate(SELECTS)]
    assert [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e] == []


@pytest.fixture(scope="module")
def stacked_data_dir(tmp_path_factory):
    from data_loaders.demo.stacked import write_stacked_demo
    from data_loaders.ingest_stacked import ingest_stacked

    root = tmp_path_factory.mktemp("stacked-ui")
    files = write_stacked_demo(root / "demo", 6000, 11)
    ingest_stacked(files.catalogue, root, name="ST", observations=files.observations, synthetic=True)
    return root


def test_source_page_of_a_stacked_release(stacked_data_dir):
    """Every panel of a source with upper limits renders: no console error, no server traceback."""
    cat = Catalogue(stacked_data_dir / "releases" / "ST")
    lt = cat.longterm
    srcid = int(lt.loc[lt["UPPER_LIMIT"], "SRCID"].value_counts().index[0])
    with serve_app(stacked_data_dir, page="source") as base, browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 2600})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        text = _open(page, f"{base}/source?release=ST")  # no source: the sidebar's examples
        assert "Bright sources to try" in text and text.count("4XMMs J") >= 8

        text = _open(page, f"{base}/source?release=ST&srcid={srcid}&band=6")
        for title in PANEL_TITLES:
            assert title in text, title
        assert "upper limit" in text and "not available" in text and "Traceback" not in text
        assert page.evaluate(CANVASES) >= 4  # long-term, band fluxes, hardness, classification
        bands = next(s for s in page.evaluate(SELECTS) if s["options"][0].startswith("band 8"))
        assert not any(o.startswith(("band 6", "band 7")) for o in bands["options"])
        assert _query(page)["band"] == "8"  # band 6 of the link is not in this release
    logs = "".join(f.read_text() for f in stacked_data_dir.glob("server-*.log"))
    assert "Traceback" not in logs and " ERROR " not in logs
    assert [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e] == []
