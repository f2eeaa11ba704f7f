"""The player card: sign up (nickname + password), link to log in, level progress and the leaderboard opt-in."""

from __future__ import annotations

import panel as pn
import param

from app.text import inert
from app.views.classify.state import ClassifyState
from data_loaders.citizen import LEVEL2_MIN_GOLD, LEVEL2_MIN_RATE

LOGIN_URL = "/login?next=/classify"


class PlayerCard(pn.viewable.Viewer):
    """Who is playing; the sign-up form for guests; progress and the opt-in for volunteers."""

    state = param.ClassSelector(class_=ClassifyState)

    def __init__(self, state: ClassifyState, **params):
        super().__init__(state=state, **params)
        self._nick = pn.widgets.TextInput(label="Nickname", placeholder="3-24 letters, digits, _ or -", max_length=24)
        self._password = pn.widgets.PasswordInput(label="Password", placeholder="at least 8 characters")
        self._signup = pn.widgets.Button(label="Sign up and play", color="primary", sizing_mode="stretch_width")
        self._signup.on_click(self._on_signup)
        self._error = pn.pane.HTML(css_classes=["xmm-message"], visible=False, sizing_mode="stretch_width")
        self._form = pn.Column(
            pn.pane.HTML(
                "<h3>Join the team</h3><p>Pick a nickname and a password: your answers will count, and you can "
                f"reach level 2. Already have one? <a href='{LOGIN_URL}'>Log in</a>.</p>"
            ),
            self._nick,
            self._password,
            self._signup,
            self._error,
            sizing_mode="stretch_width",
        )
        self._who = pn.pane.HTML(sizing_mode="stretch_width")
        self._progress = pn.pane.HTML(sizing_mode="stretch_width")
        self._optin = pn.widgets.Checkbox(label="Show me on the leaderboard", value=state.show_on_leaderboard)
        self._optin.param.watch(self._on_optin, "value")
        self._card = pn.Column(self._who, self._progress, self._optin, sizing_mode="stretch_width")
        self._layout = pn.Column(self._form, self._card, sizing_mode="stretch_width")
        self._sync()
        state.param.watch(self._sync, ["user", "version", "show_on_leaderboard"])

    def _on_optin(self, event: param.parameterized.Event) -> None:
        assert self.state is not None  # set in __init__
        self.state.set_leaderboard(event.new)

    async def _on_signup(self, _event) -> None:
        assert self.state is not None  # set in __init__
        ok = await self.state.sign_up_async(self._nick.value or "", self._password.value or "")
        self._password.value = ""
        self._error.object = "" if ok else inert(self.state.message)
        self._error.visible = not ok
        if ok:
            self.state.message = ""

    def _sync(self, *_):
        st = self.state
        assert st is not None  # set in __init__
        self._form.visible = st.user is None
        self._card.visible = st.user is not None
        if st.user is None:
            return
        self._optin.value = st.show_on_leaderboard
        p = st.progress()
        name = inert(st.user)
        self._who.object = f"<h3>Hello, {name}!</h3>"
        if p["level"] >= 2:
            text = (
                "<div class='xmm-level'>Level 2</div><p>Your answers now count toward the astronomers' "
                f"crowd classification. Success rate on known sources: {p['success_rate']:.0%}.</p>"
            )
        else:
            # A rate after one or two answers reads like a mark: show it once it means something.
            rate = "" if p["n_scored"] < 5 else f" Your success rate so far: {p['success_rate']:.0%}."
            text = (
                "<div class='xmm-level'>Level 1</div><p>Some sources are already known to astronomers. After "
                f"{LEVEL2_MIN_GOLD:d} of those with at least {LEVEL2_MIN_RATE:.0%} right you reach level 2 and your "
                f"answers count. Known sources answered: {p['n_scored']:d} of {LEVEL2_MIN_GOLD:d}.{rate}</p>"
            )
        self._progress.object = text

    def __panel__(self):
        return self._layout
