"""The write-back journal: what a write-back mount still owes the hub, on disk and in memory.

``Journal`` is an append-only file of records, one per line: ``<crc32 hex> <json>``. A record is
appended with one ``write`` (no fsync: it survives a killed mount and a clean reboot, like any
written file); ``sync()`` makes everything appended so far durable. Records:

- ``put``: a file's content, in ``data/<name>`` (never changed once recorded), with its bucket
  (thread, key), path, size, mode, mtime (0 = not set by the program) and base CID (the content
  the change started from, ``""`` for a new file);
- ``mkdir`` (thread, key, path, mode, mtime), ``rm`` (thread, key, path, dir);
- ``attrs`` (seq, mode, mtime): chmod/utimens of a change not sent yet (it keeps its place);
- ``drop`` (key, path, dir): the not-yet-sent changes of that path (and below it) are cancelled;
- ``done`` (seqs, cids): those changes are in the hub, with the CIDs the hub stored for puts
  (the base of later changes of the same path, so our own uploads are never conflicts).

``PendingSet`` is the state the records describe, built the same way live and at replay: the
changes still to send, in order (``ops``), the changes per path (``at``) and per directory
(``names``) for the overlay, and recently finished ones (``recent``) that the overlay keeps
showing until the listing caches have caught up. A later change of the same path supersedes a
pending one that is not being sent; a removal of a directory subsumes the pending changes below
it (``rm -rf`` becomes one RemovePath).

Replay ignores a torn or corrupt record with a log line (a crash can cut the last one short) and
never fails the mount.

A full disk never corrupts the journal: a record that does not fit (ENOSPC, EDQUOT, or a short
write) is cut off again (the file is truncated back to where it ended), the content caches on
that filesystem are asked to evict (``content.make_room``) and the record is written again; if
there is still no room ``append`` raises ``NoSpace`` and the change is not made (the close that
wanted it fails). Records before it are untouched and the pending set is unchanged. A
compaction (``rewrite``) without room keeps the old file, which holds the same changes.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketfs.durable import fsync_dir
from bucketfs.errors import NoSpace
from bucketfs.vfs.content import with_room

log = logging.getLogger("bucketfs.vfs.writeback")

#: seconds a finished change stays in the overlay (longer than the listing TTL)
RECENT_GRACE = 3.0
_FULL = (errno.ENOSPC, errno.EDQUOT)

PathKey = tuple[str, str]  # (bucket key, bucket path)


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def below(path: str, top: str) -> bool:
    """``path`` is ``top`` or inside it."""
    return path == top or path.startswith(top + "/") or not top


def related(a: str, b: str) -> bool:
    return below(a, b) or below(b, a)


@dataclass
class Op:
    """One pending change."""

    seq: int
    kind: str  # "put" | "mkdir" | "rm"
    thread: str
    key: str
    path: str
    data: str = ""  # put: file name in data/
    size: int = 0
    mode: int = 0  # permission bits; 0 = not set
    mtime: int = 0  # ns; 0 = not set
    base: str = ""  # put: CID the change started from, "" = new file
    is_dir: bool = False  # rm: of a directory
    made: int = 0  # ns when the change was made (what stat shows while mtime is not set)
    sending: bool = field(default=False, compare=False)
    replayed: bool = field(default=False, compare=False)
    cid: str = field(default="", compare=False)  # put: the CID the hub answered (not journaled)

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"op": self.kind, "seq": self.seq, "thread": self.thread}
        rec |= {"key": self.key, "path": self.path, "made": self.made}
        if self.kind == "put":
            rec |= {"data": self.data, "size": self.size, "base": self.base}
        if self.kind in ("put", "mkdir"):
            rec |= {"mode": self.mode, "mtime": self.mtime}
        if self.kind == "rm":
            rec["dir"] = self.is_dir
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Op:
        return cls(
            seq=int(rec["seq"]),
            kind=str(rec["op"]),
            thread=str(rec["thread"]),
            key=str(rec["key"]),
            path=str(rec["path"]),
            data=str(rec.get("data", "")),
            size=int(rec.get("size", 0)),
            mode=int(rec.get("mode", 0)),
            mtime=int(rec.get("mtime", 0)),
            base=str(rec.get("base", "")),
            is_dir=bool(rec.get("dir", False)),
            made=int(rec.get("made", 0)),
        )


class PendingSet:
    """The changes not in the hub yet (see module docstring). ``release(name)`` is called when
    no change refers to the data file ``name`` any more."""

    def __init__(self, release: Callable[[str], None]) -> None:
        self.ops: dict[int, Op] = {}
        self.at: dict[PathKey, list[Op]] = {}
        self.names: dict[PathKey, set[str]] = {}
        self.recent: dict[PathKey, tuple[Op, float]] = {}
        self.refs: Counter[str] = Counter()
        self.bytes = 0
        self.puts = 0  # pending put changes
        self._release = release
        #: while replaying: seq -> path of a put superseded by a later record (live, only a
        #: put not being sent is superseded; replayed, it may have been sent, and its ``done``
        #: record, which comes later in the file, must still become the base of the later put)
        self.replaying: dict[int, PathKey] | None = None

    # -- queries ------------------------------------------------------------------------

    def latest(self, key: str, path: str) -> Op | None:
        """The newest change of the path: pending, else recently finished."""
        ops = self.at.get((key, path))
        if ops:
            return ops[-1]
        recent = self.recent.get((key, path))
        return recent[0] if recent is not None else None

    def only_here(self, key: str, path: str) -> bool:
        """The path exists only in the journal: one pending change, a new file or directory,
        not being sent (so the hub has never seen it)."""
        ops = self.at.get((key, path), [])
        if len(ops) != 1 or ops[0].sending or (key, path) in self.recent:
            return False
        op = ops[0]
        return (op.kind == "put" and not op.base) or op.kind == "mkdir"

    def files(self) -> int:
        return self.puts

    # -- changes ------------------------------------------------------------------------

    def add(self, op: Op) -> None:
        pk = (op.key, op.path)
        if op.kind == "put":  # first: the op it supersedes may share its data file
            self.refs[op.data] += 1
            self.bytes += op.size
            self.puts += 1
        self._forget_recent(op.key, op.path, op.kind == "rm" and op.is_dir)
        if op.kind == "rm":
            self._cancel(op.key, op.path, op.is_dir)
        else:
            for old in list(self.at.get(pk, [])):
                if not old.sending and old.kind == op.kind:
                    self._remove(old)
                    if self.replaying is not None:
                        self.replaying[old.seq] = pk
        self.ops[op.seq] = op
        self.at.setdefault(pk, []).append(op)
        self.names.setdefault((op.key, parent_of(op.path)), set()).add(op.path.rpartition("/")[2])

    def drop(self, key: str, path: str, is_dir: bool) -> None:
        self._forget_recent(key, path, is_dir)
        self._cancel(key, path, is_dir)

    def base_after(self, op: Op) -> str:
        """The CID a change made on top of ``op``'s content starts from: ``op``'s own base
        while it is pending (``done`` moves it on), the CID the hub stored once it is done."""
        return op.base if op.seq in self.ops else (op.cid or op.base)

    def done(self, seqs: list[int], now: float, cids: dict[int, str] | None = None) -> None:
        """Those changes are in the hub; a finished put's CID (``cids`` or ``op.cid``) becomes
        the base of the later changes of its path, which were made on top of it: the hub now
        holds our content there, and it must never be taken for another client's."""
        for seq in seqs:
            cid = (cids or {}).get(seq, "")
            op = self.ops.get(seq)
            if op is None:  # superseded while it was being sent (seen at replay only)
                pk = self.replaying.pop(seq, None) if self.replaying is not None else None
                if pk is not None and cid:
                    self._rebase(pk, seq, cid)
                continue
            pk = (op.key, op.path)
            if op.kind == "put":
                op.cid = cid or op.cid
                if op.cid:
                    self._rebase(pk, seq, op.cid)
            newest = self.at.get(pk, [None])[-1] is op
            if newest:
                self._forget_recent(op.key, op.path, False)
                self.recent[pk] = (op, now + RECENT_GRACE)
                if op.kind == "put":
                    self.refs[op.data] += 1
            self._remove(op)

    def _rebase(self, pk: PathKey, seq: int, cid: str) -> None:
        for later in self.at.get(pk, []):
            if later.kind == "put" and later.seq > seq:
                later.base = cid

    def forget_recent(self, key: str, path: str) -> None:
        """Stop showing finished changes at and below ``path`` (it was moved)."""
        self._forget_recent(key, path, True)

    def expire(self, now: float) -> list[PathKey]:
        """Forget finished changes older than the grace time; the (key, parent dir) of those
        whose listing entry the hub's answer did not complete (a put without its CID, a
        directory, whose CID changed with its content)."""
        gone = [(pk, op) for pk, (op, until) in self.recent.items() if until <= now]
        for pk, _ in gone:
            self._forget_recent(pk[0], pk[1], False)
        return [(k, parent_of(p)) for (k, p), op in gone if not (op.kind == "put" and op.cid)]

    def _cancel(self, key: str, path: str, is_dir: bool) -> None:
        if is_dir:
            victims = [o for o in self.ops.values() if o.key == key and below(o.path, path)]
        else:
            victims = list(self.at.get((key, path), []))
        for op in victims:
            if not op.sending:
                self._remove(op)

    def _forget_recent(self, key: str, path: str, subtree: bool) -> None:
        if subtree:
            pks = [pk for pk in self.recent if pk[0] == key and below(pk[1], path)]
        else:
            pks = [(key, path)] if (key, path) in self.recent else []
        for pk in pks:
            op, _ = self.recent.pop(pk)
            if op.kind == "put":
                self._unref(op.data)
            if not self.at.get(pk):
                self._unname(pk)

    def _remove(self, op: Op) -> None:
        pk = (op.key, op.path)
        self.ops.pop(op.seq, None)
        ops = self.at.get(pk, [])
        if op in ops:
            ops.remove(op)
        if not ops:
            self.at.pop(pk, None)
            if pk not in self.recent:
                self._unname(pk)
        if op.kind == "put":
            self.bytes -= op.size
            self.puts -= 1
            self._unref(op.data)

    def _unname(self, pk: PathKey) -> None:
        dk = (pk[0], parent_of(pk[1]))
        names = self.names.get(dk)
        if names is not None:
            names.discard(pk[1].rpartition("/")[2])
            if not names:
                del self.names[dk]

    def _unref(self, data: str) -> None:
        self.refs[data] -= 1
        if self.refs[data] <= 0:
            del self.refs[data]
            self._release(data)


def _line(rec: dict[str, Any]) -> bytes:
    payload = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The valid records of a journal file; torn or corrupt ones are skipped with a log line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        last = number == len(lines)
        head, _, payload = line.partition(b" ")
        try:
            if last:
                raise ValueError("no end of line (torn write)")
            if int(head, 16) != zlib.crc32(payload):
                raise ValueError("checksum mismatch")
            rec = json.loads(payload)
            if not isinstance(rec, dict) or "op" not in rec:
                raise ValueError("not a record")
        except ValueError as exc:
            where = "last record" if last or number == len(lines) - 1 else f"record {number}"
            log.warning("write-back journal %s: %s ignored: %s", path, where, exc)
            continue
        yield rec


class Journal:
    """The journal directory: ``journal`` (records) and ``data/`` (file contents)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.file = root / "journal"
        self.pending = PendingSet(self._release)
        self.next_seq = 1
        self._fd = -1
        self._names = 0
        self.appended = 0

    def data_path(self, name: str) -> Path:
        return self.data / name

    def new_name(self) -> str:
        self._names += 1
        return f"{os.getpid()}-{time.time_ns():x}-{self._names}"

    def _release(self, name: str) -> None:
        (self.data / name).unlink(missing_ok=True)

    def replay(self) -> int:
        """Rebuild the pending set from the file, compact it, remove unreferenced data files;
        returns the number of pending changes."""
        self.pending.replaying = {}
        for rec in read_records(self.file):
            try:
                self.apply(rec)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("write-back journal %s: record ignored: %s", self.file, exc)
        self.pending.replaying = None
        for op in self.pending.ops.values():
            op.replayed = True
        self.pending.recent.clear()
        keep = set(self.pending.refs)
        for leftover in self.data.iterdir():
            if leftover.name not in keep:
                leftover.unlink(missing_ok=True)
        for op in list(self.pending.ops.values()):
            if op.kind == "put" and not (self.data / op.data).exists():
                log.error("write-back journal: content of %s/%s is missing", op.key, op.path)
                self.pending.drop(op.key, op.path, False)
        self.rewrite()
        return len(self.pending.ops)

    def apply(self, rec: dict[str, Any]) -> None:
        kind = rec["op"]
        if kind in ("put", "mkdir", "rm"):
            op = Op.from_record(rec)
            self.pending.add(op)
            self.next_seq = max(self.next_seq, op.seq + 1)
        elif kind == "attrs":  # chmod/utimens of a change not sent yet: it keeps its place
            target = self.pending.ops.get(int(rec["seq"]))
            if target is not None:
                target.mode, target.mtime = int(rec["mode"]), int(rec["mtime"])
        elif kind == "drop":
            self.pending.drop(str(rec["key"]), str(rec["path"]), bool(rec.get("dir")))
        elif kind == "done":
            cids = {int(k): str(v) for k, v in rec.get("cids", {}).items()}
            self.pending.done([int(s) for s in rec["seqs"]], time.monotonic(), cids)
        else:
            raise ValueError(f"unknown record {kind!r}")

    def rewrite(self) -> None:
        """Replace the file by the records of the pending changes (write, fsync, rename); on a
        full disk the old file, which describes the same changes, stays."""
        tmp = self.root / "journal.new"
        try:
            with open(tmp, "wb") as out:
                for op in self.pending.ops.values():
                    out.write(_line(op.record()))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno not in _FULL:
                raise
            log.warning("write-back journal %s: not compacted (no space: %s)", self.file, exc)
        else:
            os.replace(tmp, self.file)
            fsync_dir(self.root)
        self.close()
        self._fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, rec: dict[str, Any]) -> None:
        """Record ``rec`` (one write; durable after ``sync``) and apply it to the pending set;
        ``NoSpace`` if the disk has no room for it (then nothing changed, see above)."""
        if self._fd < 0:
            self._fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        line = _line(rec)

        def put() -> None:
            n = os.write(self._fd, line)  # raising: nothing was written
            if n != len(line):  # cut it off: no torn record before the next one
                os.ftruncate(self._fd, os.fstat(self._fd).st_size - n)
                raise OSError(errno.ENOSPC, f"short write ({n} of {len(line)} bytes)")

        with_room(self.root, "journal record", len(line), put)
        self.appended += 1
        self.apply(rec)
        if not self.pending.ops and self.appended > 1000:
            os.ftruncate(self._fd, 0)  # all in the hub: start again small
            self.appended = 0

    def new_op(self, kind: str, thread: str, key: str, path: str, **fields: Any) -> Op:
        fields.setdefault("made", time.time_ns())
        op = Op(self.next_seq, kind, thread, key, path, **fields)
        self.append(op.record())
        return self.pending.ops.get(op.seq, op)

    def sync(self, data: str = "") -> None:
        """Make the records appended so far durable (and the data file ``data``, if named);
        ``NoSpace`` if the disk reports it has no room for them (delayed allocation)."""
        try:
            if data:
                fd = os.open(self.data / data, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                fsync_dir(self.data)
            if self._fd >= 0:
                os.fsync(self._fd)
        except OSError as exc:
            if exc.errno not in _FULL:
                raise
            raise NoSpace(f"no space in the cache directory {self.root}: {exc.strerror}") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
