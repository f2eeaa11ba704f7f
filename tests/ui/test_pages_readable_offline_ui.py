"""Every page in both themes, as a visitor sees it in Chromium: readable, offline-safe, and no
heavier to open than its recorded budget.

- axe-core's colour-contrast rule (WCAG AA) finds nothing, also for text added after load: the
  Explore page's export and flag cards, every step of the Classify tutorial, the Source page's
  panels made when scrolled into view. axe-core does not reach text in some of Panel's nested
  shadow roots (the export card's labels in light-theme colours on the dark theme went unreported),
  so ``low_contrast_text.js`` also measures every visible text against the background behind it.
- The dark theme is dark everywhere (the main area as well as the sidebar).
- No request leaves the machine: every request to an address that is not loopback is blocked
  and recorded, and the test fails on any attempt (fonts, stylesheets, tiles, scripts).

- Opening each page builds no more Bokeh models and exchanges no more websocket messages than its
  budget (issue 19's guard against regressions without timing: counts, not seconds).

One server and one browser serve all tests here (the suite's time budget).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.ui.serving import browser, scroll_through, serve_app, wait_idle

#: Every visible text's contrast with the opaque background behind it, through shadow roots (WCAG AA).
LOW_CONTRAST_TEXT = (Path(__file__).with_name("low_contrast_text.js")).read_text()

pytestmark = [pytest.mark.ui, pytest.mark.slow]

PAGES = ("explore", "source", "alerts", "review", "classify", "outreach")
THEMES = ("dark", "default")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

#: Relative luminance of the main area's background colour (0 black .. 1 white).
BACKGROUND_LUMINANCE = """() => {
  const main = document.querySelector('#main') || document.body;
  let el = main, colour = 'rgba(0, 0, 0, 0)';
  while (el && (colour === 'rgba(0, 0, 0, 0)' || colour === 'transparent')) {
    colour = getComputedStyle(el).backgroundColor; el = el.parentElement;
  }
  const [r, g, b] = colour.match(/[\\d.]+/g).slice(0, 3).map(Number).map((c) => {
    c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def _contrast_violations(axe, page, where: str) -> list[str]:
    result = axe.run(page, options={"runOnly": ["color-contrast"], "resultTypes": ["violations"]})
    found = []
    for violation in result.response["violations"]:
        for node in violation["nodes"]:
            message = (node.get("any") or [{}])[0].get("message", "")
            found.append(f"{where}: {node['html'][:120]} — {message[:160]}")
    found += [f"{where}: {text}" for text in page.evaluate(LOW_CONTRAST_TEXT)]
    return found


def _open_card(page, title: str) -> None:
    page.get_by_text(title, exact=False).first.click()
    page.wait_for_timeout(1500)
    wait_idle(page)


@pytest.fixture(scope="module")
def served(demo_data_dir, tmp_path_factory):
    """One server and one browser for the module; the server draws a HiPS *service* (the demo's exposure
    HiPS on a loopback HTTP server, standing in for a remote one) under the zoomed-in sky."""
    from data_loaders import coverage, hips
    from data_loaders.catalogue import load_catalogue
    from layouts.source import example_sources
    from tests.loopback import serve_folder

    tmp = tmp_path_factory.mktemp("offline-hips")
    folder = hips.write_exposure_hips(coverage.load_observations(demo_data_dir / "releases" / "DEMO"), tmp / "exposure")
    env = {"XMM_EXPLORER_HIPS_CACHE": str(tmp / "cache")}
    with (
        serve_folder(folder) as (url, requests),
        serve_app(demo_data_dir, "--hips", url, env=env) as base,
        browser() as b,
    ):
        b.hips = folder, url, requests
        b.srcid = example_sources(load_catalogue(demo_data_dir))[0][0]
        yield base, b


@pytest.mark.timeout(900)
def test_every_page_is_readable_in_both_themes_and_calls_nobody_else(served):
    base, b = served
    axe = Axe()  # axe-core, bundled by the package: nothing is fetched
    problems: list[str] = []
    outside: list[str] = []
    if True:
        context = b.new_context(viewport={"width": 1400, "height": 1000})

        def guard(route):
            host = urlparse(route.request.url).hostname or ""
            if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        for theme in THEMES:
            for name in PAGES:
                # The Source page of a source with products, every panel made (scrolled into view).
                query = f"srcid={b.srcid}&" if name == "source" else ""
                page.goto(f"{base}/{name}?{query}theme={theme}")
                wait_idle(page)
                page.wait_for_timeout(800)
                scroll_through(page)
                where = f"{name} ({theme})"
                problems += _contrast_violations(axe, page, where)
                if theme == "dark" and name != "outreach":
                    luminance = page.evaluate(BACKGROUND_LUMINANCE)
                    assert luminance < 0.05, f"{where}: the main area is light in the dark theme ({luminance:.2f})"
                if name == "explore":
                    _open_card(page, "Export · SAMP")
                    _open_card(page, "Flag this source")
                    problems += _contrast_violations(axe, page, f"{where}, export and flag cards open")
                if name == "classify":
                    steps = int(page.get_by_text(re.compile(r"Step 1 of \d+")).first.inner_text().split()[-1])
                    assert steps >= 7
                    for step in range(2, steps + 1):
                        page.get_by_role("button", name=re.compile("Next ▶")).first.click()
                        page.get_by_text(f"Step {step} of {steps}").first.wait_for(timeout=30_000)
                        page.wait_for_timeout(400)
                        problems += _contrast_violations(axe, page, f"{where}, tutorial step {step}")
        # The HiPS service's tiles come through this server's /hips/ route (fetched there, from the service).
        folder, url, requests = b.hips
        tile = next(folder.rglob("Npix*.png")).relative_to(folder).as_posix()
        response = page.goto(f"{base}/hips/{tile}")
        assert response.status == 200 and response.body() == (folder / tile).read_bytes()
        assert f"/{tile}" in requests and not [u for u in outside if url in u]
        context.close()
    assert problems == [], "low-contrast text:\n" + "\n".join(problems)
    assert outside == [], f"requests to other hosts: {outside}"


#: What opening each page may cost at most, measured on the test demo (Chromium, 1400x1000, dark)
#: with ~5% headroom (the counts repeat from run to run; Alerts' vary by a few, so ~8% there):
#: Bokeh models in the document, and websocket messages both ways until the page is idle. Raise a
#: figure only with a reason in the commit: each model is built, serialised and rendered for every
#: visitor (issue 19).
PAGE_BUDGET = {
    # explore: 374 measured since the sky's orientation marks (issue 18: 4 sources and 4 glyph renderers
    # for graticule, cone and reticle, 3 annotations for labels and scale bar) and the query's toggle.
    # messages: 128 measured once the all-sky graticule became one polyline (was 196-210: each of its 18
    # lines sent two binary buffers, i.e. four websocket frames).
    # With the HiPS layer this module's server configures (a loopback HiPS service): +13 models (the
    # underlay image, its checkbox and note), measured on a 20k demo (397 -> 410); messages 128-136 per
    # open with or without it (busy machine), hence 138.
    # The views under the sky (HR diagram, flux histogram, card, table) are built on load rather than in
    # the request (issue 19: the sky first): their models arrive in one more patch (+4 messages).
    # 375 measured once the footprint and sky-map layers join the sky when first shown and the all-sky
    # graticule is drawn as glyphs of the marks instead of three HoloViews elements (first19b).
    # 376 measured in a later run; 395 leaves the ~5% headroom the other budgets have.
    "explore": {"models": 395, "messages": 142},
    # source: 497 measured (was 738) since the long-term lightcurve builds a mission's layers on the first
    # source with points of it (issue 18 item 8) and unselectable renderers leave their non-selected
    # glyph to BokehJS; a source with limits or other missions adds ~12 models per mission shown.
    # 179 measured since the panels below the long-term lightcurve are made when first seen (this open
    # has no source: the layout is hidden and nothing below it is made).
    "source": {"models": 190, "messages": 95},
    # The Source page of the test demo's brightest source at 1400x1000: 403 models, 237 messages (the
    # products' row lies within the first screen's reach and is made; band fluxes, counterparts and the
    # detections table wait until scrolled to).
    "source of a source": {"models": 425, "messages": 250},
    "alerts": {"models": 320, "messages": 270},
    # review: 229 measured (was ~780) since its embedded Source view makes its lower panels when seen.
    "review": {"models": 240, "messages": 112},
    "classify": {"models": 210, "messages": 117},
    "outreach": {"models": 52, "messages": 74},
}

MODEL_COUNT = "() => Bokeh.documents.reduce((n, d) => n + d._all_models.size, 0)"


def test_opening_a_page_stays_within_its_model_and_message_budget(served):
    base, b = served
    measured = {}
    for name, path in [*((name, name) for name in PAGES), ("source of a source", f"source?srcid={b.srcid}")]:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        frames: list[str] = []

        def count(ws, frames=frames):
            ws.on("framesent", lambda _f: frames.append("sent"))
            ws.on("framereceived", lambda _f: frames.append("received"))

        page.on("websocket", count)
        page.goto(f"{base}/{path}{'&' if '?' in path else '?'}theme=dark")
        wait_idle(page)
        # Late messages (lazy panes, onload callbacks such as Explore's views under the sky) are part of
        # the open: count once the document has stopped growing for 1.5 s.
        models = -1
        for _ in range(20):
            page.wait_for_timeout(1500)
            if models == (models := page.evaluate(MODEL_COUNT)):
                break
        measured[name] = {"models": models, "messages": len(frames)}
        page.close()
    print("page-open cost:", measured)
    over = {
        name: {k: f"{v} > {PAGE_BUDGET[name][k]}" for k, v in cost.items() if v > PAGE_BUDGET[name][k]}
        for name, cost in measured.items()
    }
    assert not any(over.values()), f"pages over their budget: { {k: v for k, v in over.items() if v} }"


#: Tablet and phone. The page may not scroll sideways; every input, button and select must lie
#: inside the viewport horizontally once the sidebar is open.
WIDTHS = ((1024, 768), (390, 844))
OFF_SCREEN_CONTROLS = """() => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      if (!['INPUT', 'BUTTON', 'SELECT', 'TEXTAREA'].includes(el.tagName)) continue;
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && (r.left < -1 || r.right > innerWidth + 1)) {
        out.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.placeholder || '').trim().slice(0, 30)}"`
                 + ` at ${Math.round(r.left)}..${Math.round(r.right)} px`);
      }
    }
  };
  walk(document);
  return out;
}"""


#: Controls and plot toolbars that the text ``title`` lies over (Explore's flux histogram title
#: sat on the HR diagram's axis menus and toolbar at 1024 px).
COVERED_BY_TITLE = """(title) => {
  const els = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      els.push(el);
    }
  };
  walk(document);
  const label = els.find((el) => el.children.length === 0 && (el.textContent || '').trim() === title);
  if (!label) return [`no "${title}"`];
  const t = label.getBoundingClientRect();
  return els.filter((el) => ['SELECT', 'BUTTON', 'INPUT'].includes(el.tagName) || el.classList.contains('bk-toolbar'))
    .map((el) => [el, el.getBoundingClientRect()])
    .filter(([, r]) => r.width > 0 && r.left < t.right && t.left < r.right && r.top < t.bottom && t.top < r.bottom)
    .map(([el]) => el.tagName.toLowerCase() + '.' + el.className);
}"""


HEADER_FITS = "() => { const h = document.querySelector('#header'); return !h || h.scrollWidth <= h.clientWidth + 1; }"


def _open_sidebar(page) -> None:
    if page.locator("#sidebar.hidden").count():
        page.locator("#sidebar-button").click()
        page.wait_for_timeout(400)  # the sidebar slides in


@pytest.mark.timeout(600)
def test_no_page_scrolls_sideways_and_every_control_is_reachable(served):
    base, b = served
    problems = []
    for width, height in WIDTHS:
        page = b.new_page(viewport={"width": width, "height": height})
        for name in PAGES:
            page.goto(f"{base}/{name}")
            wait_idle(page)
            page.wait_for_timeout(500)
            where = f"{name} at {width} px"
            if page.locator("#sidebar").count():
                assert page.locator("#sidebar.hidden").count() == 1, f"{where}: the sidebar should start collapsed"
            scroll = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
            if scroll[0] > scroll[1]:
                problems.append(f"{where}: scrolls sideways ({scroll[0]} > {scroll[1]} px)")
            _open_sidebar(page)
            if not page.evaluate(HEADER_FITS):
                problems.append(f"{where}: the header overflows")
            off = page.evaluate(OFF_SCREEN_CONTROLS)
            if off:
                problems.append(f"{where}: {len(off)} control(s) off screen: {off[:3]}")
            if name == "explore" and (covered := page.evaluate(COVERED_BY_TITLE, "Flux distribution")):
                problems.append(f"{where}: the flux title lies over {covered}")
        page.close()
    assert not problems, "\n".join(problems)


#: The sky's orientation marks in the document: the scale bar's label, the graticule's labels and
#: the cone's outline (issue 18, oriented on the sky).
SKY_MARKS = """() => {
  const models = Bokeh.documents.flatMap((d) => [...d._all_models.values()]);
  const bar = models.find((m) => m.type === 'Label' && /^[0-9]+[″′°]$/.test(m.text || ''));
  const sources = models.filter((m) => m.data && m.data.xs !== undefined);
  const labels = models.find((m) => m.data && m.data.text !== undefined && m.data.align !== undefined);
  return {bar: bar ? bar.text : null, cone: sources.some((s) => s.data.xs.length === 1),
          labels: labels ? labels.data.text.length : 0};
}"""


@pytest.mark.timeout(300)
def test_the_zoomed_sky_shows_scale_graticule_cone_and_readable_legend(served):
    """After a go-to with a cone (dark theme; the light one's legend and toggle are checked at load above)."""
    base, b = served
    page = b.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{base}/explore?theme=dark")
    wait_idle(page)
    box = page.get_by_placeholder("Go to: coordinates, name, SRCID, OBS_ID…")
    box.fill("M31 r=20'")
    box.press("Enter")
    page.get_by_text("in your selection").first.wait_for(timeout=60_000)
    page.wait_for_function(f"() => ({SKY_MARKS})().cone", timeout=60_000)
    marks = page.evaluate(SKY_MARKS)
    assert marks["bar"] and marks["labels"] >= 4, marks
    problems = _contrast_violations(Axe(), page, "explore (dark) zoomed on a cone")
    # A permalink with a query and no view zooms to the query's rows, as typing it does: the sky
    # opens on a view a few degrees across, which the zoomed graticule labels (the all-sky one has none).
    page.goto(f"{base}/explore?theme=dark&q=" + quote("cone('M31', 2deg)"))
    wait_idle(page)
    zoomed = page.wait_for_function(f"() => ({SKY_MARKS})().labels >= 4", timeout=60_000)
    page.close()
    assert problems == [], "low-contrast text:\n" + "\n".join(problems)
    assert zoomed, "the permalink's query did not zoom the sky"
