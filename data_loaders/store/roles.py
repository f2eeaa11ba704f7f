"""Roles (viewer < classifier < reviewer < admin), the server-side role check and role history."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select, update

from .models import RoleEvent, User, utcnow

if TYPE_CHECKING:
    from .store import Store

ROLES = ("viewer", "classifier", "reviewer", "admin")
#: Role of a signed-in user the store has never been told about (e.g. a new OAuth login).
DEFAULT_ROLE = "classifier"
#: Names that mean "nobody signed in": Panel calls visitors of guest endpoints "guest".
ANONYMOUS_NAMES = frozenset({"", "guest"})
#: Longest user name the store accepts, characters.
MAX_NAME_LENGTH = 150


def role_rank(role: str) -> int:
    """Position of ``role`` in ``ROLES``; ValueError naming the allowed roles otherwise."""
    try:
        return ROLES.index(role)
    except ValueError:
        raise ValueError(f"Unknown role {role!r}; allowed roles are: {', '.join(ROLES)}.") from None


def is_anonymous(user: str | None) -> bool:
    """True for None, empty names and Panel's 'guest'."""
    return user is None or user.strip() in ANONYMOUS_NAMES


def check_user_name(name: str) -> str:
    """``name`` if it can name an account; ValueError with the reason otherwise."""
    if not isinstance(name, str) or is_anonymous(name) or name != name.strip():
        raise ValueError(
            f"User name {name!r} is not allowed: it must be non-empty, without surrounding spaces, and not 'guest'."
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"User name is {len(name)} characters long; at most {MAX_NAME_LENGTH}.")
    return name


def _lookup(source: Any, user: str) -> str:
    if hasattr(source, "role_of"):
        return source.role_of(user)
    if isinstance(source, Mapping):
        return source.get(user, DEFAULT_ROLE)
    if isinstance(source, str | os.PathLike):
        from .users import role_of

        return role_of(Path(source), user) or DEFAULT_ROLE
    raise TypeError(f"Cannot look up roles in a {type(source).__name__}.")


def require_role(source: Any, user: str | None, minimum_role: str) -> str:
    """The role of ``user`` if it is at least ``minimum_role``, else PermissionError.

    ``source`` is a Store, a users-file path or a mapping of user name to role. Unknown
    signed-in users have ``DEFAULT_ROLE``; anonymous visitors can never pass.
    """
    needed = role_rank(minimum_role)
    if user is None or is_anonymous(user):
        raise PermissionError(
            f"Sign in to do this: it needs the role {minimum_role!r}, and anonymous visitors can only view."
        )
    role = _lookup(source, user)
    if role_rank(role) < needed:
        raise PermissionError(f"User {user!r} has the role {role!r}, but this needs {minimum_role!r} or higher.")
    return role


def db_role_of(engine: Engine, name: str) -> str | None:
    """The role recorded in the store's users table, or None if the user is not there."""
    with engine.connect() as conn:
        return conn.execute(select(User.role).where(User.name == name)).scalar_one_or_none()


def _grant(conn, name: str, role: str, granted_by: str) -> bool:
    """Upsert one user's role and append to its history; True if anything changed."""
    now = utcnow()
    current = conn.execute(select(User.role).where(User.name == name)).scalar_one_or_none()
    if current == role:
        return False
    if current is None:
        conn.execute(insert(User), {"name": name, "role": role, "created": now})
    else:
        conn.execute(update(User).where(User.name == name).values(role=role))
    conn.execute(insert(RoleEvent), {"time": now, "name": name, "role": role, "granted_by": granted_by})
    return True


def set_role(store: Store, admin: str | None, name: str, role: str) -> None:
    """Give ``name`` the ``role``; only an admin may."""
    role_rank(role)
    check_user_name(name)
    require_role(store, admin, "admin")
    assert admin is not None  # require_role refuses anonymous visitors
    with store.write() as conn:
        _grant(conn, name, role, admin)


def grant_role(store: Store, name: str, role: str, granted_by: str = "operator") -> bool:
    """Operator grant without an acting user (CLI, start-up); True if the role changed."""
    role_rank(role)
    check_user_name(name)
    with store.write() as conn:
        return _grant(conn, name, role, granted_by)


def sync_users_file(store: Store, path: Path) -> int:
    """Copy every account's role from the users file into the store; returns changes made.

    This is an operator action (whoever can write the users file already administers
    the server), so it takes no acting user.
    """
    from .users import list_users

    changed = 0
    with store.write() as conn:
        for entry in list_users(path):
            changed += _grant(conn, entry["name"], entry["role"], f"users-file:{Path(path).name}")
    return changed
