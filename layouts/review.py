"""The Review page: pick a campaign, step through its queue, see the team's progress; admins create campaigns."""

from __future__ import annotations

import panel as pn

from app import auth
from app.views.review import CampaignCreator, CampaignProgress, LoginPrompt, ReviewQueue, ReviewState
from data_loaders.catalogue import Catalogue
from layouts.common import template


def campaign_options(state: ReviewState) -> dict[str, int]:
    """Select options: "name (N items)" -> campaign id, newest first."""
    frame = state.campaigns.iloc[::-1]
    return {f"{r.name} ({r.n_items:,} items)": int(r.id) for r in frame.itertuples()}


def create_page(catalogue: Catalogue) -> tuple[pn.template.FastListTemplate, ReviewState]:
    """Build the page for one session; returns the template and the session's state."""
    state = ReviewState(catalogue)
    user = state.user
    role = auth.current_role(user) if user else None
    picker = pn.widgets.Select(
        label="Campaign", options=campaign_options(state), value=state.campaign_id, sizing_mode="stretch_width"
    )

    def refresh_options(*_):
        picker.options = campaign_options(state)
        picker.value = state.campaign_id

    picker.link(state, value="campaign_id")
    state.param.watch(refresh_options, ["campaign_id"])
    queue = ReviewQueue(state)
    creator = CampaignCreator(state)
    sidebar = [
        LoginPrompt(user=user, role=role),
        picker,
        pn.pane.Markdown("### Team progress", margin=(10, 5, 0, 5)),
        CampaignProgress(state),
        pn.Card(creator, title="New campaign (admins)", collapsed=role != "admin", sizing_mode="stretch_width"),
    ]
    main = [queue]
    tmpl = template(catalogue, "Review", sidebar=sidebar, main=main, sidebar_width=380)
    return tmpl, state
