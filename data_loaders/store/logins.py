"""Server-side sign-ins and the back-off on failed log-ins and sign-ups, kept in the store.

A login cookie only carries the (signed) id of a row of ``logins``; the row says whose it is,
until when it is valid and whether it was revoked. Logging out, changing a password or an
admin's reset revokes rows, and since every server process reads the same database the
revocation reaches all of them at once (nothing is kept in process memory).

Back-off: each failed log-in is recorded under the account and under the client address,
each sign-up under the client address. Past a number of free attempts within a window, the
next attempt must wait ``base * 2**(n - free)`` seconds (capped) after the last one. Keys are
separate, so one abusive address slows down itself and the accounts it attacks, not others.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select, update

from .models import AuthAttempt, Login, utcnow

if TYPE_CHECKING:
    from .store import Store

#: How long a sign-in lasts, days (the login cookie's lifetime and the row's expiry).
LOGIN_DAYS = 7
#: Attempts older than this are deleted when new ones are recorded.
KEEP_ATTEMPTS = timedelta(days=1)


@dataclass(frozen=True)
class Backoff:
    """``free`` attempts per ``window``; then wait ``base_s * 2**(n - free)`` s, at most ``max_s``."""

    free: int
    window: timedelta
    base_s: float
    max_s: float

    def delay(self, n: int) -> float:
        if n < self.free:
            return 0.0
        return min(self.base_s * 2.0 ** min(n - self.free, 30), self.max_s)


#: Failed log-ins from one address (any accounts) and on one account (any addresses).
LOGIN_BY_ADDRESS = Backoff(free=5, window=timedelta(minutes=15), base_s=2.0, max_s=900.0)
LOGIN_BY_ACCOUNT = Backoff(free=10, window=timedelta(minutes=15), base_s=2.0, max_s=300.0)
#: Sign-ups from one address; and from everyone together (a ceiling against a distributed flood).
SIGNUP_BY_ADDRESS = Backoff(free=3, window=timedelta(hours=1), base_s=60.0, max_s=3600.0)
SIGNUP_TOTAL_PER_HOUR = 200


# -- logins -----------------------------------------------------------------------------------------
def open_login(store: Store, user: str, address: str, days: float = LOGIN_DAYS) -> str:
    """Record a sign-in of ``user`` from ``address``; its id (for the signed cookie)."""
    login_id = secrets.token_urlsafe(32)
    now = utcnow()
    with store.write() as conn:
        conn.execute(
            insert(Login),
            {
                "id": login_id,
                "user_name": user,
                "created": now,
                "expires": now + timedelta(days=days),
                "revoked": None,
                "address": str(address)[:64],
            },
        )
    return login_id


def login_user(store: Store, login_id: str | None) -> str | None:
    """The user of an unexpired, unrevoked login, else None."""
    if not isinstance(login_id, str) or not 0 < len(login_id) <= 64:
        return None
    with store.engine.connect() as conn:
        row = conn.execute(select(Login.user_name, Login.expires, Login.revoked).where(Login.id == login_id)).first()
    if row is None or row.revoked is not None or row.expires <= utcnow():
        return None
    return row.user_name


def revoke_logins(store: Store, user: str, keep: str | None = None) -> int:
    """Revoke every open login of ``user`` except ``keep``; how many were revoked."""
    now = utcnow()
    query = update(Login).where(Login.user_name == user, Login.revoked.is_(None), Login.expires > now)
    if keep is not None:
        query = query.where(Login.id != keep)
    with store.write() as conn:
        return conn.execute(query.values(revoked=now)).rowcount


# -- back-off ---------------------------------------------------------------------------------------
def record_attempt(store: Store, kind: str, *keys: str) -> None:
    """Record one attempt of ``kind`` ('login' failure or 'signup') under each key."""
    now = utcnow()
    with store.write() as conn:
        conn.execute(insert(AuthAttempt), [{"time": now, "kind": kind, "key": k[:200]} for k in keys])
        conn.execute(delete(AuthAttempt).where(AuthAttempt.time < now - KEEP_ATTEMPTS))


def clear_attempts(store: Store, kind: str, key: str) -> None:
    """Forget the attempts under ``key`` (an account's failures after its owner logs in)."""
    with store.write() as conn:
        conn.execute(delete(AuthAttempt).where(AuthAttempt.kind == kind, AuthAttempt.key == key[:200]))


def wait_seconds(store: Store, kind: str, key: str, policy: Backoff, now: datetime | None = None) -> float:
    """Seconds ``key`` must still wait before its next attempt of ``kind`` (0: go ahead)."""
    now = now or utcnow()
    with store.engine.connect() as conn:
        n, last = conn.execute(
            select(func.count(), func.max(AuthAttempt.time)).where(
                AuthAttempt.kind == kind, AuthAttempt.key == key[:200], AuthAttempt.time > now - policy.window
            )
        ).one()
    if not n or last is None:
        return 0.0
    if last.tzinfo is None:  # max() over SQLite text comes back without the type's conversion
        from datetime import UTC

        last = datetime.fromisoformat(str(last)).replace(tzinfo=UTC)
    return max(0.0, (last + timedelta(seconds=policy.delay(n)) - now).total_seconds())


def signups_last_hour(store: Store) -> int:
    """Sign-ups from every address in the last hour."""
    with store.engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(AuthAttempt.kind == "signup", AuthAttempt.time > utcnow() - timedelta(hours=1))
        ).scalar_one()
