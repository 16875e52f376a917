"""Metadata storage of the hub: the small interface every implementation provides.

The hub keeps all its metadata (ThreadDB databases, collections, instances, index entries, and
the hub server's own tables such as API keys and accounts) in one SQL store. The interface is
deliberately small and SQL-shaped:

* ``transaction()`` — a context manager yielding a DB-API connection inside one write
  transaction; it commits (durably) when the block ends normally and rolls back on an exception.
  Writers are serialised; keep write transactions short.
* ``snapshot()`` — a context manager yielding a connection inside a read transaction that sees
  one consistent committed state; writes through it are not allowed.
* ``ensure_schema(name, ddl_statements)`` — lets each hub module create its own tables in the
  same file. Statements run once per distinct (name, statements) pair, in one transaction, so
  they should be idempotent (``CREATE TABLE IF NOT EXISTS …``) and changes additive.
* ``close()``.

Implementations: :class:`bucketfs.hub.store.sqlite.SqliteStore` (a file in WAL mode with
``synchronous=FULL``, or ``":memory:"`` for tests). ``tests/hub/test_store_contract.py`` runs
against every implementation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

__all__ = ["MetadataStore", "open_store"]


@runtime_checkable
class MetadataStore(Protocol):
    """Where the hub keeps its metadata (see the module docstring for the contract)."""

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def snapshot(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def ensure_schema(self, name: str, ddl_statements: Sequence[str]) -> None: ...

    def close(self) -> None: ...


def open_store(path: str) -> MetadataStore:
    """Open the metadata store at ``path`` (a file path, or ``":memory:"``)."""
    from bucketfs.hub.store.sqlite import SqliteStore

    return SqliteStore(path)
