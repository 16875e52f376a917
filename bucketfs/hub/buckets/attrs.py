"""Per-path attributes of bucket files (mode, mtime) and exact file sizes, beside ThreadDB.

Upstream keeps per-path metadata in the bucket instance, so every push rewrites a JSON document
that grows with the bucket's file count. bucketfs keeps the attributes a filesystem needs for
*every* path in this small SQLite database (``<data>/buckets/attrs.sqlite``, WAL) instead:

* ``attrs(thread, bucket, path) -> mode, mtime`` — the ``mode``/``mtime`` extensions; a row per
  path that was pushed or given attributes; removed with the path, moved with it.
* ``buckets(key) -> thread`` — which thread DB holds a bucket (the ``/ipns/<key>`` gateway
  route has no thread in it).
* ``nodes(cid) -> kind, size, target`` — file/dir/symlink, exact byte length of a file and a
  symlink's target (a cache: a pure function of the CID, recomputable from the root node).

Ordering with the bucket commit: the bucket logic writes attributes *after* the new root is
committed, so a crash in between leaves the new content with the previous (or default)
attributes, never attributes describing content that was not committed. Instance metadata
(roles, keys, the ``mode`` field of ``Metadata``) stays in the instance as upstream.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attrs (
    thread TEXT NOT NULL, bucket TEXT NOT NULL, path TEXT NOT NULL,
    mode INTEGER NOT NULL DEFAULT 0, mtime INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (thread, bucket, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, thread TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    cid TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, target TEXT NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class PathAttrs:
    mode: int = 0
    mtime: int = 0


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AttrStore:
    """The attribute database; one connection, serialised by a lock (calls are short)."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
        prefix = directory + "/" if directory else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT path, mode, mtime FROM attrs WHERE thread=? AND bucket=? "
                "AND path LIKE ? ESCAPE '\\' AND path > ?",
                (thread, bucket, _like_escape(prefix) + "%", prefix),
            ).fetchall()
        out = {}
        for path, mode, mtime in rows:
            rest = path[len(prefix) :]
            if rest and "/" not in rest:
                out[rest] = PathAttrs(mode, mtime)
        return out

    def set_many(self, thread: str, bucket: str, items: Iterable[tuple[str, PathAttrs]]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO attrs (thread, bucket, path, mode, mtime) "
                "VALUES (?, ?, ?, ?, ?)",
                [(thread, bucket, p, a.mode, a.mtime) for p, a in items],
            )

    def remove_tree(self, thread: str, bucket: str, path: str, *, keep_self: bool = False) -> None:
        """Drop the rows of ``path`` (unless ``keep_self``) and of everything under it."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            if not path:
                self._db.execute("DELETE FROM attrs WHERE thread=? AND bucket=?", (thread, bucket))
                return
            if not keep_self:
                self._db.execute(
                    "DELETE FROM attrs WHERE thread=? AND bucket=? AND path=?",
                    (thread, bucket, path),
                )
            self._db.execute(
                "DELETE FROM attrs WHERE thread=? AND bucket=? AND path LIKE ? ESCAPE '\\'",
                (thread, bucket, _like_escape(path + "/") + "%"),
            )

    def move_tree(self, thread: str, bucket: str, src: str, dst: str) -> None:
        """Re-key the rows of ``src`` and everything under it to ``dst``."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "DELETE FROM attrs WHERE thread=? AND bucket=? "
                "AND (path=? OR path LIKE ? ESCAPE '\\')",
                (thread, bucket, dst, _like_escape(dst + "/") + "%"),
            )
            self._db.execute(
                "UPDATE attrs SET path = ? || substr(path, ?) WHERE thread=? AND bucket=? "
                "AND (path=? OR path LIKE ? ESCAPE '\\')",
                (dst, len(src) + 1, thread, bucket, src, _like_escape(src + "/") + "%"),
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

    def set_node(self, key: str, kind: str, size: int, target: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO nodes (cid, kind, size, target) VALUES (?, ?, ?, ?)",
                (key, kind, size, target),
            )
