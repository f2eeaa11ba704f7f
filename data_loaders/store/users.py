"""The users file: salted scrypt password hashes and roles, for the app's login handler.

Panel 1.9's ``--basic-auth`` compares plaintext passwords from its JSON file with
``==``; this file holds only hashes, so the app must check passwords with
``verify_password`` in its own login handler and must not pass this file to
``--basic-auth``. Layout (JSON, mode 0600)::

    {"format": "xmm-explorer-users/1",
     "users": {"alice": {"role": "reviewer", "created": "2025-...Z",
                         "password": "scrypt$16384$8$1$<salt b64>$<hash b64>"}}}
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .models import utcnow
from .roles import check_user_name, role_rank

FORMAT = "xmm-explorer-users/1"
#: scrypt cost parameters: ~50 ms and 16 MiB per check on a 2-core machine.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8
_DUMMY_HASH = None  # computed lazily: verifying unknown users costs as much as known ones


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the users-file encoding."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=32)


def check_password_hash(encoded: str, password: str) -> bool:
    """True if ``password`` matches the encoded hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def _read(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        return {"format": FORMAT, "users": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"Users file {path} is not valid JSON ({exc.msg}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(
            f"Users file {path} is not an XMM Explorer users file (expected format {FORMAT!r}); "
            "a plaintext Panel --basic-auth file must be converted with add_user."
        )
    return data


def _write(path: Path, data: dict) -> None:
    # Temp file in the same directory + rename: readers see the old or the new file, never half.
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[dict]:
    """The file's content, under an exclusive lock so concurrent edits are not lost."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        yield _read(path)
    finally:
        os.close(lock_fd)


def add_user(path: Path, name: str, password: str, role: str, *, replace: bool = False) -> None:
    """Add an account (or, with ``replace``, reset its password and role) to the users file."""
    check_user_name(name)
    role_rank(role)
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    with _locked(path) as data:
        users = data["users"]
        if name in users and not replace:
            raise ValueError(f"User {name!r} already exists in {path}; pass replace=True to reset.")
        created = users.get(name, {}).get("created") or utcnow().isoformat()
        users[name] = {"role": role, "created": created, "password": hash_password(password)}
        _write(path, data)


def set_file_role(path: Path, name: str, role: str) -> None:
    """Change the role of an existing account in the users file."""
    role_rank(role)
    with _locked(path) as data:
        if name not in data["users"]:
            raise ValueError(f"No user {name!r} in {path}.")
        data["users"][name]["role"] = role
        _write(path, data)


def remove_user(path: Path, name: str) -> None:
    """Remove an account from the users file (its flags and votes stay in the store)."""
    with _locked(path) as data:
        if name not in data["users"]:
            raise ValueError(f"No user {name!r} in {path}.")
        del data["users"][name]
        _write(path, data)


def list_users(path: Path) -> list[dict]:
    """Accounts in the file as ``{"name", "role", "created"}`` dicts, by name; no hashes."""
    users = _read(path)["users"]
    return [
        {"name": name, "role": entry["role"], "created": entry.get("created")} for name, entry in sorted(users.items())
    ]


def role_of(path: Path, name: str) -> str | None:
    """The role of ``name`` in the users file, or None if there is no such account."""
    entry = _read(path)["users"].get(name)
    return None if entry is None else entry["role"]


def verify_password(path: Path, name: str, password: str) -> bool:
    """True if ``name`` exists in the users file and ``password`` is its password."""
    global _DUMMY_HASH
    entry = _read(path)["users"].get(name) if isinstance(name, str) else None
    if entry is None or not isinstance(password, str):
        # Spend the same time as a real check so response times do not reveal names.
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(8))
        check_password_hash(_DUMMY_HASH, str(password))
        return False
    return check_password_hash(entry["password"], password)
