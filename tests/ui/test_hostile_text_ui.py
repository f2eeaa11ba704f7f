"""Hostile text through every path a visitor or a link can reach, in real Chromium (issue 15).

One server, one page. Payloads carry script tags, event-handler attributes, ``javascript:``
links (HTML and Markdown), Markdown markup, runs of spaces, very long text and invalid UTF-8.
After each step the page must have run no script (``window.__pwned`` unset, no dialog, no
element carrying a payload's handler or ``javascript:`` link, no console line from a payload)
and the text shown must be the text given (``innerText``, which honours the panes' CSS),
changed only as documented in ``app/text.py`` (U+FFFD for invalid UTF-8, "…" for long text).
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.parse
import zlib

import pytest

from data_loaders.catalogue import load_catalogue
from data_loaders.citizen.preferences import set_show_on_leaderboard
from data_loaders.store import open_store, users
from tests.ui.serving import browser, serve_app, wait_idle
from tests.ui.test_auth_ui import PASSWORD, login

pytestmark = pytest.mark.ui

MARK = "Ω⚠"  # every payload starts with it: the panes showing a payload are found by it
HOSTILE = (  # 200 characters at most: the longest campaign name
    f'{MARK} <img src="x" onerror="__pwned=1"><script>__pwned=2</script><svg onload=alert(3)>'
    ' [md](javascript:__pwned=4) <a href="javascript:__pwned=5">a</a>'
    " **b** _i_ `c` # h :smile: www.x.io &amp; a  b"
)
LONG = MARK + " long" * 1000  # a 5,002-character comment is shown cut, ending with "…"
SHORT = f'{MARK}<img src="x" onerror="__pwned=6">'  # fits the 40 characters a URL value is echoed with
HOSTILE_REVIEWER = f'{MARK}<img src="x" onerror="window.__pwned=7">'
HOSTILE_VOLUNTEER = f"{MARK}<svg onload=window.__pwned=8>"
HOSTILE_NICK = "<svg onload=__pwned=9>"  # the sign-up box takes 24 characters

FIND_SHOWN = """(mark) => {
  // innerText of the innermost elements (shadow roots included) whose text holds the mark
  const out = [];
  const walk = (root) => {
    for (const e of root.querySelectorAll('*')) {
      if (e.shadowRoot) walk(e.shadowRoot);
      if (!e.textContent.includes(mark)) continue;
      if ([...e.children].some((c) => c.textContent.includes(mark))) continue;
      out.push(e.innerText ?? e.textContent);
    }
  };
  walk(document);
  return out;
}"""

FIND_LIVE = """() => {
  // anything of a payload that became markup: handlers, javascript: links, scripts
  const out = [];
  const walk = (root) => {
    for (const e of root.querySelectorAll('*')) {
      if (e.shadowRoot) walk(e.shadowRoot);
      for (const a of e.attributes) {
        if (/^on/i.test(a.name) && /alert|pwned/.test(a.value)) out.push(e.outerHTML);
        if (/^\\s*javascript:/i.test(a.value)) out.push(e.outerHTML);
      }
      if (e.tagName === 'SCRIPT' && e.textContent.includes('pwned')) out.push(e.outerHTML);
    }
  };
  walk(document);
  return out;
}"""


def selection_code(node: dict) -> str:
    """A selection as the Explore page writes it in ``sel=`` (zlib-compressed JSON in base64url)."""
    raw = json.dumps(node, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw)).rstrip(b"=").decode()


def sentence(call, *args) -> str:
    """The one sentence the app's own function raises for ``args``: what the page must show."""
    from app.search import SearchError
    from app.selection import SelectionError

    try:
        call(*args)
    except (SearchError, SelectionError) as exc:
        return str(exc)
    raise AssertionError(f"{call.__name__}{args!r} did not refuse")


@pytest.fixture(scope="module")
def server(demo_data_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile-ui") / "data"
    shutil.copytree(demo_data_dir, data, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    users.add_user(data / "users.json", "ada", PASSWORD, "admin")
    users.add_user(data / "users.json", HOSTILE_REVIEWER, PASSWORD, "reviewer")
    users.add_user(data / "users.json", HOSTILE_VOLUNTEER, PASSWORD, "classifier")
    cat = load_catalogue(data, "DEMO")
    items = [(int(r.SRCID), float(r.SC_RA), float(r.SC_DEC)) for r in cat.sources.iloc[:3].itertuples()]
    srcids = [i[0] for i in items]
    with open_store(None, data) as store:
        store.sync_users(data / "users.json")
        cid = store.create_campaign("ada", HOSTILE, "DEMO", items, description=HOSTILE)
        store.add_flags(HOSTILE_REVIEWER, "DEMO", [items[0]], store.flag_labels[0], comment=HOSTILE)
        store.add_flags(HOSTILE_REVIEWER, "DEMO", [items[0]], store.flag_labels[1], comment=LONG)
        item = int(store.campaign_queue(cid, None)["item_id"].iloc[0])
        store.record_verdict(HOSTILE_REVIEWER, cid, item, store.flag_labels[0], HOSTILE)
        store.record_vote(HOSTILE_VOLUNTEER, "DEMO", srcids[0], "star", 1.0, False, None)
        set_show_on_leaderboard(store, HOSTILE_VOLUNTEER, True)
    with serve_app(data, env={"XMM_EXPLORER_DB": ""}) as base:
        yield base, srcids, cat


class Watch:
    """A page's dialogs and payload console lines, and the checks run after every step."""

    def __init__(self, page):
        import time

        self.page, self.events, self.t0 = page, [], time.time()
        page.on("dialog", lambda d: (self.events.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("console", lambda m: self.events.append(f"console: {m.text}") if "pwned" in m.text else None)
        page.on("pageerror", lambda e: self.events.append(f"error: {e}") if "pwned" in str(e) else None)

    def clean(self, step: str) -> None:
        import time

        print(f"{time.time() - self.t0:6.1f} s  {step}")  # where the suite's time goes (pytest -s)
        assert self.page.evaluate("() => window.__pwned") is None, f"{step}: a payload ran"
        assert not self.events, f"{step}: {self.events}"
        live = self.page.evaluate(FIND_LIVE)
        assert not live, f"{step}: payload markup in the page: {live[:3]}"

    def shown(self, expected: str, step: str, timeout: float = 30.0) -> str:
        """Wait until some element shows ``expected`` (exactly, as a substring of its innerText)."""
        import time

        deadline, texts = time.time() + timeout, []
        while time.time() < deadline:
            texts = self.page.evaluate(FIND_SHOWN, MARK)
            hit = next((t for t in texts if expected in t), None)
            if hit is not None:
                self.clean(step)
                return hit
            self.page.wait_for_timeout(250)
        self.clean(step)  # a payload that ran is the worse failure: report it first
        raise AssertionError(f"{step}: {expected!r} is not shown; texts with the mark: {texts[:5]}")


def enter(page, placeholder: str, text: str) -> None:
    box = page.get_by_placeholder(placeholder)
    box.fill(text)
    box.press("Enter")


def test_hostile_text_stays_text_on_every_page(server):
    from app.selection import from_url
    from app.state import ExploreState
    from app.text import readable
    from app.views.goto import go_to

    base, srcids, cat = server
    state = ExploreState(cat)
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1100})
        watch = Watch(page)

        # A permalink whose selection names an unknown type: its message echoes the name.
        code = selection_code({"t": SHORT})
        page.goto(f"{base}/explore?sel=x~{code}", timeout=120_000)
        wait_idle(page, 120_000)
        watch.shown(f"The selection in the link was ignored: {sentence(from_url, code)}", "sel=")

        # The go-to box echoes what was typed; very long text is cut with a visible ellipsis.
        enter(page, "Go to: coordinates, name, SRCID, OBS_ID…", HOSTILE)
        assert HOSTILE in watch.shown(sentence(go_to, state, HOSTILE), "go-to box")

        # The query box: a hostile query gets one sentence and runs nothing.
        query = page.locator("input[placeholder*='sc_det_ml']").first
        query.fill(f"sc_det_ml > 10 and {HOSTILE}")
        query.press("Enter")
        page.wait_for_timeout(1500)
        watch.clean("query box")

        # URL values on the Source and Explore pages: invalid UTF-8 is shown as U+FFFD.
        bad = "%FF" + urllib.parse.quote(SHORT)
        page.goto(f"{base}/source?name={bad}", timeout=120_000)
        wait_idle(page, 120_000)
        watch.shown(f"No source named “\ufffd{SHORT}”", "source name=")
        page.goto(f"{base}/explore?release={bad}", timeout=120_000)
        wait_idle(page, 120_000)
        watch.shown(f"There is no release “\ufffd{SHORT}”", "explore release=")
        page.goto(f"{base}/alerts?run={urllib.parse.quote(SHORT)}", timeout=120_000)
        wait_idle(page, 120_000)
        page.wait_for_timeout(1000)
        watch.clean("alerts run=")

        # Stored text: a flag comment and a reviewer's name on the Source page ...
        page.goto(f"{base}/source?srcid={srcids[0]}", timeout=120_000)
        wait_idle(page, 120_000)
        watch.shown(HOSTILE, "source flags: comment")
        watch.shown(HOSTILE_REVIEWER, "source flags: user")
        # Very long text is cut with a visible ellipsis, the one documented change besides U+FFFD.
        cut = watch.shown(readable(LONG), "source flags: long comment")
        assert cut.strip() == readable(LONG) and len(readable(LONG)) == 2000 and readable(LONG).endswith("…")

        # ... a campaign's name, a verdict's comment and the flag history on the Review page ...
        page.goto(f"{base}/review", timeout=120_000)
        wait_idle(page, 120_000)
        watch.shown(HOSTILE, "review heading")
        texts = page.evaluate(FIND_SHOWN, MARK)
        assert sum(HOSTILE in t for t in texts) >= 2, texts  # the heading and the verdict's comment
        watch.shown(HOSTILE_REVIEWER, "review verdicts: user")

        # ... and a volunteer's name on the leaderboard; a hostile nickname at sign-up.
        page.goto(f"{base}/classify", timeout=120_000)
        wait_idle(page, 120_000)
        page.get_by_placeholder("3-24 letters").fill(HOSTILE_NICK)
        page.get_by_placeholder("3-24 letters").press("Tab")
        page.get_by_placeholder("at least 8 characters").fill("password123")
        page.get_by_placeholder("at least 8 characters").press("Tab")
        page.get_by_role("button", name="Sign up and play").click()
        page.get_by_text("nickname", exact=False).first.wait_for(timeout=30_000)
        watch.clean("classify sign-up")
        page.get_by_text("Leaderboard", exact=True).click()
        wait_idle(page)
        watch.shown(HOSTILE_VOLUNTEER, "leaderboard")

        # Signed in under a hostile name: the header shows it as text.
        login(page, base, HOSTILE_REVIEWER, "/explore")
        watch.shown(HOSTILE_REVIEWER, "header badge")

        # An admin names a campaign: the confirmation echoes the name.
        page.goto(f"{base}/logout?next=/explore")
        login(page, base, "ada", "/explore")
        page.get_by_text("Flag this source or the selection (reviewers)").click()
        name = page.get_by_placeholder("Campaign name")
        name.wait_for(timeout=30_000)
        name.fill(f"{HOSTILE} #2")
        name.press("Tab")
        page.get_by_role("button", name="Create a review campaign from the selection (admins)").click()
        watch.shown(f"'{HOSTILE} #2' created with", "campaign created")
