"""The Source page in a real browser: a source with products, one without, and an unknown id."""

from __future__ import annotations

import pytest

from data_loaders.catalogue import Catalogue
from tests.ui.serving import browser, serve_app, wait_idle

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


def _text(page) -> str:
    return page.evaluate(ALL_TEXT)


def _wait_text(page, needle: str, timeout: float = 30_000) -> None:
    page.wait_for_function(f"() => ({ALL_TEXT})().includes({needle!r})", timeout=timeout)


def _open(page, url):
    page.goto(url)
    wait_idle(page)
    _wait_text(page, "Detections")
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
