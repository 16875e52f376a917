"""Per-path attributes of bucket files (mode, mtime) and exact file sizes, beside ThreadDB.

Upstream keeps per-path metadata in the bucket instance, so every push rewrites a JSON document
that grows with the bucket's file count. bucketfs keeps the attributes a filesystem needs for
*every* path in this small SQLite database (``<data>/buckets/attrs.sqlite``, WAL) instead:

* ``attrs(thread, bucket, path) -> mode, mtime`` — the ``mode``/``mtime`` extensions; a row per
  path that was pushed or given attributes; removed with the path, moved with it.
* ``buckets(key) -> thread`` — which thread DB holds a bucket (the ``/ipns/<key>`` gateway
  route has no thread in it).
* ``nodes(cid) -> kind, size, target`` — file/dir/symlink, exact byte length of a file and a
  symlink's target (a cache: a pure function of the CID, recomputable from the root node). A
  bounded in-memory map (:attr:`AttrStore.memo`, :data:`MEMO_ENTRIES`) sits in front of it, so
  listing a directory costs no SQLite lookup per child once its children were seen.

Ordering with the bucket commit: the bucket logic writes attributes *after* the new root is
committed, so a crash in between leaves the new content with the previous (or default)
attributes, never attributes describing content that was not committed. Instance metadata
(roles, keys, the ``mode`` field of ``Metadata``) stays in the instance as upstream.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from bucketfs.durable import fsync_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attrs (
    thread TEXT NOT NULL, bucket TEXT NOT NULL, path TEXT NOT NULL,
    parent TEXT NOT NULL,
    mode INTEGER NOT NULL DEFAULT 0, mtime INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (thread, bucket, path)
) WITHOUT ROWID;
DROP INDEX IF EXISTS attrs_parent;
CREATE INDEX IF NOT EXISTS attrs_children ON attrs (thread, bucket, parent, mode, mtime);
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, thread TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    cid TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, target TEXT NOT NULL
) WITHOUT ROWID;
"""


#: keys per ``IN (...)`` query (SQLite allows 999 parameters in older builds)
_IN_BATCH = 500
#: entries of the in-memory node map (each ~0.3 KiB: ~60 MiB when full)
MEMO_ENTRIES = 200_000


class Memo:
    """A bounded map for values that are pure functions of their key (never invalidated): when
    full, the oldest entries are dropped. Safe to share between threads (each call is atomic)."""

    def __init__(self, limit: int = MEMO_ENTRIES) -> None:
        self.limit = limit
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        return self._data.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.limit:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


#: the children of one directory. Without statistics SQLite prefers the primary key's
#: ``(thread, bucket)`` prefix, which scans every row of the bucket (4.5 ms per directory of a
#: 8,000-file bucket, growing with it); the children index reads only the directory's rows
#: (0.13 ms) and covers the query (mode and mtime are in it: a 20,000-entry listing reads no
#: table row, 44 -> 24 ms). It replaced ``attrs_parent`` (the same prefix without the values).
CHILDREN_QUERY = (
    "SELECT path, mode, mtime FROM attrs INDEXED BY attrs_children "
    "WHERE thread=? AND bucket=? AND parent=?"
)


class PathAttrs(NamedTuple):
    """Mode and mtime of one path (0 = not set). A tuple: a listing builds one per child."""

    mode: int = 0
    mtime: int = 0


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _below(prefix: str) -> tuple[str, str]:
    """Bounds of the paths strictly under ``prefix`` (``prefix + "/" <= p < prefix + "0"``):
    an index range instead of a LIKE scan ("0" follows "/" in code point order)."""
    return prefix + "/", prefix + "0"


class AttrStore:
    """The attribute database; one connection, serialised by a lock (calls are short)."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        self.path = path
        self._log_dir_synced = False
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        #: in-memory front of the ``nodes`` table, used by ``content.node_info``
        self.memo = Memo()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def fsync_log(self) -> None:
        """One durability barrier for every write so far (commits here are ``synchronous=NORMAL``:
        in the WAL, not fsynced): fsync of the WAL file. The bucket logic runs it, grouped, before
        acknowledging a change (``durability.py``)."""
        if str(self.path) == ":memory:":
            return
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if not self._log_dir_synced:  # the WAL's directory entry, once
            fsync_dir(self.path.absolute().parent)
            self._log_dir_synced = True

    # -- attributes --------------------------------------------------------------------------

    def get(self, thread: str, bucket: str, path: str) -> PathAttrs | None:
        with self._lock:
            row = self._db.execute(
                "SELECT mode, mtime FROM attrs WHERE thread=? AND bucket=? AND path=?",
                (thread, bucket, path),
            ).fetchone()
        return PathAttrs(row[0], row[1]) if row else None

    def children(self, thread: str, bucket: str, directory: str) -> dict[str, PathAttrs]:
        """Attributes of the direct children of ``directory``, by child name."""
        with self._lock:
            rows = self._db.execute(CHILDREN_QUERY, (thread, bucket, directory)).fetchall()
        make = PathAttrs._make
        cut = len(directory) + 1 if directory else 0
        return {str(row[0])[cut:]: make(row[1:]) for row in rows}

    def set_many(
        self,
        thread: str,
        bucket: str,
        items: Iterable[tuple[str, PathAttrs]],
        *,
        clear_below: bool = False,
    ) -> None:
        """Store attributes of several paths in one transaction; with ``clear_below``, first drop
        the rows of everything under each of those paths (they replace a whole subtree)."""
        rows = list(items)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            if clear_below:
                for path, _ in rows:
                    self._delete_below(thread, bucket, path)
            self._db.executemany(
                "INSERT OR REPLACE INTO attrs (thread, bucket, path, parent, mode, mtime) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(thread, bucket, p, _parent(p), a.mode, a.mtime) for p, a in rows],
            )

    def _delete_below(self, thread: str, bucket: str, path: str) -> None:
        if not path:
            self._db.execute("DELETE FROM attrs WHERE thread=? AND bucket=?", (thread, bucket))
            return
        low, high = _below(path)
        self._db.execute(
            "DELETE FROM attrs WHERE thread=? AND bucket=? AND path >= ? AND path < ?",
            (thread, bucket, low, high),
        )

    def remove_tree(self, thread: str, bucket: str, path: str) -> None:
        """Drop the rows of ``path`` and of everything under it."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM attrs WHERE thread=? AND bucket=? AND path=?", (thread, bucket, path)
            )
            self._delete_below(thread, bucket, path)

    def move_tree(self, thread: str, bucket: str, src: str, dst: str) -> None:
        """Re-key the rows of ``src`` and everything under it to ``dst``."""
        src_low, src_high = _below(src)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM attrs WHERE thread=? AND bucket=? AND path=?", (thread, bucket, dst)
            )
            self._delete_below(thread, bucket, dst)
            # the path itself and the range below it as two key searches: with an OR, SQLite
            # scans every row of the bucket
            rows = self._db.execute(
                "SELECT path, mode, mtime FROM attrs WHERE thread=? AND bucket=? AND path=? "
                "UNION ALL SELECT path, mode, mtime FROM attrs "
                "WHERE thread=? AND bucket=? AND path >= ? AND path < ?",
                (thread, bucket, src, thread, bucket, src_low, src_high),
            ).fetchall()
            self._db.execute(
                "DELETE FROM attrs WHERE thread=? AND bucket=? AND path=?", (thread, bucket, src)
            )
            self._delete_below(thread, bucket, src)
            moved = [(dst + str(p)[len(src) :], m, t) for p, m, t in rows]
            self._db.executemany(
                "INSERT OR REPLACE INTO attrs (thread, bucket, path, parent, mode, mtime) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(thread, bucket, p, _parent(p), m, t) for p, m, t in moved],
            )

    # -- bucket key -> thread (for /ipns/<key> gateway links) ------------------------------

    def register_bucket(self, key: str, thread: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO buckets (key, thread) VALUES (?, ?)", (key, thread)
            )

    def forget_bucket(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM buckets WHERE key=?", (key,))

    def buckets(self) -> list[tuple[str, str]]:
        """Every registered ``(bucket key, thread)``."""
        with self._lock:
            rows = self._db.execute("SELECT key, thread FROM buckets").fetchall()
        return [(str(k), str(t)) for k, t in rows]

    def thread_of(self, key: str) -> str:
        with self._lock:
            row = self._db.execute("SELECT thread FROM buckets WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else ""

    # -- node cache ----------------------------------------------------------------------

    def node(self, key: str) -> tuple[str, int, str] | None:
        """Cached ``(kind, file size, symlink target)`` of a CID (see ``content.node_info``)."""
        with self._lock:
            row = self._db.execute(
                "SELECT kind, size, target FROM nodes WHERE cid=?", (key,)
            ).fetchone()
        return (str(row[0]), int(row[1]), str(row[2])) if row else None

    def nodes(self, keys: Sequence[str]) -> dict[str, tuple[str, int, str]]:
        """``node`` of many keys at once (those not in the table are left out)."""
        out: dict[str, tuple[str, int, str]] = {}
        with self._lock:
            for start in range(0, len(keys), _IN_BATCH):
                part = list(keys[start : start + _IN_BATCH])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT cid, kind, size, target FROM nodes WHERE cid IN ({marks})", part
                ).fetchall()
                out.update((str(c), (str(k), int(n), str(t))) for c, k, n, t in rows)
        return out

    def set_nodes(self, rows: Iterable[tuple[str, str, int, str]]) -> None:
        """``set_node`` of many ``(key, kind, size, target)`` in one transaction."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO nodes (cid, kind, size, target) VALUES (?, ?, ?, ?)", rows
            )

    def set_node(self, key: str, kind: str, size: int, target: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO nodes (cid, kind, size, target) VALUES (?, ?, ?, ?)",
                (key, kind, size, target),
            )
