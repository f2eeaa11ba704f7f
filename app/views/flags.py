"""Flags in the app: flag/unflag one source or a whole selection, a source's history, and flag masks.

Writes go through the Store with the session's user (``app.auth.current_user``), so the
role check happens server-side; a refusal is shown as its one sentence. Comments and
names are rendered as text (escaped), never as HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import panel as pn
import param

from app import auth
from app.store_access import get_store
from app.text import inert
from data_loaders.catalogue import CatalogueEngine
from data_loaders.store import Store

log = logging.getLogger(__name__)

#: The kinds of one-sentence message shown in a ``pn.pane.Alert`` (its ``alert_type``).
MessageKind = Literal["info", "success", "warning", "danger"]

#: Most sources one flag action may cover (a whole-sky selection is almost surely a mistake).
MAX_FLAG_SOURCES = 100_000


def source_tuples(catalogue, srcids: Iterable[int]) -> list[tuple[int, float, float]]:
    """``(srcid, SC_RA, SC_DEC)`` for each known SRCID (unknown ones dropped), in the given order."""
    ids = np.asarray(list(srcids) if not isinstance(srcids, np.ndarray) else srcids, dtype=np.int64)
    rows = catalogue.find("sources", "SRCID", np.unique(ids), ["SRCID", "SC_RA", "SC_DEC"]).drop_duplicates("SRCID")
    rows = rows.set_index("SRCID").reindex(ids).dropna()
    return list(zip(rows.index.astype(np.int64).tolist(), rows["SC_RA"].tolist(), rows["SC_DEC"].tolist(), strict=True))


def _as_srcids(value) -> np.ndarray:
    """SRCIDs from what a ``get_sources`` callable returns: ints, ``(srcid, ...)`` tuples or a frame."""
    if value is None:
        return np.array([], dtype=np.int64)
    if isinstance(value, pd.DataFrame):
        return value["SRCID"].to_numpy(np.int64)
    items = list(value) if not isinstance(value, np.ndarray) else value
    if len(items) and isinstance(items[0], tuple | list):
        return np.array([int(i[0]) for i in items], dtype=np.int64)
    return np.unique(np.asarray(items, dtype=np.int64))


def history_html(history: pd.DataFrame, current: pd.DataFrame | None = None) -> str:
    """A source's flag events, newest first, as an HTML table with every value escaped."""
    parts = []
    if current is not None and not current.empty:
        chips = " ".join(
            f"<span class='xmm-flag-chip'>{inert(str(r.label))} ×{int(r.n_users)}</span>" for r in current.itertuples()
        )
        parts.append(f"<div class='xmm-flag-current'>Now flagged: {chips}</div>")
    if history.empty:
        parts.append("<div class='xmm-empty'>No flags on this source yet.</div>")
        return "".join(parts)
    rows = []
    for r in history.iloc[::-1].itertuples():
        when = r.time.strftime("%Y-%m-%d %H:%M") if pd.notna(r.time) else ""
        rows.append(
            f"<tr><td>{inert(when)}</td><td>{inert(str(r.user))}</td><td>{inert(str(r.action))}</td>"
            f"<td>{inert(str(r.label))}</td><td class='xmm-comment'>{inert(str(r.comment or ''))}</td></tr>"
        )
    parts.append(
        "<table class='xmm-kv xmm-flag-history'><tr><th>UTC</th><th>user</th><th>action</th><th>label</th>"
        "<th>comment</th></tr>" + "".join(rows) + "</table>"
    )
    return "".join(parts)


FLAG_CSS = """
.xmm-flag-chip { background: #b45309; color: white; border-radius: 10px; padding: 1px 8px; margin-right: 4px;
                 font-size: .85em; }
.xmm-flag-current { margin: 4px 0 8px 0; }
td.xmm-comment { white-space: pre-wrap; word-break: break-word; }
table.xmm-flag-history td { padding: 2px 8px 2px 0; vertical-align: top; }
"""


class FlagHistory(pn.viewable.Viewer):
    """The flags a source carries now and every flag event on it (for the Source and Review pages)."""

    srcid = param.Integer(default=None, allow_None=True)
    version = param.Integer(default=0, doc="Bump to re-read after a write")

    def __init__(self, catalogue: CatalogueEngine, srcid: int | None = None, store: Store | None = None, **params):
        super().__init__(srcid=srcid, **params)
        self.catalogue = catalogue
        self._store = store
        self.pane = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[FLAG_CSS])
        self.param.watch(self._update, ["srcid", "version"])
        self._update()

    @property
    def store(self) -> Store:
        return self._store or get_store()

    def _update(self, *_):
        if self.srcid is None:
            self.pane.object = "<div class='xmm-empty'>No source.</div>"
            return
        release = self.catalogue.name
        history = self.store.flag_history(release, self.srcid)
        current = self.store.current_flags(release, [self.srcid])
        self.pane.object = history_html(history, current)

    def __panel__(self):
        return self.pane


class FlagPanel(pn.viewable.Viewer):
    """Flag or unflag the sources ``get_sources()`` returns (one source or a whole selection) in one call.

    ``get_sources`` returns SRCIDs, ``(srcid, ...)`` tuples or a frame with ``SRCID``;
    ``user`` returns the acting user (default: the session's). ``written`` counts events
    written by this panel and bumps after each successful write (others can watch it).
    """

    written = param.Integer(default=0)
    message = param.String(default="")

    def __init__(
        self,
        catalogue: CatalogueEngine,
        get_sources: Callable[[], object],
        *,
        vocabulary: Sequence[str] | None = None,
        user: Callable[[], str | None] = auth.current_user,
        store: Store | None = None,
        campaign_id: Callable[[], int | None] | None = None,
        **params,
    ):
        super().__init__(**params)
        self.catalogue = catalogue
        self.get_sources = get_sources
        self._user = user
        self._store = store
        self._campaign_id = campaign_id
        labels = list(vocabulary or self.store.flag_labels)
        self.vocabulary = labels
        self.label = pn.widgets.Select(label="Label", options=labels, value=labels[0], sizing_mode="stretch_width")
        self.comment = pn.widgets.TextAreaInput(
            label="Comment",
            placeholder="Why? (optional, stored as plain text)",
            max_length=10_000,
            height=80,
            sizing_mode="stretch_width",
        )
        self.flag_button = pn.widgets.Button(label="Flag", color="warning", css_classes=["xmm-flag-btn"])
        self.unflag_button = pn.widgets.Button(label="Unflag", color="default", css_classes=["xmm-unflag-btn"])
        self.flag_button.on_click(lambda e: self._on_button("flag"))
        self.unflag_button.on_click(lambda e: self._on_button("unflag"))
        self.target = pn.pane.HTML("", sizing_mode="stretch_width")
        self.alert = pn.pane.Alert(
            "", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["xmm-flag-message"]
        )
        self._layout = pn.Column(
            self.target,
            self.label,
            self.comment,
            pn.Row(self.flag_button, self.unflag_button),
            self.alert,
            sizing_mode="stretch_width",
        )
        self.describe_target()

    @property
    def store(self) -> Store:
        return self._store or get_store()

    def describe_target(self) -> None:
        """Refresh the "applies to N sources" line (call when the selection changes)."""
        n = len(_as_srcids(self.get_sources()))
        self.target.object = f"<div class='xmm-count'>Applies to {n:,} source{'s' if n != 1 else ''}</div>"

    def _say(self, text: str, kind: MessageKind) -> None:
        self.message = text
        # Alert renders Markdown: escape so a comment-like message can never become markup.
        self.alert.object = inert(text)
        self.alert.alert_type = kind
        self.alert.visible = bool(text)

    def _on_button(self, action: str) -> None:
        """``apply`` for the buttons, whose callbacks return nothing."""
        self.apply(action)

    def apply(self, action: str) -> int:
        """Flag or unflag the current sources with the chosen label and comment; returns events written."""
        try:
            user = self._user()
            self.store.require_role(user, "reviewer")  # the Store checks again; this orders the sentences
            ids = _as_srcids(self.get_sources())
            if ids.size == 0:
                raise ValueError("Nothing to flag: select at least one source first.")
            if ids.size > MAX_FLAG_SOURCES:
                raise ValueError(f"{ids.size:,} sources is more than one flag action may cover ({MAX_FLAG_SOURCES:,}).")
            sources = source_tuples(self.catalogue, ids)
            campaign = self._campaign_id() if self._campaign_id else None
            n = self.store.add_flags(
                user,
                self.catalogue.name,
                sources,
                self.label.value,
                self.comment.value,
                action,
                campaign_id=campaign,
                vocabulary=self.vocabulary,
            )
        except (PermissionError, ValueError, LookupError) as exc:
            self._say(str(exc), "danger" if isinstance(exc, PermissionError) else "warning")
            return 0
        except Exception:
            log.exception("flag write failed")
            self._say("The flag could not be saved because of a server error; please try again.", "danger")
            return 0
        verb = "Flagged" if action == "flag" else "Unflagged"
        self._say(f"{verb} {n:,} source{'s' if n != 1 else ''} as {self.label.value}.", "success")
        self.comment.value = ""
        self.written += n
        return n

    def __panel__(self):
        return self._layout
