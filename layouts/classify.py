"""The Classify page (outreach): learn, play, leaderboard; the player card in the sidebar."""

from __future__ import annotations

import panel as pn

from app.views.classify.answer import AnswerPanel
from app.views.classify.clues import ClueBoard
from app.views.classify.leaderboard import LeaderboardView
from app.views.classify.player import PlayerCard
from app.views.classify.state import ClassifyState
from app.views.classify.tutorial import Tutorial
from data_loaders import capabilities
from layouts.common import template, unavailable_page

#: Large, friendly type for tablets and school classes.
CSS = """
.xmm-step h2, .xmm-question { font-size: 1.6em; font-weight: 700; margin: 0.3em 0; }
.xmm-step p, .xmm-family p { font-size: 1.2em; line-height: 1.5; max-width: 60em; }
.xmm-family { border: 1px solid rgba(148,163,184,0.35); border-radius: 12px; padding: 6px 12px; margin: 6px; }
.xmm-family h3 { font-size: 1.35em; margin: 0.2em 0; }
.xmm-small { font-size: 1.0em; opacity: 0.8; }
.xmm-step-count { text-align: center; font-size: 1.15em; padding-top: 16px; opacity: 0.8; }
.xmm-source-name { font-size: 1.2em; opacity: 0.8; }
.xmm-facts { display: flex; flex-wrap: wrap; gap: 10px 24px; font-size: 1.2em; margin: 6px 0; }
.xmm-clue h4 { font-size: 1.25em; margin: 0.3em 0; }
.xmm-clue p { font-size: 1.15em; }
.xmm-feedback { font-size: 1.3em; background: rgba(34,197,94,0.15); border-radius: 12px; padding: 10px 16px; }
.xmm-message { font-size: 1.15em; background: rgba(245,158,11,0.2); border-radius: 12px; padding: 8px 14px; }
.xmm-guest { font-size: 1.05em; opacity: 0.85; }
.xmm-level { display: inline-block; background: #f59e0b; color: #111; font-weight: 700; border-radius: 999px;
             padding: 2px 14px; font-size: 1.1em; }
.xmm-intro { font-size: 1.25em; }
"""
INTRO = (
    "<div class='xmm-intro'><b>Help astronomers sort the X-ray sky!</b> Learn the clues, then classify real "
    "XMM-Newton sources one at a time.</div>"
)


def create_page(
    catalogue, store, users_file, user: str | None
) -> tuple[pn.template.FastListTemplate, ClassifyState | None]:
    """Build the page for one session; returns the template and the session's state (None: the
    release lacks the sources' band fluxes and the page says so)."""
    if not catalogue.capabilities.has(capabilities.SOURCE_BAND_FLUXES):
        need = capabilities.SOURCE_BAND_FLUXES
        return unavailable_page(catalogue, "Classify", "the sources' band fluxes", need), None
    if CSS not in pn.config.raw_css:
        pn.config.raw_css = [*pn.config.raw_css, CSS]
    state = ClassifyState(catalogue, store, users_file, user=user)
    if not state.data.examples:  # the tutorial shows sources of known class: from classifications or counterparts
        return unavailable_page(catalogue, "Classify", "sources of known class", capabilities.CLASSIFICATIONS), None
    tabs = pn.Tabs(dynamic=True, sizing_mode="stretch_width", stylesheets=[".bk-tab { font-size: 1.25em; }"])
    tutorial = Tutorial(catalogue, state.data, on_done=lambda: setattr(tabs, "active", 1))
    # A FlexBox wraps the answers under the clues on narrow screens (tablets held upright).
    play = pn.FlexBox(
        pn.Column(ClueBoard(state), min_width=420, styles={"flex": "3 1 560px"}),
        pn.Column(AnswerPanel(state), min_width=300, styles={"flex": "1 1 320px"}),
        sizing_mode="stretch_width",
    )
    tabs.extend([("Learn", tutorial), ("Play", play), ("Leaderboard", LeaderboardView(state))])
    main = [pn.pane.HTML(INTRO, sizing_mode="stretch_width"), tabs]
    tmpl = template(catalogue, "Classify", sidebar=[PlayerCard(state)], main=main, sidebar_width=300)
    return tmpl, state
