"""Flagging from Explore: the current source or the whole selection, with the reviewer's label and comment."""

from __future__ import annotations

import numpy as np
import panel as pn

from app.state import ExploreState
from app.views.flags import MAX_FLAG_SOURCES, FlagHistory, FlagPanel


class ExploreFlags(pn.viewable.Viewer):
    """A FlagPanel whose target is either the tapped source or every source of the selection."""

    def __init__(self, state: ExploreState, **params):
        super().__init__(**params)
        self.state = state
        self.target = pn.widgets.RadioButtonGroup(options=["this source", "the selection"], value="this source")
        self.panel = FlagPanel(state.catalogue, self.sources)
        self.history = FlagHistory(state.catalogue, srcid=state.srcid)
        self.target.param.watch(lambda e: self.panel.describe_target(), "value")
        state.param.watch(self._on_state, ["srcid", "version"])
        self.panel.param.watch(self._on_written, "written")

    def sources(self) -> np.ndarray:
        """SRCIDs the next flag applies to."""
        st = self.state
        if self.target.value == "this source":
            return np.array([] if st.srcid is None else [st.srcid], dtype=np.int64)
        ids = np.unique(st.catalogue.frame(st.level)["SRCID"].to_numpy()[st.visible])
        return ids[: MAX_FLAG_SOURCES + 1]

    def _on_state(self, *_):
        self.panel.describe_target()
        self.history.srcid = self.state.srcid

    def _on_written(self, *_):
        # Flags feed the FLAGGED filter/colour: recompute the masks so every view sees them now.
        if self.state.flags != "any" or self.state.colour_by == "flagged":
            self.state._recompute()
        self.history.version += 1

    def __panel__(self):
        return pn.Column(self.target, self.panel, self.history, sizing_mode="stretch_width")
