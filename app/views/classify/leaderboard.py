"""The leaderboard view: the seed's columns, opt-in volunteers only, level 2 first."""

from __future__ import annotations

import panel as pn
import param

from app.views.classify.state import ClassifyState
from data_loaders.citizen import leaderboard, user_scores
from data_loaders.citizen.preferences import opted_in_users

REFRESH_MS = 30_000


class LeaderboardView(pn.viewable.Viewer):
    """Two ranked tables (level 2, then level 1 beginners); refreshed on each vote and every 30 s."""

    state = param.ClassSelector(class_=ClassifyState)

    def __init__(self, state: ClassifyState, **params):
        super().__init__(state=state, **params)
        table = {"show_index": False, "sizing_mode": "stretch_width", "disabled": True, "layout": "fit_data_fill"}
        style = {"stylesheets": [":host { font-size: 1.1em; }"]}
        self._level2 = pn.widgets.Tabulator(**table, **style)
        self._level1 = pn.widgets.Tabulator(**table, **style)
        self._empty2 = pn.pane.HTML("<p class='xmm-empty'>Nobody has reached level 2 yet.</p>")
        self._note = pn.pane.HTML(
            "<p>Only volunteers who ticked <i>Show me on the leaderboard</i> appear here. "
            "Success rate is the share of right answers on sources astronomers already know.</p>"
        )
        self._layout = pn.Column(
            pn.pane.HTML("<h2>Ranking of level 2 volunteers</h2>"),
            self._empty2,
            self._level2,
            pn.pane.HTML("<h2>Getting started (level 1)</h2>"),
            self._level1,
            self._note,
            sizing_mode="stretch_width",
        )
        self.refresh()
        state.param.watch(self.refresh, ["version"])

    def frames(self):
        """(level-2 table, level-1 table) as shown."""
        assert self.state is not None  # set in __init__
        votes = self.state.store.votes_frame(self.state.catalogue.name)
        scores = user_scores(votes)
        opted = opted_in_users(self.state.store)
        return leaderboard(scores, opted, level=2), leaderboard(scores, opted, level=1)

    def refresh(self, *_):
        level2, level1 = self.frames()
        # Names go in as they are: Tabulator's cells (Bokeh's StringFormatter) show text, never markup
        # (escaping here would show "&#60;" to the reader); the browser suite checks it with hostile names.
        self._level2.value = level2
        self._level2.visible = not level2.empty
        self._empty2.visible = level2.empty
        self._level1.value = level1

    def __panel__(self):
        return self._layout
