"""Volunteer sign-up: nickname and password rules, and a per-process sign-up rate limit.

A new volunteer is written to the users file (hashed password) with the role
'classifier' and the same role is granted in the store, so their votes are accepted.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from data_loaders.store import users
from data_loaders.store.roles import db_role_of

NICKNAME = re.compile(r"[A-Za-z0-9_-]{3,24}")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
ROLE = "classifier"


class SignupError(ValueError):
    """A sign-up was refused; the message is one sentence for the visitor."""


class SignupLimiter:
    """At most ``limit`` sign-ups per ``window`` seconds in this process (thread-safe)."""

    def __init__(self, limit: int = 20, window: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Use one sign-up slot, or raise SignupError saying when to come back."""
        with self._lock:
            now = self.clock()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:
                wait = int(self._times[0] + self.window - now) // 60 + 1
                raise SignupError(f"Too many new players joined just now; please try again in {wait} min.")
            self._times.append(now)


def check_nickname(nick: str) -> str:
    """The nickname if it is 3-24 letters, digits, '_' or '-'; SignupError otherwise."""
    if not isinstance(nick, str) or not NICKNAME.fullmatch(nick):
        raise SignupError("A nickname is 3 to 24 letters, digits, '_' or '-' (no spaces).")
    return nick


def check_password(password: str) -> str:
    """The password if it has 8 to 256 characters; SignupError otherwise."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise SignupError(f"Please choose a password of at least {MIN_PASSWORD} characters.")
    return password


def sign_up(users_file: Path, store, nick: str, password: str, limiter: SignupLimiter) -> str:
    """Create the volunteer ``nick`` (users file + store role); their name, or SignupError."""
    check_nickname(nick)
    check_password(password)
    # A name the store already knows (e.g. a reviewer) must not be re-granted a lower role.
    if users.role_of(users_file, nick) is not None or db_role_of(store.engine, nick) is not None:
        raise SignupError("That nickname is taken; please pick another one.")
    limiter.take()
    try:
        users.add_user(users_file, nick, password, ROLE)
    except ValueError:
        raise SignupError("That nickname is taken; please pick another one.") from None
    store.grant_role(nick, ROLE, granted_by="signup")
    return nick
