"""The Review page's views: campaign items, the per-session state, the queue, creation and progress."""

from app.views.review.create import CampaignCreator
from app.views.review.items import (
    ItemsError,
    campaign_items_from_state,
    items_from_query,
    items_from_rows,
    items_from_upload,
)
from app.views.review.progress import CampaignProgress, agreement_html, progress_bars
from app.views.review.queue import LoginPrompt, ReviewKeys, ReviewQueue
from app.views.review.session import ReviewState

__all__ = [
    "CampaignCreator",
    "CampaignProgress",
    "ItemsError",
    "LoginPrompt",
    "ReviewKeys",
    "ReviewQueue",
    "ReviewState",
    "agreement_html",
    "campaign_items_from_state",
    "items_from_query",
    "items_from_rows",
    "items_from_upload",
    "progress_bars",
]
