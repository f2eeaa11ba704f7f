"""Roles enforced server-side by every Store write method, and the hashed users file."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from data_loaders.store import ROLES, open_store, require_role, users


@pytest.fixture
def store(tmp_path):
    with open_store(None, tmp_path / "db") as s:
        for name, role in [("vic", "viewer"), ("cleo", "classifier"), ("rita", "reviewer"), ("ann", "admin")]:
            s.grant_role(name, role)
        yield s


def _campaign(store):
    return store.create_campaign("ann", "c", "DR14", [(1, 1.0, 1.0), (2, 2.0, 2.0)], "")


WRITES = {
    "flag": lambda s, u, cid, item: s.add_flags(u, "DR14", [(1, 1.0, 1.0)], "OK", "x"),
    "unflag": lambda s, u, cid, item: s.add_flags(u, "DR14", [(1, 1.0, 1.0)], "OK", "", action="unflag"),
    "verdict": lambda s, u, cid, item: s.record_verdict(u, cid, item, "OK", ""),
    "vote": lambda s, u, cid, item: s.record_vote(u, "DR14", 1, "AGN", 0.9, False),
    "campaign": lambda s, u, cid, item: s.create_campaign(u, f"by {u}", "DR14", [(3, 1, 1)]),
    "set_role": lambda s, u, cid, item: s.set_role(u, "newbie", "reviewer"),
}
#: Lowest role allowed to perform each write.
MINIMUM = {
    "flag": "reviewer",
    "unflag": "reviewer",
    "verdict": "reviewer",
    "vote": "classifier",
    "campaign": "admin",
    "set_role": "admin",
}
USERS = {
    None: None,
    "": None,
    "guest": None,
    "vic": "viewer",
    "cleo": "classifier",
    "rita": "reviewer",
    "ann": "admin",
    "stranger": "classifier",
}


def _row_counts(store):
    with store.engine.connect() as conn:
        return {
            t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar()  # noqa: S608
            for t in ("flag_events", "verdicts", "votes", "campaigns", "users")
        }


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("user", list(USERS), ids=[repr(u) for u in USERS])
def test_every_write_checks_the_role(store, write, user):
    cid = _campaign(store)
    item = int(store.campaign_queue(cid, None)["item_id"].iloc[0])
    role = USERS[user]
    allowed = role is not None and ROLES.index(role) >= ROLES.index(MINIMUM[write])
    before = _row_counts(store)
    if allowed:
        WRITES[write](store, user, cid, item)
        assert _row_counts(store) != before
    else:
        with pytest.raises(PermissionError) as info:
            WRITES[write](store, user, cid, item)
        message = str(info.value)
        assert ("Sign in" in message) if role is None else (repr(role) in message)
        assert _row_counts(store) == before


def test_roles_change_only_through_an_admin_and_are_kept_as_history(store):
    with pytest.raises(PermissionError):
        store.set_role("rita", "rita", "admin")
    store.set_role("ann", "rita", "viewer")
    assert store.role_of("rita") == "viewer"
    with pytest.raises(PermissionError):
        store.add_flags("rita", "DR14", [(1, 1.0, 1.0)], "OK", "")
    with pytest.raises(ValueError, match="allowed roles are: viewer, classifier, reviewer, admin"):
        store.set_role("ann", "rita", "superuser")
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT role, granted_by FROM role_events WHERE name = 'rita' ORDER BY id").all()
    assert [tuple(r) for r in rows] == [("reviewer", "operator"), ("viewer", "ann")]


def test_require_role_accepts_a_mapping_or_a_users_file(tmp_path):
    assert require_role({"a": "admin"}, "a", "admin") == "admin"
    assert require_role({}, "someone", "classifier") == "classifier"
    with pytest.raises(PermissionError, match="needs 'reviewer' or higher"):
        require_role({"v": "viewer"}, "v", "reviewer")
    path = tmp_path / "users.json"
    users.add_user(path, "rev", "correct horse", "reviewer")
    assert require_role(path, "rev", "reviewer") == "reviewer"
    with pytest.raises(PermissionError):
        require_role(str(path), None, "viewer")


# -- the users file ----------------------------------------------------------------------


def test_users_file_holds_salted_hashes_with_mode_0600(tmp_path):
    path = tmp_path / "users.json"
    users.add_user(path, "ada", "s3cret-passphrase", "reviewer")
    users.add_user(path, "bob", "s3cret-passphrase", "viewer")
    text = path.read_text()
    assert "s3cret-passphrase" not in text
    data = json.loads(text)
    hashes = [data["users"][n]["password"] for n in ("ada", "bob")]
    assert all(h.startswith("scrypt$") for h in hashes)
    assert hashes[0] != hashes[1], "same password, different salt, different hash"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [u["name"] for u in users.list_users(path)] == ["ada", "bob"]
    assert "password" not in users.list_users(path)[0]


def test_verify_password_good_bad_and_unknown(tmp_path):
    path = tmp_path / "users.json"
    users.add_user(path, "ada", "correct horse battery", "admin")
    assert users.verify_password(path, "ada", "correct horse battery")
    assert not users.verify_password(path, "ada", "correct horse batter")
    assert not users.verify_password(path, "ada", "")
    assert not users.verify_password(path, "nobody", "correct horse battery")
    assert not users.verify_password(tmp_path / "missing.json", "ada", "x" * 10)
    assert users.role_of(path, "ada") == "admin"
    assert users.role_of(path, "nobody") is None


def test_add_replace_set_role_and_remove(tmp_path):
    path = tmp_path / "users.json"
    users.add_user(path, "ada", "first password", "classifier")
    with pytest.raises(ValueError, match="already exists"):
        users.add_user(path, "ada", "second password", "reviewer")
    users.add_user(path, "ada", "second password", "reviewer", replace=True)
    assert users.verify_password(path, "ada", "second password")
    assert not users.verify_password(path, "ada", "first password")
    users.set_file_role(path, "ada", "admin")
    assert users.role_of(path, "ada") == "admin"
    users.remove_user(path, "ada")
    assert users.list_users(path) == []
    with pytest.raises(ValueError, match="No user 'ada'"):
        users.remove_user(path, "ada")
    with pytest.raises(ValueError, match="at least 8 characters"):
        users.add_user(path, "bob", "short", "viewer")
    with pytest.raises(ValueError, match="not 'guest'"):
        users.add_user(path, "guest", "long enough", "viewer")
    with pytest.raises(ValueError, match="allowed roles"):
        users.add_user(path, "bob", "long enough", "root")


def test_a_failed_write_leaves_the_old_file_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "users.json"
    users.add_user(path, "ada", "correct horse", "admin")
    before = path.read_bytes()

    def broken_dump(obj, handle, **kwargs):
        handle.write('{"format": "xmm-explorer-users/1", "users": {"tru')
        raise OSError("disk full")

    monkeypatch.setattr(users.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        users.add_user(path, "bob", "correct horse", "viewer")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["users.json", "users.json.lock"]


def test_concurrent_edits_are_not_lost(tmp_path):
    path = tmp_path / "users.json"
    threads = [
        threading.Thread(target=users.add_user, args=(path, f"user{i}", "password!", "viewer")) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [u["name"] for u in users.list_users(path)] == [f"user{i}" for i in range(8)]


def test_a_plaintext_panel_file_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "panel.json"
    path.write_text(json.dumps({"ada": "plaintext"}))
    with pytest.raises(ValueError, match="not an XMM Explorer users file"):
        users.verify_password(path, "ada", "plaintext")


def test_store_roles_sync_from_the_users_file(tmp_path, store):
    path = tmp_path / "users.json"
    users.add_user(path, "zed", "long enough", "admin")
    users.add_user(path, "vic", "long enough", "reviewer")
    assert store.sync_users(path) == 2
    assert store.sync_users(path) == 0
    assert store.role_of("zed") == "admin"
    assert store.role_of("vic") == "reviewer"
