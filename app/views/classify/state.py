"""The Classify session's state: who is playing, which source is shown, the last answer's feedback.

One ``ClassifyState`` per browser session. Gold answers stay in the process-wide
``GameData``; the state only asks for one after the volunteer has answered.
"""

from __future__ import annotations

import logging

import numpy as np
import param

from app.text import inert
from app.views.classify.game_data import GameData, game_data
from data_loaders.catalogue import Catalogue
from data_loaders.citizen import DONT_KNOW, category, is_correct, pick_next
from data_loaders.citizen.accounts import SignupError, sign_up
from data_loaders.citizen.categories import category_of_class
from data_loaders.citizen.history import user_answers, voted_srcids
from data_loaders.citizen.preferences import set_show_on_leaderboard, shows_on_leaderboard
from data_loaders.citizen.scoring import progress
from data_loaders.store import RateLimited

log = logging.getLogger("xmm_explorer.classify")
CONFIDENCES = {"Just guessing": 0.34, "Fairly sure": 0.67, "Sure!": 1.0}


class ClassifyState(param.Parameterized):
    """One volunteer's game: identity, current source, last feedback, progress."""

    user = param.String(default=None, allow_None=True, doc="Signed-in nickname; None plays as a guest.")
    srcid = param.Integer(default=None, allow_None=True, doc="The source on screen.")
    answered = param.Boolean(default=False, doc="True once the source on screen has been answered.")
    feedback = param.String(default="", doc="HTML shown after an answer (escaped).")
    message = param.String(default="", doc="One sentence when something went wrong (plain text).")
    n_session = param.Integer(default=0, doc="Answers given in this session.")
    show_on_leaderboard = param.Boolean(default=False)
    version = param.Integer(default=0, doc="Bumped after each stored vote (leaderboard refresh).")

    def __init__(self, catalogue: Catalogue, store, users_file, user: str | None = None, seed=None, **params):
        super().__init__(**params)
        self.catalogue = catalogue
        self.store = store
        self.users_file = users_file
        self.data: GameData = game_data(catalogue)
        self._rng = np.random.default_rng(seed)
        self._seen: set[int] = set()
        self.sign_in(user)
        self.next_source()

    # --- identity ---------------------------------------------------------------------------
    def sign_in(self, user: str | None) -> None:
        """Play as ``user`` (already authenticated) or as a guest (None)."""
        self.user = user
        self._seen = set(self._seen)
        if user:
            self._seen |= voted_srcids(self.store, self.catalogue.name, user)
            self.show_on_leaderboard = shows_on_leaderboard(self.store, user)
        else:
            self.show_on_leaderboard = False

    def _create(self, nick: str, password: str) -> str | SignupError:
        from app.clients import session_address

        try:
            return sign_up(self.users_file, self.store, nick.strip(), password, session_address())
        except SignupError as exc:
            return exc

    def _signed_up(self, outcome: str | SignupError) -> bool:
        if isinstance(outcome, SignupError):
            self.message = str(outcome)
            return False
        self.message = ""
        self.sign_in(outcome)
        return True

    def sign_up(self, nick: str, password: str) -> bool:
        """Create the volunteer and play as them in this session; False with ``message`` set otherwise."""
        return self._signed_up(self._create(nick, password))

    async def sign_up_async(self, nick: str, password: str) -> bool:
        """:meth:`sign_up` with the password hashing in a thread (the page's event loop keeps serving)."""
        from app.off_loop import off_loop

        return self._signed_up(await off_loop(self._create, nick, password))

    def set_leaderboard(self, show: bool) -> None:
        """Store the volunteer's opt-in choice (guests cannot opt in)."""
        if not self.user:
            self.message = "Sign up to appear on the leaderboard."
            self.show_on_leaderboard = False
            return
        set_show_on_leaderboard(self.store, self.user, show)
        self.show_on_leaderboard = bool(show)
        self.version += 1

    # --- the game ---------------------------------------------------------------------------
    def next_source(self) -> None:
        """Show the next source (gold about one in five; never one this volunteer has seen)."""
        counts = self.data.vote_counts(self.store)
        srcid = pick_next(self.data.pool, self.data.gold_ids, counts, self._seen, self._rng)
        self.param.update(srcid=srcid, answered=False, feedback="", message="")

    def answer(self, key: str, confidence: float) -> None:
        """Record the answer ``key`` (a category key) for the source on screen and give feedback."""
        if self.srcid is None or self.answered:
            return
        cat = category(key)
        truth = self.data.true_class(self.srcid)
        correct = None if truth is None else is_correct(cat.key, truth)
        if self.user:
            try:
                self.store.record_vote(
                    self.user, self.catalogue.name, self.srcid, cat.key, confidence, truth is not None, correct
                )
            except RateLimited as exc:
                self.message = (
                    f"Whoa, that was fast! Please wait {int(np.ceil(exc.retry_after))} s before the next answer."
                )
                return
            except (PermissionError, ValueError) as exc:
                log.warning("vote refused for %r: %s", self.user, exc)
                self.message = str(exc)
                return
            self.version += 1
        self._seen.add(self.srcid)
        self.param.update(
            answered=True, feedback=self._feedback(cat.key, truth), message="", n_session=self.n_session + 1
        )

    def _feedback(self, key: str, truth: str | None) -> str:
        if truth is None:
            return (
                "<b>Thank you!</b> Nobody knows what this one is yet: your answer helps astronomers find out."
                if key != DONT_KNOW
                else "<b>Thanks for being honest!</b> Hard cases are useful to know about too."
            )
        known = category_of_class(truth)
        label = inert(known.label)
        if is_correct(key, truth):
            return f"<b>Astronomers think this one is: {label} — nice!</b>"
        return f"<b>Astronomers think it's: {label}.</b> Here's the clue: {inert(known.clue)}"

    # --- progress ---------------------------------------------------------------------------
    def progress(self) -> dict:
        """Level and progress toward level 2 for the signed-in volunteer (guests: session counts only)."""
        if not self.user:
            return {"level": 1, "n_scored": 0, "success_rate": None, "answers_to_go": None}
        n_scored, n_correct = user_answers(self.store, self.catalogue.name, self.user)
        return progress(n_scored, n_correct)
