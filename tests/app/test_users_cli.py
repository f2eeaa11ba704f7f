"""``xmm-explorer users``: accounts in the users file and their roles mirrored into the store."""

from __future__ import annotations

import io
import json

from app import cli
from data_loaders.store import open_store, users


def run(data_dir, monkeypatch, *argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(["--data-dir", str(data_dir), "users", *argv])


def test_add_list_set_role_remove(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XMM_EXPLORER_USERS", raising=False)
    monkeypatch.delenv("XMM_EXPLORER_DB", raising=False)
    assert (
        run(tmp_path, monkeypatch, "add", "ada", "--role", "admin", "--password-stdin", stdin="long enough pw\n") == 0
    )
    path = tmp_path / "users.json"
    assert users.verify_password(path, "ada", "long enough pw")
    assert "long enough pw" not in path.read_text()
    assert json.loads(path.read_text())["users"]["ada"]["role"] == "admin"
    with open_store(None, tmp_path) as store:
        assert store.role_of("ada") == "admin"
    assert run(tmp_path, monkeypatch, "list") == 0
    assert "ada" in capsys.readouterr().out
    assert run(tmp_path, monkeypatch, "set-role", "ada", "reviewer") == 0
    with open_store(None, tmp_path) as store:
        assert store.role_of("ada") == "reviewer"
    assert run(tmp_path, monkeypatch, "remove", "ada") == 0
    assert users.list_users(path) == []
    with open_store(None, tmp_path) as store:
        assert store.role_of("ada") == "viewer"  # history stays, writing stops


def test_errors_are_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XMM_EXPLORER_USERS", raising=False)
    assert run(tmp_path, monkeypatch, "add", "bob", "--role", "viewer", "--password-stdin", stdin="short\n") == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert run(tmp_path, monkeypatch, "remove", "nobody") == 2
    assert "No user 'nobody'" in capsys.readouterr().err


def test_users_file_from_environment(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "accounts.json"
    monkeypatch.setenv("XMM_EXPLORER_USERS", str(other))
    assert run(tmp_path, monkeypatch, "add", "cy", "--role", "classifier", "--password-stdin", stdin="abcdefgh\n") == 0
    assert users.role_of(other, "cy") == "classifier"


def test_a_password_reset_or_removal_ends_the_users_logins(tmp_path, monkeypatch, capsys):
    from data_loaders.store.logins import login_user, open_login

    monkeypatch.delenv("XMM_EXPLORER_USERS", raising=False)
    monkeypatch.delenv("XMM_EXPLORER_DB", raising=False)
    pw = "long enough pw\n"
    assert run(tmp_path, monkeypatch, "add", "ada", "--role", "admin", "--password-stdin", stdin=pw) == 0
    assert run(tmp_path, monkeypatch, "add", "bob", "--role", "reviewer", "--password-stdin", stdin=pw) == 0
    with open_store(None, tmp_path) as store:
        ada = [open_login(store, "ada", "10.0.0.1") for _ in range(2)]
        bob = open_login(store, "bob", "10.0.0.2")
    assert run(tmp_path, monkeypatch, "add", "ada", "--role", "admin", "--replace", "--password-stdin", stdin=pw) == 0
    assert "Ended 2 login(s) of ada" in capsys.readouterr().out
    assert run(tmp_path, monkeypatch, "remove", "bob") == 0
    with open_store(None, tmp_path) as store:
        assert [login_user(store, i) for i in [*ada, bob]] == [None, None, None]
        assert login_user(store, open_login(store, "ada", "10.0.0.1")) == "ada"  # a new log-in works
