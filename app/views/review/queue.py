"""Stepping through a campaign: the item, everyone's verdicts, and the verdict form with keyboard shortcuts."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from app.text import inert
from app.views.flags import FLAG_CSS, FlagHistory, FlagPanel
from app.views.review.session import ReviewState
from app.views.source_card import source_card_html

try:  # the full Source view, when its package is there
    from app.views.source import SourceView as _SourceView

    SourceView: type[_SourceView] | None = _SourceView
except ImportError:  # pragma: no cover - depends on the colleague's package
    SourceView = None

NEXT_KEYS = ("j", "ArrowRight")
PREVIOUS_KEYS = ("k", "ArrowLeft")
SAVE_KEYS = ("Enter",)


class ReviewKeys(pn.custom.JSComponent):
    """Keyboard shortcuts for the page: 1-9 pick a label, j/→ next, k/← previous, Enter saves.

    Keys typed into a text box are ignored; each key is sent to Python (``on_key``), which
    does exactly what the buttons do.
    """

    _esm = """
export function render({ model }) {
  const wanted = new Set(['1','2','3','4','5','6','7','8','9','j','k','ArrowRight','ArrowLeft','Enter']);
  const onKey = (event) => {
    const target = event.composedPath ? event.composedPath()[0] : event.target;
    const tag = ((target && target.tagName) || '').toLowerCase();
    if (['input', 'textarea', 'select', 'button'].includes(tag) || (target && target.isContentEditable)) return;
    if (event.ctrlKey || event.metaKey || event.altKey || !wanted.has(event.key)) return;
    event.preventDefault();
    model.send_msg({key: event.key});
  };
  document.addEventListener('keydown', onKey);
  model.on('remove', () => document.removeEventListener('keydown', onKey));
  const help = document.createElement('div');
  help.className = 'xmm-keys-help';
  help.style.cssText = 'opacity:.7;font-size:.85em';
  help.textContent = 'Keys: 1-9 label · Enter save & next · j / → next · k / ← previous';
  return help;
}
"""

    def __init__(self, on_key, **params):
        super().__init__(**params)
        self._on_key = on_key

    def _handle_msg(self, msg) -> None:
        key = msg.get("key") if isinstance(msg, dict) else None
        if isinstance(key, str):
            self._on_key(key)


def verdicts_html(verdicts: pd.DataFrame, me: str | None) -> str:
    """Everyone's latest verdict on the item as an escaped HTML table."""
    if verdicts.empty:
        return "<div class='xmm-empty'>No verdicts on this item yet.</div>"
    rows = "".join(
        f"<tr><td>{inert(str(r.user))}{' (you)' if r.user == me else ''}</td><td><b>{inert(str(r.label))}</b></td>"
        f"<td class='xmm-comment'>{inert(str(r.comment or ''))}</td></tr>"
        for r in verdicts.itertuples()
    )
    return (
        f"<table class='xmm-kv xmm-verdicts'><tr><th>reviewer</th><th>verdict</th><th>comment</th></tr>{rows}</table>"
    )


class ReviewQueue(pn.viewable.Viewer):
    """The current item of the campaign, the verdict form, navigation and the item's flags."""

    def __init__(self, state: ReviewState, **params):
        super().__init__(**params)
        self.state = state
        labels = list(state.store.flag_labels)
        self.labels = labels
        self.heading = pn.pane.HTML(sizing_mode="stretch_width")
        self.label = pn.widgets.RadioButtonGroup(
            label="Verdict",
            options=[f"{i + 1} {lab}" for i, lab in enumerate(labels)],
            value=None,
            orientation="vertical",
            width=190,
            color="default",
            variant="outline",
            css_classes=["xmm-labels"],
        )
        self.comment = pn.widgets.TextAreaInput(
            label="Comment",
            placeholder="Comment (optional, stored as plain text)",
            height=150,
            max_length=10_000,
            sizing_mode="stretch_width",
        )
        self.previous = pn.widgets.Button(label="← Previous (k)", css_classes=["xmm-prev"])
        self.save = pn.widgets.Button(label="Save & next (Enter)", color="primary", css_classes=["xmm-save"])
        self.next = pn.widgets.Button(label="Next (j) →", css_classes=["xmm-next"])
        self.todo = pn.widgets.Button(label="Next unreviewed", color="light")
        self.previous.on_click(lambda e: state.step(-1))
        self.next.on_click(lambda e: state.step(1))
        self.todo.on_click(lambda e: state.next_unreviewed())
        self.save.on_click(lambda e: self._on_save())
        self.alert = pn.pane.Alert("", visible=False, sizing_mode="stretch_width", css_classes=["xmm-review-message"])
        self.verdicts = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[FLAG_CSS])
        self.history = FlagHistory(state.catalogue, store=state._store)
        self.flags = FlagPanel(
            state.catalogue,
            self._current_srcids,
            user=lambda: state.user,
            store=state._store,
            campaign_id=lambda: state.campaign_id,
        )
        self.flags.param.watch(lambda e: self.history.param.update(version=self.history.version + 1), ["written"])
        self.source: _SourceView | pn.pane.HTML
        if SourceView is not None:
            self.source = SourceView(state.catalogue, store=state.store)
        else:
            self.source = pn.pane.HTML(sizing_mode="stretch_width", min_height=280)
        self.keys = ReviewKeys(self.on_key)
        state.param.watch(self._update, ["version", "position", "campaign_id"])
        state.param.watch(self._show_message, ["message", "message_kind"])
        self._update()

    def _current_srcids(self) -> list[int]:
        item = self.state.item()
        return [] if item is None else [int(item["srcid"])]

    def _label_value(self) -> str | None:
        value = self.label.value
        return None if not value else value.split(" ", 1)[1]

    def _on_save(self) -> None:
        """``save_verdict`` for the button, whose callback returns nothing."""
        self.save_verdict()

    def save_verdict(self) -> bool:
        return self.state.record(self._label_value(), self.comment.value or "", advance=True)

    def on_key(self, key: str) -> None:
        if key.isdigit() and 1 <= int(key) <= len(self.labels):
            self.label.value = self.label.options[int(key) - 1]
        elif key in NEXT_KEYS:
            self.state.step(1)
        elif key in PREVIOUS_KEYS:
            self.state.step(-1)
        elif key in SAVE_KEYS:
            self.save_verdict()

    def _show_message(self, *_):
        st = self.state
        self.alert.object = inert(st.message)
        self.alert.alert_type = st.message_kind
        self.alert.visible = bool(st.message)

    def _update(self, *_):
        st = self.state
        item = st.item()
        if item is None:
            self.heading.object = "<div class='xmm-empty'>No campaign yet: an admin creates one below.</div>"
            self.history.srcid = None
            self.flags.describe_target()
            return
        srcid = int(item["srcid"])
        n = len(st.queue)
        done = int(st.queue["my_label"].notna().sum())
        detid = "" if pd.isna(item["detid"]) else f" · DETID {int(item['detid'])}"
        mine = item["my_label"]
        yours = f"your verdict: <b>{inert(str(mine))}</b>" if isinstance(mine, str) else "not reviewed by you"
        self.heading.object = (
            f"<div style='font-size:1.1em'><b>{inert(st.campaign_name())}</b> · item "
            f"<span id='xmm-item-pos'>{st.position + 1:d}</span> of {n:,} · SRCID {srcid:d}{detid} · {yours}"
            f"<div style='opacity:.75;font-size:.85em'>You have reviewed {done:,} of {n:,}.</div></div>"
        )
        self.label.value = (
            self.label.options[self.labels.index(mine)] if isinstance(mine, str) and mine in self.labels else None
        )
        self.comment.value = item["my_comment"] if isinstance(item["my_comment"], str) else ""
        self.verdicts.object = verdicts_html(st.item_verdicts(), st.user)
        self.history.srcid = srcid
        self.flags.describe_target()
        if isinstance(self.source, pn.pane.HTML):  # no Source view (SourceView is None)
            row = st.catalogue.source_row(srcid)
            self.source.object = source_card_html(row, st.catalogue.name)
        else:
            self.source.state.srcid = srcid

    def form(self) -> pn.Column:
        """The item heading, the verdict form and the navigation."""
        return pn.Column(
            self.heading,
            pn.Row(self.label, pn.Column(self.comment, self.alert, sizing_mode="stretch_width", min_width=240)),
            pn.Row(self.previous, self.save, self.next, self.todo),
            self.keys,
            # Beside the context where there is room, above it on a tablet or phone (the row wraps).
            min_width=300,
            styles={"flex": "3 1 600px"},
        )

    def context(self) -> pn.Column:
        """What others said: verdicts on the item, then the source's flags (and the flag form)."""
        return pn.Column(
            pn.pane.Markdown("#### Verdicts on this item", margin=(0, 5)),
            self.verdicts,
            pn.pane.Markdown("#### Flag this source", margin=(10, 5, 0, 5)),
            self.flags,
            pn.pane.Markdown("#### Flag history", margin=(10, 5, 0, 5)),
            self.history,
            min_width=300,
            styles={"flex": "2 1 360px"},
        )

    def __panel__(self):
        return pn.Column(
            pn.Row(self.form(), self.context(), sizing_mode="stretch_width"), self.source, sizing_mode="stretch_width"
        )


class LoginPrompt(pn.viewable.Viewer):
    """The "log in to record verdicts" prompt for anonymous visitors (and what a signed-in user may do)."""

    user = param.String(default=None, allow_None=True)
    role = param.String(default=None, allow_None=True)

    def __panel__(self):
        if self.user is None:
            text = (
                "You are browsing anonymously: <a id='xmm-review-login' href='login?next=/review'>log in</a> "
                "to record verdicts and flags."
            )
            kind = "warning"
        else:
            can = self.role in ("reviewer", "admin")
            text = f"Signed in as {inert(self.user)} ({inert(self.role or '')})" + (
                "." if can else ": reviewing needs the role reviewer; ask an admin."
            )
            kind = "info" if can else "warning"
        return pn.pane.Alert(text, alert_type=kind, sizing_mode="stretch_width", css_classes=["xmm-login-prompt"])
