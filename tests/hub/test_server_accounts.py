"""Accounts, API keys and the hub identity (bucketfs/hub/accounts.py) on a real SQLite store."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.errors import InvalidArgument, NotFound, PermissionDenied
from bucketfs.hub.accounts import DEFAULT_ACCOUNT, Accounts, load_or_create_identity
from bucketfs.hub.caller import KeyType
from bucketfs.hub.store import open_store
from bucketfs.ipfs import multibase


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    store = open_store(str(tmp_path / "hub.sqlite3"))
    yield Accounts(store)
    store.close()


def test_key_and_secret_formats(accounts: Accounts) -> None:
    record = accounts.create_key()
    assert len(multibase.decode(record.key)) == 16 and len(record.key) == 27
    assert len(multibase.decode(record.secret)) == 24 and len(record.secret) == 40
    assert (record.account, record.key_type, record.secure, record.valid, record.threads) == (
        DEFAULT_ACCOUNT,
        KeyType.ACCOUNT,
        True,
        True,
        0,
    )
    assert record.secret not in repr(record)


def test_accounts_have_stable_distinct_identities(tmp_path: Path, accounts: Accounts) -> None:
    default = accounts.find_account(DEFAULT_ACCOUNT)
    team = accounts.ensure_account("team")
    assert accounts.ensure_account("team") == team  # idempotent
    assert team.identity != default.identity
    assert str(accounts.account_identity("team").public_key) == team.identity
    assert team.private_key not in repr(team)
    with pytest.raises(NotFound, match="Account not found"):
        accounts.find_account("nobody")
    with pytest.raises(InvalidArgument):
        accounts.ensure_account("has space")
    # persisted: a second Accounts over the same file sees the same identities
    store = open_store(str(tmp_path / "hub.sqlite3"))
    try:
        assert Accounts(store).find_account("team") == team
    finally:
        store.close()


def test_list_invalidate_and_thread_counts(accounts: Accounts) -> None:
    a = accounts.create_key("a")
    b = accounts.create_key("b", KeyType.USER, secure=False)
    assert [k.key for k in accounts.list_keys()] == [a.key, b.key]
    assert [k.key for k in accounts.list_keys("b")] == [b.key]
    with pytest.raises(PermissionDenied, match="User does not own key"):
        accounts.invalidate_key(a.key, account="b")
    accounts.count_thread(b.key, +1)
    accounts.count_thread(b.key, +1)
    accounts.count_thread(b.key, -1)
    assert accounts.get_key(b.key).threads == 1
    accounts.invalidate_key(b.key, account="b")
    assert not accounts.get_key(b.key).valid
    with pytest.raises(NotFound, match="API key not found or is invalid"):
        accounts.find_credentials(b.key)
    record, account = accounts.find_credentials(a.key)
    assert record == a and account is not None and account.name == "a"


def test_hub_identity_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_identity(tmp_path)
    assert stat.S_IMODE((tmp_path / "identity").stat().st_mode) == 0o600
    assert load_or_create_identity(tmp_path) == first
