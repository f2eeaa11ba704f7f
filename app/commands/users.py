"""``xmm-explorer users add|list|remove|set-role``: accounts of the users file, and their roles in the store.

The users file (``<data dir>/users.json`` or ``$XMM_EXPLORER_USERS``) holds salted scrypt
hashes; roles are copied into the store too, so a running server sees a change at once
(the store is what every write checks). A removed account keeps its history and is set
to 'viewer' in the store.
"""

from __future__ import annotations

import getpass
import sys

from data_loaders.store import ROLES
from data_loaders.store import users as users_file_api


def register(subparsers) -> None:
    p = subparsers.add_parser("users", help="manage accounts and roles (viewer < classifier < reviewer < admin)")
    sub = p.add_subparsers(dest="users_command", required=True)
    a = sub.add_parser("add", help="add an account (asks for the password)")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a.add_argument("--replace", action="store_true", help="reset the password and role of an existing account")
    sub.add_parser("list", help="list the accounts and their roles")
    r = sub.add_parser("remove", help="remove an account (its flags and verdicts stay)")
    r.add_argument("name")
    s = sub.add_parser("set-role", help="change the role of an account")
    s.add_argument("name")
    s.add_argument("role", choices=ROLES)
    p.set_defaults(func=run)


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"Password for {args.name}: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise ValueError("The two passwords differ; nothing was changed.")
    return first


def _grant(data_dir, name: str, role: str, by: str) -> None:
    """Mirror a role into the store; a store that cannot be opened only warns (the file is the truth)."""
    from app import config
    from data_loaders.store import open_store

    try:
        with open_store(config.db_url(), data_dir) as store:
            store.grant_role(name, role, by)
    except Exception as exc:  # the file change stands; the server syncs roles at start-up
        print(
            f"warning: the role was not copied into the store ({exc}); it will be at the next start.", file=sys.stderr
        )


def _end_logins(data_dir, name: str) -> None:
    """Revoke ``name``'s logins in the store (every browser, every server process)."""
    from app import config
    from data_loaders.store import open_store
    from data_loaders.store.logins import revoke_logins

    try:
        with open_store(config.db_url(), data_dir) as store:
            n = revoke_logins(store, name)
    except Exception as exc:  # say so: the old logins may still work
        print(f"warning: {name}'s logins were not ended ({exc}); they stay valid until they expire.", file=sys.stderr)
        return
    if n:
        print(f"Ended {n} login(s) of {name}.")


def run(args) -> int:
    from app.store_access import users_file

    path = users_file(args.data_dir)
    try:
        if args.users_command == "add":
            users_file_api.add_user(path, args.name, _password(args), args.role, replace=args.replace)
            _grant(args.data_dir, args.name, args.role, "cli:users-add")
            if args.replace:  # a password reset: whoever held the old password is logged out
                _end_logins(args.data_dir, args.name)
            print(f"Added {args.name} ({args.role}) to {path}.")
        elif args.users_command == "list":
            entries = users_file_api.list_users(path)
            if not entries:
                print(f"No accounts in {path}. Add one with `xmm-explorer users add NAME --role admin`.")
            for entry in entries:
                print(f"{entry['name']:<24} {entry['role']:<11} {entry.get('created') or ''}")
        elif args.users_command == "remove":
            users_file_api.remove_user(path, args.name)
            _grant(args.data_dir, args.name, "viewer", "cli:users-remove")
            _end_logins(args.data_dir, args.name)
            print(f"Removed {args.name} from {path}.")
        elif args.users_command == "set-role":
            users_file_api.set_file_role(path, args.name, args.role)
            _grant(args.data_dir, args.name, args.role, "cli:users-set-role")
            print(f"{args.name} is now {args.role}.")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
