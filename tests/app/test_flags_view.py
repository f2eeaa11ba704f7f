"""FlagPanel, FlagHistory and the flagged-sources service driven through the real Store, as different users."""

from __future__ import annotations

import numpy as np
import pytest

from app import store_access
from app.source_labels import flagged_srcids, labels_of
from app.state import ExploreState
from app.views.flags import FlagHistory, FlagPanel, history_html, source_tuples
from data_loaders.store import users
from tests.shown import shown as shown_text

ACCOUNTS = {"ada": "admin", "rev": "reviewer", "rev2": "reviewer", "vic": "viewer", "cla": "classifier"}
PASSWORD = "correct horse battery"
NASTY = "<script>window.__pwned=1</script><b>x</b> '); DROP TABLE flag_events; --"


@pytest.fixture
def app_env(writable_demo_data_dir, monkeypatch):
    """The app's configuration pointed at a private data directory with one account per role."""
    path = writable_demo_data_dir / "users.json"
    for name, role in ACCOUNTS.items():
        users.add_user(path, name, PASSWORD, role)
    monkeypatch.setenv("XMM_EXPLORER_DATA", str(writable_demo_data_dir))
    monkeypatch.setenv("XMM_EXPLORER_USERS", str(path))
    monkeypatch.delenv("XMM_EXPLORER_DB", raising=False)
    store_access.reset_store()
    yield writable_demo_data_dir
    store_access.reset_store()


def as_user(monkeypatch, name):
    """Make the session's login (what the auth layer reads from the signed session token) be ``name``'s.

    The views' tests run without a server; the login itself is tested in tests/app/test_sessions.py.
    """
    from app import auth

    monkeypatch.setattr(auth, "session_user", lambda: name)


@pytest.fixture
def catalogue(app_env):
    from data_loaders.catalogue import load_catalogue

    return load_catalogue(app_env, "DEMO")


def n_events(store, release):
    return len(store.flag_events(release))


def test_source_tuples_keep_order_and_drop_unknown(demo_catalogue):
    ids = demo_catalogue.sources["SRCID"].to_numpy()[[5, 1, 3]]
    out = source_tuples(demo_catalogue, [*ids.tolist(), 999])
    assert [t[0] for t in out] == ids.tolist()
    row = demo_catalogue.source_row(int(ids[0]))
    assert out[0][1:] == pytest.approx((row["SC_RA"], row["SC_DEC"]))


def test_reviewer_flags_a_whole_selection_in_one_call(catalogue, monkeypatch):
    as_user(monkeypatch, "rev")
    store = store_access.get_store()
    ids = catalogue.sources["SRCID"].to_numpy()[:3000]
    panel = FlagPanel(catalogue, lambda: ids)
    assert "3,000 sources" in panel.target.object
    panel.label.value = "spurious"
    panel.comment.value = "lasso over a ghost"
    assert panel.apply("flag") == 3000
    events = store.flag_events("DEMO")
    assert len(events) == 3000 and events["batch"].nunique() == 1
    assert set(events["user"]) == {"rev"}
    assert panel.alert.alert_type == "success" and panel.comment.value == ""
    assert np.array_equal(flagged_srcids("DEMO", ["spurious"]), np.sort(ids))
    assert flagged_srcids("DEMO", ["pile-up"]).size == 0
    st = ExploreState(catalogue, level="detections", flags="flagged", flag_labels=["spurious"])
    assert st.counts()["filtered"] == np.isin(catalogue.detections["SRCID"], ids).sum()


def test_flagged_sources_are_invalidated_by_new_flags(catalogue, monkeypatch):
    as_user(monkeypatch, "rev")
    first = flagged_srcids("DEMO", ["pile-up"])
    assert first.size == 0
    assert flagged_srcids("DEMO", ["pile-up"]) is first  # cached
    srcid = int(catalogue.sources["SRCID"].iloc[7])
    panel = FlagPanel(catalogue, lambda: [srcid])
    panel.label.value = "pile-up"
    panel.apply("flag")
    assert flagged_srcids("DEMO", ["pile-up"]).tolist() == [srcid]
    panel.apply("unflag")
    assert flagged_srcids("DEMO", ["pile-up"]).size == 0
    assert labels_of("DEMO", [srcid]) == {}


@pytest.mark.parametrize("who", [None, "", "guest", "vic", "cla", "mallory"])
def test_nobody_below_reviewer_can_flag(catalogue, monkeypatch, who):
    """Anonymous, viewer, classifier, and a forged name that has no account: refused, nothing written."""
    as_user(monkeypatch, who)
    store = store_access.get_store()
    ids = catalogue.sources["SRCID"].to_numpy()[:10]
    panel = FlagPanel(catalogue, lambda: ids)
    for action in ("flag", "unflag"):
        assert panel.apply(action) == 0
        assert panel.alert.visible and panel.alert.alert_type == "danger"
        assert "Sign in" in panel.message or "needs 'reviewer'" in panel.message
    assert n_events(store, "DEMO") == 0
    assert panel.written == 0


def test_viewer_refusal_names_the_role(catalogue, monkeypatch):
    as_user(monkeypatch, "vic")
    panel = FlagPanel(catalogue, lambda: [int(catalogue.sources["SRCID"].iloc[0])])
    panel.apply("flag")
    assert panel.message == "User 'vic' has the role 'viewer', but this needs 'reviewer' or higher."


def test_html_and_sql_looking_comment_is_stored_and_shown_verbatim(catalogue, monkeypatch):
    as_user(monkeypatch, "rev")
    store = store_access.get_store()
    srcid = int(catalogue.sources["SRCID"].iloc[3])
    panel = FlagPanel(catalogue, lambda: [srcid])
    panel.label.value = "interesting"
    panel.comment.value = NASTY
    assert panel.apply("flag") == 1
    history = store.flag_history("DEMO", srcid)
    assert history["comment"].tolist() == [NASTY]
    view = FlagHistory(catalogue, srcid)
    shown = view.pane.object
    assert "<script>" not in shown and "<b>x</b>" not in shown
    assert NASTY in shown_text(shown)
    assert n_events(store, "DEMO") == 1  # the table is still there


def test_history_escapes_user_and_label_too():
    import pandas as pd

    history = pd.DataFrame(
        {
            "time": [pd.Timestamp("2025-01-02 03:04", tz="UTC")],
            "user": ["<i>eve</i>"],
            "action": ["flag"],
            "label": ["<img src=x onerror=alert(1)>"],
            "comment": [""],
        }
    )
    out = history_html(history)
    assert "<i>" not in out and "<img" not in out and "<img src=x" in shown_text(out)


def test_empty_selection_says_so(catalogue, monkeypatch):
    as_user(monkeypatch, "rev")
    panel = FlagPanel(catalogue, lambda: [])
    assert panel.apply("flag") == 0
    assert panel.message == "Nothing to flag: select at least one source first."


def test_flag_history_viewer_follows_srcid(catalogue, monkeypatch):
    as_user(monkeypatch, "rev")
    a, b = (int(s) for s in catalogue.sources["SRCID"].iloc[[0, 1]])
    panel = FlagPanel(catalogue, lambda: [a])
    panel.label.value = "variable"
    panel.apply("flag")
    view = FlagHistory(catalogue, b)
    assert "No flags on this source yet" in view.pane.object
    view.srcid = a
    assert "variable" in view.pane.object and "rev" in view.pane.object
