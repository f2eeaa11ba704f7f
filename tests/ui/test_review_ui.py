"""The Review page in a real browser: keyboard review, and comments shown as text (no script runs)."""

from __future__ import annotations

import shutil

import pytest

from data_loaders.catalogue import load_catalogue
from data_loaders.store import open_store, users
from tests.ui.serving import browser, serve_app
from tests.ui.test_auth_ui import PASSWORD, login

pytestmark = [pytest.mark.ui, pytest.mark.slow]
PAYLOAD = "<script>window.__pwned=1</script><b>x</b><img src=x onerror=window.__pwned=2>"


@pytest.fixture(scope="module")
def server(demo_data_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("review-ui") / "data"
    shutil.copytree(demo_data_dir, data, ignore=shutil.ignore_patterns("server-*.log", "*.db*"))
    users.add_user(data / "users.json", "ada", PASSWORD, "admin")
    users.add_user(data / "users.json", "rev", PASSWORD, "reviewer")
    cat = load_catalogue(data, "DEMO")
    items = [(int(r.SRCID), float(r.SC_RA), float(r.SC_DEC)) for r in cat.sources.iloc[:6].itertuples()]
    with open_store(None, data) as store:
        store.sync_users(data / "users.json")
        cid = store.create_campaign("ada", "ui check", "DEMO", items)
    with serve_app(data, env={"XMM_EXPLORER_DB": ""}, page="login") as base:
        yield base, data, cid


def test_reviewer_uses_keys_and_a_hostile_comment_stays_text(server):
    base, data, cid = server
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        login(page, base, "rev")
        page.get_by_text("Keys: 1-9 label").wait_for(timeout=30_000)  # the key listener is in place
        page.keyboard.press("3")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => { const f = (root) => { for (const e of root.querySelectorAll('*')) {"
            " if (e.id === 'xmm-item-pos') return e.textContent;"
            " if (e.shadowRoot) { const r = f(e.shadowRoot); if (r) return r; } } return null; };"
            " return f(document) === '2'; }",
            timeout=15_000,
        )
        page.keyboard.press("k")
        page.wait_for_timeout(1000)

        comment = page.get_by_placeholder("Why? (optional, stored as plain text)")
        comment.fill(PAYLOAD)
        comment.press("Tab")
        page.wait_for_timeout(500)
        page.locator(".xmm-flag-btn button").click()
        # The history cell's text is the payload itself: shown literally, not parsed as markup.
        page.wait_for_function(
            "(payload) => { const f = (root) => { for (const e of root.querySelectorAll('*')) {"
            " if (e.matches('td.xmm-comment') && e.textContent === payload && !e.querySelector('*')) return true;"
            " if (e.shadowRoot && f(e.shadowRoot)) return true; } return false; }; return f(document); }",
            arg=PAYLOAD,
            timeout=15_000,
        )
        assert page.evaluate("() => window.__pwned") is None
        page.screenshot(path=str(data / "review-ui.png"), full_page=True)
    with open_store(None, data) as store:
        verdicts = store.export_verdicts(cid)
        assert verdicts["user"].tolist() == ["rev"] and verdicts["label"].tolist() == [store.flag_labels[2]]
        events = store.flag_events("DEMO")
        assert events["comment"].tolist() == [PAYLOAD]
