"""API keys, accounts and the hub identity, kept in the hub's SQLite database.

* **Hub identity**: an Ed25519 key in ``<data>/identity`` (mode 0600), created on first start;
  it signs user tokens (WIRE §2.6) and is never handed out.
* **Accounts**: developer accounts, each with its own Ed25519 identity (the identity account keys
  act as; ``GetIdentity`` returns it). The hub has a ``default`` account; ``--account NAME``
  creates others, so one hub can serve several tenants.
* **API keys**: key and secret in the WIRE §2.2 formats, type account|user, secure flag (require
  signatures), valid flag (cleared by invalidation, never deleted), and the number of threads
  created with the key.

The tables live in the hub's metadata store (``<data>/hub.sqlite3``, WAL mode), added with its
``ensure_schema``, so the ``bucketfs hub keys`` commands can open the store and change them while
the hub runs; lookups are not cached, so an invalidated key is refused from the next call on.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

from bucketfs.auth.apisig import new_api_key, new_api_secret
from bucketfs.auth.identity import Identity
from bucketfs.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from bucketfs.hub.caller import KeyType
from bucketfs.hub.store import MetadataStore

DEFAULT_ACCOUNT = "default"
IDENTITY_FILE = "identity"
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*$")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hub_accounts ("
    " name TEXT PRIMARY KEY,"
    " identity TEXT NOT NULL,"  # public key string
    " private_key TEXT NOT NULL,"  # libp2p private key, multibase
    " created_at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hub_api_keys ("
    " key TEXT PRIMARY KEY,"
    " secret TEXT NOT NULL,"
    " account TEXT NOT NULL REFERENCES hub_accounts(name),"
    " type TEXT NOT NULL CHECK (type IN ('account', 'user')),"
    " secure INTEGER NOT NULL,"
    " valid INTEGER NOT NULL DEFAULT 1,"
    " threads INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hub_api_keys_account ON hub_api_keys(account)",
)


@dataclass(frozen=True)
class Account:
    """A developer account; ``identity`` is its public key string."""

    name: str
    identity: str
    private_key: str
    created_at: int

    def __repr__(self) -> str:
        return f"Account(name={self.name!r}, identity={self.identity!r})"


@dataclass(frozen=True)
class ApiKey:
    """One API key record (``secret`` is the multibase secret string)."""

    key: str
    secret: str
    account: str
    key_type: KeyType
    secure: bool
    valid: bool
    threads: int
    created_at: int

    def __repr__(self) -> str:
        return (
            f"ApiKey(key={self.key!r}, secret=<redacted>, account={self.account!r}, "
            f"type={self.key_type.value}, secure={self.secure}, valid={self.valid})"
        )


def load_or_create_identity(data_dir: Path) -> Identity:
    """The hub identity of ``data_dir``, created (mode 0600) on first use."""
    path = Path(data_dir) / IDENTITY_FILE
    if not path.exists():
        with contextlib.suppress(AlreadyExists):  # another process created it first
            Identity.generate().save(path, overwrite=False)
    return Identity.load(path)


class Accounts:
    """Accounts and API keys, in tables of the hub's metadata store; thread-safe."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        store.ensure_schema("hub.accounts", SCHEMA)
        self.ensure_account(DEFAULT_ACCOUNT)

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self.store.snapshot() as conn:
            return list(conn.execute(sql, args))

    # -- accounts ----------------------------------------------------------------------------

    def ensure_account(self, name: str) -> Account:
        """The account ``name``, created with a fresh identity if it does not exist."""
        if not _ACCOUNT_NAME.match(name):
            raise InvalidArgument(f"invalid account name {name!r}")
        ident = Identity.generate()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO hub_accounts VALUES (?, ?, ?, ?)",
                (name, str(ident.public_key), ident.to_string(), time.time_ns()),
            )
        return self.find_account(name)

    def find_account(self, name: str) -> Account:
        rows = self._query("SELECT * FROM hub_accounts WHERE name = ?", (name,))
        if not rows:
            raise NotFound("Account not found")
        name_, identity, private_key, created_at = rows[0]
        return Account(str(name_), str(identity), str(private_key), int(str(created_at)))

    def account_identity(self, name: str) -> Identity:
        """The private identity of account ``name`` (what ``GetIdentity`` returns)."""
        return Identity.from_string(self.find_account(name).private_key)

    # -- keys --------------------------------------------------------------------------------

    def create_key(
        self,
        account: str = DEFAULT_ACCOUNT,
        key_type: KeyType = KeyType.ACCOUNT,
        secure: bool = True,
    ) -> ApiKey:
        """A new valid key of ``account`` (created if missing)."""
        self.ensure_account(account)
        key, secret, now = new_api_key(), new_api_secret(), time.time_ns()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO hub_api_keys (key, secret, account, type, secure, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, secret, account, key_type.value, int(secure), now),
            )
        return self.get_key(key)

    def get_key(self, key: str) -> ApiKey:
        """The record of ``key``, valid or not; ``NotFound`` if it was never issued."""
        rows = self._query("SELECT * FROM hub_api_keys WHERE key = ?", (key,))
        if not rows:
            raise NotFound("API key not found or is invalid")
        return _key_from_row(rows[0])

    def find_valid_key(self, key: str) -> ApiKey:
        """The record of a valid ``key``; ``NotFound "API key not found or is invalid"`` else."""
        record = self.get_key(key)
        if not record.valid:
            raise NotFound("API key not found or is invalid")
        return record

    def find_credentials(self, key: str) -> tuple[ApiKey, Account | None]:
        """A valid ``key`` and its account (``None`` if the account is gone), in one read — the
        lookup every call makes. ``NotFound "API key not found or is invalid"`` otherwise."""
        rows = self._query(
            "SELECT k.*, a.* FROM hub_api_keys AS k LEFT JOIN hub_accounts AS a"
            " ON a.name = k.account WHERE k.key = ? AND k.valid = 1",
            (key,),
        )
        if not rows:
            raise NotFound("API key not found or is invalid")
        row = rows[0]
        record, account_row = _key_from_row(row[:8]), row[8:]
        if account_row[0] is None:
            return record, None
        name, identity, private_key, created_at = account_row
        return record, Account(str(name), str(identity), str(private_key), int(str(created_at)))

    def list_keys(self, account: str | None = None) -> list[ApiKey]:
        """Keys of ``account`` (all accounts when ``None``), oldest first."""
        if account is None:
            rows = self._query("SELECT * FROM hub_api_keys ORDER BY created_at, key")
        else:
            sql = "SELECT * FROM hub_api_keys WHERE account = ? ORDER BY created_at, key"
            rows = self._query(sql, (account,))
        return [_key_from_row(row) for row in rows]

    def invalidate_key(self, key: str, account: str | None = None) -> None:
        """Mark ``key`` invalid; with ``account``, only that account's keys may be invalidated."""
        record = self.get_key(key)
        if account is not None and record.account != account:
            raise PermissionDenied("User does not own key")
        with self.store.transaction() as conn:
            conn.execute("UPDATE hub_api_keys SET valid = 0 WHERE key = ?", (key,))

    def count_thread(self, key: str, delta: int) -> None:
        """Adjust the number of threads created with ``key`` (NewDB +1, DeleteDB -1)."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE hub_api_keys SET threads = MAX(0, threads + ?) WHERE key = ?", (delta, key)
            )


def _key_from_row(row: tuple[object, ...]) -> ApiKey:
    key, secret, account, key_type, secure, valid, threads, created_at = row
    return ApiKey(
        key=str(key),
        secret=str(secret),
        account=str(account),
        key_type=KeyType(str(key_type)),
        secure=bool(secure),
        valid=bool(valid),
        threads=int(str(threads)),
        created_at=int(str(created_at)),
    )
