"""The answer panel: one big button per family, a confidence choice, the gentle feedback and "Next"."""

from __future__ import annotations

from functools import partial

import panel as pn
import param

from app.text import inert
from app.views.classify.state import CONFIDENCES, ClassifyState
from data_loaders.citizen import CATEGORIES

GUEST_NOTE = (
    "You are playing as a guest: your answers are <b>not saved and not ranked</b>. "
    "Sign up with a nickname to make them count."
)


class AnswerPanel(pn.viewable.Viewer):
    """Family buttons (each one sends the answer), confidence, feedback and the Next button."""

    state = param.ClassSelector(class_=ClassifyState)

    def __init__(self, state: ClassifyState, **params):
        super().__init__(state=state, **params)
        self._confidence = pn.widgets.RadioButtonGroup(
            label="How sure are you?",
            options=list(CONFIDENCES),
            value="Fairly sure",
            color="primary",
            variant="outline",
            sizing_mode="stretch_width",
            stylesheets=[":host { font-size: 1.1em; }"],
        )
        self._buttons = []
        for cat in CATEGORIES:
            button = pn.widgets.Button(
                label=cat.label,
                color="light" if cat.key == "dont_know" else "primary",
                height=56,
                sizing_mode="stretch_width",
                description=cat.blurb,
                css_classes=["xmm-answer"],
                stylesheets=[":host .bk-btn { font-size: 1.05em; white-space: normal; line-height: 1.15; }"],
            )
            button.on_click(partial(self._on_answer, cat.key))
            self._buttons.append(button)
        self._next = pn.widgets.Button(
            label="Next source ➜",
            color="success",
            height=60,
            sizing_mode="stretch_width",
            stylesheets=[":host .bk-btn { font-size: 1.25em; }"],
        )
        self._next.on_click(self._on_next)
        self._feedback = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["xmm-feedback"])
        self._message = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["xmm-message"])
        self._guest = pn.pane.HTML(GUEST_NOTE, sizing_mode="stretch_width", css_classes=["xmm-guest"])
        self._layout = pn.Column(
            pn.pane.HTML("<div class='xmm-question'>What do you think it is?</div>"),
            pn.GridBox(*self._buttons, ncols=2, sizing_mode="stretch_width"),
            pn.pane.HTML("<div class='xmm-small'>How sure are you?</div>"),
            self._confidence,
            self._message,
            self._feedback,
            self._next,
            self._guest,
            sizing_mode="stretch_width",
        )
        self._sync()
        state.param.watch(self._sync, ["answered", "feedback", "message", "user", "srcid"])

    def _on_answer(self, key: str, _event: object) -> None:
        self._answer(key)

    def _on_next(self, _event: object) -> None:
        assert self.state is not None  # set in __init__
        self.state.next_source()

    def _answer(self, key: str) -> None:
        assert self.state is not None  # set in __init__
        self.state.answer(key, CONFIDENCES[self._confidence.value])

    def _sync(self, *_):
        st = self.state
        assert st is not None  # set in __init__
        done = st.answered or st.srcid is None
        for button in self._buttons:
            button.disabled = done
        self._feedback.object = st.feedback
        self._feedback.visible = bool(st.feedback)
        self._message.object = inert(st.message)
        self._message.visible = bool(st.message)
        self._next.visible = st.answered
        self._guest.visible = st.user is None

    def __panel__(self):
        return self._layout
