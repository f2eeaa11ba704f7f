"""Volunteer sign-up: nickname and password rules, and the sign-up back-off per client address.

A new volunteer is written to the users file (hashed password) with the role
'classifier' and the same role is granted in the store, so their votes are accepted.
"""

from __future__ import annotations

import re
from pathlib import Path

from data_loaders.store import users
from data_loaders.store.roles import db_role_of

NICKNAME = re.compile(r"[A-Za-z0-9_-]{3,24}")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
ROLE = "classifier"


class SignupError(ValueError):
    """A sign-up was refused; the message is one sentence for the visitor."""


def check_signup_allowed(store, address: str) -> None:
    """SignupError saying when to come back if ``address`` (or everyone together) signed up too often.

    Per address: a few sign-ups per hour, then a growing wait (``logins.SIGNUP_BY_ADDRESS``),
    kept in the store so it holds across server processes; one address cannot use up the
    sign-ups of others. A ceiling for all addresses together stops a distributed flood.
    """
    from data_loaders.store import logins

    wait = logins.wait_seconds(store, "signup", f"addr:{address}", logins.SIGNUP_BY_ADDRESS)
    if wait > 0:
        minutes = int(wait) // 60 + 1
        raise SignupError(f"Too many sign-ups from your address just now; please try again in {minutes} min.")
    if logins.signups_last_hour(store) >= logins.SIGNUP_TOTAL_PER_HOUR:
        raise SignupError("Too many new players joined just now; please try again in a few minutes.")


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


def sign_up(users_file: Path, store, nick: str, password: str, address: str) -> str:
    """Create the volunteer ``nick`` (users file + store role) for a visitor at ``address``; SignupError if not.

    Hashes the password (scrypt, ~50 ms): call it off the event loop in a server.
    """
    check_nickname(nick)
    check_password(password)
    # A name the store already knows (e.g. a reviewer) must not be re-granted a lower role.
    if users.role_of(users_file, nick) is not None or db_role_of(store.engine, nick) is not None:
        raise SignupError("That nickname is taken; please pick another one.")
    check_signup_allowed(store, address)
    from data_loaders.store.logins import record_attempt

    record_attempt(store, "signup", f"addr:{address}")
    try:
        users.add_user(users_file, nick, password, ROLE)
    except ValueError:
        raise SignupError("That nickname is taken; please pick another one.") from None
    store.grant_role(nick, ROLE, granted_by="signup")
    return nick
