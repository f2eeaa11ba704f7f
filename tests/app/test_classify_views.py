"""The Classify game and outreach sky driven through their state objects (no browser)."""

from __future__ import annotations

import asyncio
import json

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from app.plots import classify as plots
from app.views.classify.game_data import game_data
from app.views.classify.state import ClassifyState
from data_loaders.catalogue import load_catalogue
from data_loaders.citizen.categories import category_of_class
from data_loaders.store import open_store

MACHINE_CODES = ("gal_xrb", "ext_xrb", "bk_AGN")


@pytest.fixture
def game(writable_demo_data_dir):
    catalogue = load_catalogue(writable_demo_data_dir, "DEMO")
    store = open_store(None, writable_demo_data_dir, votes_per_minute=200)
    yield catalogue, store, writable_demo_data_dir / "users.json"
    store.close()


def new_state(game, user=None, seed=3):
    catalogue, store, users = game
    return ClassifyState(catalogue, store, users, user=user, seed=seed)


def show_gold(state, classes=None):
    """Put a gold source (optionally of one of ``classes``) on screen, as the queue would."""
    gold = state.data.gold
    srcid = next(s for s in state.data.gold_ids.tolist() if classes is None or gold[s] in classes)
    state.param.update(srcid=srcid, answered=False, feedback="")
    return srcid, gold[srcid]


def test_guest_answers_are_not_stored_but_get_feedback(game):
    state = new_state(game)
    srcid, truth = show_gold(state)
    state.answer(category_of_class(truth).key, 1.0)
    assert state.answered and "Astronomers think this one is" in state.feedback and "nice" in state.feedback
    assert game[1].votes_frame("DEMO").empty
    state.next_source()
    assert state.srcid != srcid and not state.answered


def test_signed_up_volunteer_votes_are_stored_and_scored_only_on_gold(game):
    state = new_state(game)
    assert state.sign_up("vega_fan", "twinkle twinkle")
    srcid, truth = show_gold(state, {"star"})
    state.answer("agn", 0.67)
    assert "Astronomers think it's: Star" in state.feedback and "clue" in state.feedback
    state.next_source()
    plain = state.srcid
    assert plain not in state.data.gold
    state.answer("star", 1.0)
    assert "Thank you" in state.feedback
    frame = game[1].votes_frame("DEMO").set_index("srcid")
    assert frame.loc[srcid, "is_gold"] and frame.loc[srcid, "correct"] == False  # noqa: E712 - pandas boolean
    assert not frame.loc[plain, "is_gold"] and pd.isna(frame.loc[plain, "correct"])


def test_sign_up_errors_are_one_sentence_shown_as_text(game):
    from app.views.classify.player import PlayerCard

    state = new_state(game)
    card = PlayerCard(state)
    card._nick.value, card._password.value = "<img src=x>", "password123"
    asyncio.run(card._on_signup(None))
    # The state keeps the sentence as text; the pane shows it escaped, never as markup.
    assert "nickname" in state.message and state.user is None
    assert card._error.visible and "nickname" in card._error.object and "<img" not in card._error.object


def test_ten_good_gold_answers_reach_level_two(game):
    state = new_state(game)
    state.sign_up("promoted", "password123")
    assert state.progress()["level"] == 1
    for srcid in state.data.gold_ids[:10].tolist():
        state.param.update(srcid=srcid, answered=False)
        state.answer(category_of_class(state.data.gold[srcid]).key, 1.0)
    p = state.progress()
    assert p["level"] == 2 and p["success_rate"] == 1.0 and p["answers_to_go"] == 0


def test_no_source_twice_for_one_volunteer_even_across_sessions(game):
    first = new_state(game)
    first.sign_up("loyal", "password123")
    shown = []
    for _ in range(15):
        shown.append(first.srcid)
        first.answer("dont_know", 0.34)
        first.next_source()
    assert len(set(shown)) == len(shown)
    again = new_state(game, user="loyal", seed=3)  # same seed: would repeat without the stored history
    assert again.srcid not in shown


def test_rate_limited_vote_shows_a_sentence_and_keeps_the_source(writable_demo_data_dir):
    catalogue = load_catalogue(writable_demo_data_dir, "DEMO")
    with open_store(None, writable_demo_data_dir, votes_per_minute=2) as store:
        state = ClassifyState(catalogue, store, writable_demo_data_dir / "users.json", seed=1)
        state.sign_up("speedy", "password123")
        for _ in range(2):
            state.answer("star", 1.0)
            state.next_source()
        srcid = state.srcid
        state.answer("star", 1.0)
        assert "wait" in state.message and not state.answered and state.srcid == srcid


def page_json(game, user=None) -> tuple[str, ClassifyState]:
    from bokeh.document import Document

    from layouts.classify import create_page

    catalogue, store, users = game
    tmpl, state = create_page(catalogue, store, users, user)
    show_gold(state, set(MACHINE_CODES))
    doc = Document()
    tmpl.server_doc(doc)
    # Binary buffers (images) are left out: only text could carry a class name.
    return json.dumps(doc.to_json(deferred=False), default=lambda o: None), state


def test_the_page_never_sends_the_gold_answer_before_the_vote(game):
    text, state = page_json(game)
    truth = state.data.gold[state.srcid]
    assert truth in MACHINE_CODES
    for secret in (*MACHINE_CODES, "TRUE_CLASS", "is_gold", "PbaC", "prediction", "Astronomers think"):
        assert secret not in text, secret


def test_play_area_after_answer_shows_feedback(game):
    from app.views.classify.answer import AnswerPanel

    state = new_state(game)
    panel = AnswerPanel(state)
    show_gold(state)
    panel._answer("dont_know")
    assert panel._feedback.visible and "Astronomers think" in panel._feedback.object
    assert all(b.disabled for b in panel._buttons) and panel._next.visible


def test_leaderboard_view_lists_opted_in_volunteers(game):
    from app.views.classify.leaderboard import LeaderboardView

    state = new_state(game)
    state.sign_up("shown_one", "password123")
    state.answer("star", 1.0)
    view = LeaderboardView(state)
    assert view._level1.value.empty
    state.set_leaderboard(True)
    assert view._level1.value["User"].tolist() == ["shown_one"]
    assert list(view._level1.value.columns) == [
        "Rank",
        "User",
        "Number of classifications",
        "Since 1 week",
        "Success rate",
    ]


def test_clue_plots_are_plain_pictures():
    bars = plots.spectrum_shape([1e-14, 2e-14, 3e-14, 4e-14, -1e-15])
    assert isinstance(bars, hv.Bars) and bars.dimension_values("share").sum() == pytest.approx(100)
    assert bars.dimension_values("share")[-1] == 0
    lc = plots.lightcurve(np.array([52000.0, 53000, 54000]), np.array([1e-13, 2e-13, 5e-14]), np.array([0, 0, 1]))
    assert len(lc) == 3  # relative to the median detected flux (1.5e-13):
    np.testing.assert_allclose(lc.get(2).dimension_values("flux"), np.log10([2 / 3, 4 / 3]))
    assert plots.variability_factor(np.array([1e-13, 4e-13, 1e-12]), np.array([0, 0, 1])) == pytest.approx(4.0)
    bars = plots.class_bars({"machine": np.full(7, 1 / 7), "citizens": np.eye(7)[1]})
    assert bars.kdims[0].name == "class" and len(bars) == 14


def test_game_data_keeps_tutorial_examples_out_of_the_queue(demo_catalogue):
    data = game_data(demo_catalogue)
    assert data.examples and not set(data.examples.values()) & set(data.gold_ids.tolist())


def test_outreach_tour_and_search_move_the_view(demo_catalogue):
    from app.views.classify.outreach_sky import OutreachSky
    from app.views.classify.tours import TOUR

    sky = OutreachSky(demo_catalogue)
    stop = sky.next_stop()
    assert sky.state.stop == 0 and stop.name in sky.state.caption
    (x0, x1), (y0, y1) = sky.state.view
    assert y1 - y0 == pytest.approx(2 * stop.radius)
    for _ in range(len(TOUR)):
        sky.next_stop()
    assert sky.state.stop == 0  # wraps around
    sky.search.value = "M31"
    assert "M31" in sky.state.caption and sky.state.stop == -1
    sky.search.value = "<script>nowhere"
    assert "<script>" not in sky.state.caption
    img = sky._image(*sky.state.view, 200, 100)
    assert isinstance(img, hv.RGB)
