"""Per-session state of the Review page: the campaign, the position in its queue, and the actions on it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd
import param

from app import auth
from app.store_access import get_store
from app.views.flags import MessageKind
from data_loaders.catalogue import Catalogue
from data_loaders.store import Store

log = logging.getLogger(__name__)


class ReviewState(param.Parameterized):
    """One reviewer's session: which campaign, which item, and a sentence about the last action.

    ``queue`` is ``Store.campaign_queue`` for the session's user (re-read after each write);
    ``version`` bumps whenever the queue or the campaigns change, so views re-render.
    """

    campaign_id = param.Integer(default=None, allow_None=True)
    position = param.Integer(default=0, bounds=(0, None))
    version = param.Integer(default=0)
    message = param.String(default="")
    message_kind: param.Selector[MessageKind] = param.Selector(
        objects=["info", "success", "warning", "danger"], default="info"
    )

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        store: Store | None = None,
        user: Callable[[], str | None] = auth.current_user,
        **params,
    ):
        self.catalogue = catalogue
        self._store = store
        self._user = user
        self.queue = pd.DataFrame()
        self.campaigns = pd.DataFrame()
        super().__init__(**params)
        self.param.watch(self._on_campaign, ["campaign_id"])
        self.reload_campaigns()

    @property
    def store(self) -> Store:
        return self._store or get_store()

    @property
    def user(self) -> str | None:
        return self._user()

    # -- reading -------------------------------------------------------------------------------
    def reload_campaigns(self) -> None:
        """Re-read the campaigns of this release; pick the newest if none is chosen."""
        frame = self.store.campaigns()
        self.campaigns = frame[frame["release"] == self.catalogue.name].reset_index(drop=True)
        if self.campaign_id is None and len(self.campaigns):
            self.campaign_id = int(self.campaigns["id"].iloc[-1])
        else:
            self._reload_queue()

    def _on_campaign(self, *_):
        with param.parameterized.discard_events(self):
            self.position = 0
        self._reload_queue()

    def _reload_queue(self) -> None:
        if self.campaign_id is None:
            self.queue = pd.DataFrame()
        else:
            self.queue = self.store.campaign_queue(self.campaign_id, self.user)
            if len(self.queue) and self.position >= len(self.queue):
                with param.parameterized.discard_events(self):
                    self.position = len(self.queue) - 1
        self.version += 1

    def item(self) -> pd.Series | None:
        """The queue row at ``position`` (None when there is no campaign)."""
        if self.queue.empty:
            return None
        return self.queue.iloc[min(self.position, len(self.queue) - 1)]

    def campaign_name(self) -> str:
        hit = self.campaigns[self.campaigns["id"] == self.campaign_id] if len(self.campaigns) else self.campaigns
        return "" if hit.empty else str(hit["name"].iloc[0])

    def item_verdicts(self) -> pd.DataFrame:
        """Every reviewer's latest verdict on the current item (user, label, comment, time)."""
        item = self.item()
        if item is None:
            return pd.DataFrame(columns=["user", "label", "comment", "time"])
        assert self.campaign_id is not None  # the queue holds items only while a campaign is open
        verdicts = self.store.export_verdicts(self.campaign_id)
        mine = verdicts[(verdicts["item_id"] == int(item["item_id"])) & verdicts["is_latest"]]
        return mine[["user", "label", "comment", "time"]].reset_index(drop=True)

    # -- moving ----------------------------------------------------------------------------------
    def step(self, delta: int) -> None:
        if self.queue.empty:
            return
        self.position = max(0, min(len(self.queue) - 1, self.position + delta))

    def next_unreviewed(self) -> None:
        """Jump to the first item after the current one without the user's verdict (wrapping)."""
        if self.queue.empty:
            return
        todo = self.queue["my_label"].isna().to_numpy()
        n = len(todo)
        for offset in range(1, n + 1):
            if todo[(self.position + offset) % n]:
                self.position = (self.position + offset) % n
                return
        self.say("You have reviewed every item of this campaign.", "success")

    def say(self, text: str, kind: MessageKind = "info") -> None:
        self.param.update(message=text, message_kind=kind)

    # -- writing ---------------------------------------------------------------------------------
    def record(self, label: str | None, comment: str = "", advance: bool = True) -> bool:
        """Record the session user's verdict on the current item; True if stored."""
        item = self.item()
        try:
            if item is None:
                raise ValueError("There is no item to review: choose or create a campaign first.")
            if not label:
                raise ValueError("Choose a label first (number keys 1-9 pick one).")
            assert self.campaign_id is not None  # the queue holds items only while a campaign is open
            self.store.record_verdict(self.user, int(self.campaign_id), int(item["item_id"]), label, comment)
        except (PermissionError, ValueError, LookupError) as exc:
            self.say(str(exc), "danger" if isinstance(exc, PermissionError) else "warning")
            return False
        except Exception:
            log.exception("verdict write failed")
            self.say("The verdict could not be saved because of a server error; please try again.", "danger")
            return False
        self.say(f"Saved '{label}' for item {self.position + 1}.", "success")
        self._reload_queue()
        if advance:
            self.step(1)
        return True

    def create_campaign(self, name: str, items: list, description: str = "") -> int | None:
        """Create a campaign of ``items`` as the session user (admins only) and open it."""
        try:
            campaign_id = self.store.create_campaign(self.user, name, self.catalogue.name, items, description)
        except (PermissionError, ValueError, LookupError) as exc:
            self.say(str(exc), "danger" if isinstance(exc, PermissionError) else "warning")
            return None
        except Exception:
            log.exception("campaign creation failed")
            self.say("The campaign could not be created because of a server error; please try again.", "danger")
            return None
        self.say(f"Created campaign '{name}' with {len(items):,} items.", "success")
        self.campaigns = self.store.campaigns()
        self.campaigns = self.campaigns[self.campaigns["release"] == self.catalogue.name].reset_index(drop=True)
        self.campaign_id = campaign_id
        return campaign_id
