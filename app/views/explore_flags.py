"""Flagging from Explore: the current source or the whole selection, with the reviewer's label and comment."""

from __future__ import annotations

import numpy as np
import panel as pn

from app.state import ExploreState
from app.text import inert
from app.views.flags import MAX_FLAG_SOURCES, FlagHistory, FlagPanel, MessageKind


class ExploreFlags(pn.viewable.Viewer):
    """A FlagPanel whose target is either the tapped source or every source of the selection."""

    def __init__(self, state: ExploreState, **params):
        super().__init__(**params)
        self.state = state
        self.target = pn.widgets.RadioButtonGroup(options=["this source", "the selection"], value="this source")
        self.panel = FlagPanel(state.catalogue, self.sources)
        self.history = FlagHistory(state.catalogue, srcid=state.srcid)
        self.target.param.watch(lambda e: self.panel.describe_target(), "value")
        self.campaign_name = pn.widgets.TextInput(placeholder="Campaign name", sizing_mode="stretch_width")
        self.campaign_button = pn.widgets.Button(label="Create a review campaign from the selection (admins)")
        self.campaign_button.on_click(lambda e: self._on_campaign_button())
        self.campaign_message = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")
        state.param.watch(self._on_state, ["srcid", "version"])
        self.panel.param.watch(self._on_written, "written")

    def sources(self) -> np.ndarray:
        """SRCIDs the next flag applies to."""
        st = self.state
        if self.target.value == "this source":
            return np.array([] if st.srcid is None else [st.srcid], dtype=np.int64)
        return st.shown.srcids()[: MAX_FLAG_SOURCES + 1]

    def _on_campaign_button(self) -> None:
        """``create_campaign`` for the button, whose callback returns nothing."""
        self.create_campaign()

    def create_campaign(self, user=None) -> int | None:
        """A campaign of every row the session shows now; the store checks the admin role."""
        from app.store_access import get_store
        from app.views.review.items import campaign_items_from_state

        user = self.panel._user() if user is None else user
        name = (self.campaign_name.value_input or self.campaign_name.value or "").strip()
        try:
            if not name:
                raise ValueError("Give the campaign a name first.")
            items = campaign_items_from_state(self.state)
            cid = get_store().create_campaign(user, name, self.state.catalogue.name, items)
        except (PermissionError, ValueError) as exc:
            self._say_campaign(str(exc), "warning")
            return None
        self._say_campaign(
            f"Campaign #{cid} '{name}' created with {len(items):,} items: open the Review page.", "success"
        )
        return cid

    def _say_campaign(self, text: str, kind: MessageKind) -> None:
        self.campaign_message.object = inert(text)
        self.campaign_message.alert_type = kind
        self.campaign_message.visible = True

    def _on_state(self, *_):
        self.panel.describe_target()
        self.history.srcid = self.state.srcid

    def _on_written(self, *_):
        # Flags feed the FLAGGED filter/colour: recompute the masks so every view sees them now.
        if self.state.flags != "any" or self.state.colour_by == "flagged":
            self.state.refresh()
        self.history.version += 1

    def __panel__(self):
        return pn.Column(
            self.target,
            self.panel,
            self.history,
            # Not pn.layout.Divider: built after load (a lazy card), it fetched its CSS from a CDN.
            pn.pane.HTML("<hr>", sizing_mode="stretch_width"),
            pn.Row(self.campaign_name, self.campaign_button, sizing_mode="stretch_width"),
            self.campaign_message,
            sizing_mode="stretch_width",
        )
