"""``bucketfs hub fsck`` and ``bucketfs hub gc``: check (and repair) a stopped hub's data directory.

Both open the data directory the way the hub does, under the hub's exclusive lock (so they refuse
to run while a hub serves the directory: the hub's writers and the collector's gate live in its
process). :func:`open_offline` is that opening.

The check (:class:`Checker`), in order:

1. **Databases**: ``PRAGMA integrity_check`` of every SQLite file of the data directory.
2. **Blocks**: every stored block is re-hashed against its multihash (corrupt blocks).
3. **References**: for every bucket of the bucket registry, its ThreadDB record must exist, its
   root block must be present and sound (else a *dangling root*), and every block reachable
   from the root must be present and sound: directories (HAMT shards and encrypted directories
   included), file nodes and leaves. Damage is reported with the bucket and the bucket path it
   touches. Path attributes (mode, mtime) of names a directory does not contain are *dangling
   attributes*.

Blocks no bucket reaches are not damage; the summary counts them (``gc`` removes them).

``--repair`` removes what cannot be used and says so: corrupt blocks are deleted; a damaged path
is removed from its bucket (as RemovePath does, so the bucket stays consistent and readable); a
bucket with a dangling root, and a registry entry without a record, are removed; dangling
attributes are deleted. A damaged database is reported but not repaired (restore a backup).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bucketfs.errors import BucketfsError, CorruptData, NotFound
from bucketfs.hub.accounts import Accounts, load_or_create_identity
from bucketfs.hub.buckets.model import Bucket
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.service import Ctx
from bucketfs.hub.buckets.tree import DirCodec, is_raw
from bucketfs.hub.server import STORE_FILE, lock_data_dir
from bucketfs.hub.servicers import HubContext, HubOptions
from bucketfs.hub.servicers.buckets import open_buckets
from bucketfs.hub.store import open_store
from bucketfs.hub.threaddb import Engine
from bucketfs.ipfs import dagpb
from bucketfs.ipfs.cid import CID, DAG_PB, RAW

#: exit status of ``fsck``: nothing wrong / damage found and all of it repaired / damage remains
CLEAN, REPAIRED, DAMAGED = 0, 3, 4
DB_SUFFIXES = (".sqlite", ".sqlite3", ".db")


#: damage below a node: (bucket path relative to the node, the bad block, what is wrong)
Damage = tuple[str, CID, str]
#: a node's child: (entry name, or "" inside a file; CID; whether it is a directory entry)
Child = tuple[str, CID, bool]


def _join(name: str, rel: str) -> str:
    if not name:
        return rel
    return f"{name}/{rel}" if rel else name


@dataclass
class Problem:
    """One thing that is wrong; ``repaired`` says what ``--repair`` did about it."""

    #: database | corrupt-block | damaged-path | dangling-root | missing-record | dangling-attrs
    kind: str
    text: str
    bucket: str = ""
    thread: str = ""
    path: str = ""
    cid: str = ""
    repaired: str = ""

    def line(self) -> str:
        where = f" [bucket {self.bucket} thread {self.thread}" if self.bucket else ""
        if self.bucket:
            where += f" path {self.path!r}]" if self.path else " root]"
        done = f" -> {self.repaired}" if self.repaired else ""
        return f"{self.kind}: {self.text}{where}{done}"


@dataclass
class Report:
    """What a check found."""

    blocks: int = 0
    buckets: int = 0
    unreferenced: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def status(self) -> int:
        if not self.problems:
            return CLEAN
        return REPAIRED if all(p.repaired for p in self.problems) else DAMAGED


@contextlib.contextmanager
def hub_lock(data_dir: Path) -> Iterator[None]:
    """Hold the hub's exclusive lock of ``data_dir`` (``DataDirLocked`` while a hub serves it)."""
    if not (data_dir / STORE_FILE).is_file():
        raise NotFound(f"{data_dir} is not a hub data directory (no {STORE_FILE})")
    fd = lock_data_dir(data_dir)
    try:
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_locked(data_dir: Path) -> Iterator[Buckets]:
    """The bucket logic over ``data_dir`` as the hub opens it; the caller holds the lock."""
    store = open_store(str(data_dir / STORE_FILE))
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        hub = HubContext(
            data_dir=data_dir,
            store=store,
            engine=Engine(store),
            accounts=Accounts(store),
            identity=load_or_create_identity(data_dir),
            options=HubOptions(),
        )
        stack.pop_all()
    try:
        yield open_buckets(hub)
    finally:
        hub.close()  # closes the store too


@contextlib.contextmanager
def open_offline(data_dir: Path) -> Iterator[Buckets]:
    """:func:`open_locked` under :func:`hub_lock`."""
    with hub_lock(data_dir), open_locked(data_dir) as svc:
        yield svc


def database_files(data_dir: Path) -> list[Path]:
    """The SQLite files of a data directory (not the block store)."""
    blocks = data_dir / "blocks"
    return sorted(
        p
        for p in data_dir.rglob("*")
        if p.suffix in DB_SUFFIXES and p.is_file() and blocks not in p.parents
    )


def check_databases(data_dir: Path) -> list[Problem]:
    """``PRAGMA integrity_check`` of every database file."""
    problems = []
    for path in database_files(data_dir):
        rel = path.relative_to(data_dir)
        try:
            with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
                rows = [str(r[0]) for r in db.execute("PRAGMA integrity_check")]
            rows = [line for row in rows for line in row.splitlines() if line]
        except sqlite3.DatabaseError as exc:
            rows = [str(exc)]
        if rows != ["ok"]:
            text = "; ".join(rows[:5]) + (f" (+{len(rows) - 5} more)" if len(rows) > 5 else "")
            problems.append(Problem("database", f"{rel} failed its integrity check: {text}"))
    return problems


class Checker:
    """One fsck run over an opened hub (see the module docstring)."""

    def __init__(self, svc: Buckets) -> None:
        self.svc = svc
        self.blocks = svc.blocks
        self.corrupt: dict[bytes, CID] = {}
        #: multihash -> damage below that node, memoised per node
        self._memo: dict[bytes, list[Damage]] = {}
        self.report = Report()

    # -- blocks ------------------------------------------------------------------------------

    def scan_blocks(self) -> None:
        for multihash in list(self.blocks):
            cid = CID(1, RAW, multihash)
            self.report.blocks += 1
            try:
                data = self.blocks.get_unchecked(cid)
            except NotFound:
                continue  # deleted meanwhile
            if not cid.verify(data):
                self.corrupt[multihash] = cid

    def state(self, cid: CID) -> str:
        if cid.multihash in self.corrupt:
            return "corrupt"
        return "ok" if self.blocks.has(cid) else "missing"

    # -- references --------------------------------------------------------------------------

    def damage(self, codec: DirCodec, root: CID, is_dir: bool) -> list[Damage]:
        """Damage reachable from ``root`` as ``(path relative to it, cid, what)``.

        A post-order walk with an explicit stack (bucket trees may be deeper than Python's
        recursion limit); results are memoised per node, so a subtree shared by several paths
        or buckets is read once and its damage reported under every path that reaches it."""
        stack: list[tuple[CID, bool, list[Child] | None]] = [(root, is_dir, None)]
        while stack:
            cid, as_dir, children = stack.pop()
            if children is not None:  # every child is done: combine
                self._memo[cid.multihash] = [
                    (_join(name, rel), bad, what)
                    for name, child, _ in children
                    for rel, bad, what in self._memo[child.multihash]
                ]
                continue
            if cid.multihash in self._memo:
                continue
            found, children = self._expand(codec, cid, as_dir)
            if children is None:
                self._memo[cid.multihash] = found
                continue
            stack.append((cid, as_dir, children))
            stack += [(c, d, None) for _, c, d in children if c.multihash not in self._memo]
        return self._memo[root.multihash]

    def _expand(
        self, codec: DirCodec, cid: CID, as_dir: bool
    ) -> tuple[list[Damage], list[Child] | None]:
        """A node's own damage (and ``None``), or its children ``(name, cid, is a dir entry)``."""
        state = self.state(cid)
        if state != "ok":
            return [("", cid, f"{state} block")], None
        if is_raw(cid) or cid.codec != DAG_PB:
            return [], None
        if as_dir and codec.is_dir(cid):
            try:
                entries = codec.listing(cid)
            except (NotFound, CorruptData) as exc:  # a HAMT shard block below the node
                return [("", cid, f"unreadable directory: {exc.message}")], None
            return [], [(e.name, e.cid, True) for e in entries]
        return [], [("", link.cid, False) for link in dagpb.decode(self.blocks.get(cid)).links]

    def check_bucket(self, key: str, thread: str) -> None:
        try:
            bucket = self.svc.records.get(thread, key)
        except NotFound:
            self.problem("missing-record", "registered bucket has no ThreadDB record", key, thread)
            return
        self.report.buckets += 1
        try:
            root = self.svc.root_cid(bucket)
        except BucketfsError as exc:
            self.problem("dangling-root", f"root {bucket.path!r}: {exc.message}", key, thread)
            return
        if self.state(root) != "ok":
            text = f"root {root} is a {self.state(root)} block"
            self.problem("dangling-root", text, key, thread, cid=str(root))
            return
        codec = self.svc.tree(bucket).codec
        for path, cid, what in self.damage(codec, root, True):
            self.problem("damaged-path", f"{what} {cid}", key, thread, path, str(cid))
        self.check_attrs(bucket, codec, root)

    def check_attrs(self, bucket: Bucket, codec: DirCodec, root: CID) -> None:
        """Attributes of names that no directory of the bucket contains."""
        stack = [("", root)]
        while stack:
            path, cid = stack.pop()
            if cid.codec != DAG_PB or self.state(cid) != "ok" or not codec.is_dir(cid):
                continue
            try:
                entries = codec.listing(cid)
            except (NotFound, CorruptData):
                continue  # reported as a damaged path
            names = {entry.name for entry in entries}
            stack += [(f"{path}/{e.name}" if path else e.name, e.cid) for e in entries]
            for name in self.svc.attrs.children(bucket.thread, bucket.key, path):
                if name not in names:
                    full = f"{path}/{name}" if path else name
                    text = "attributes of a path that does not exist"
                    self.problem("dangling-attrs", text, bucket.key, bucket.thread, full)

    def problem(
        self,
        kind: str,
        text: str,
        bucket: str = "",
        thread: str = "",
        path: str = "",
        cid: str = "",
    ) -> None:
        self.report.problems.append(Problem(kind, text, bucket, thread, path, cid))

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> Report:
        self.scan_blocks()
        for key, thread in self.svc.attrs.buckets():
            self.check_bucket(key, thread)
        referenced = {mh for mh in self._memo} | {self.svc.empty_dir.cid.multihash}
        for multihash, cid in self.corrupt.items():
            if multihash not in referenced:
                self.problem("corrupt-block", f"{cid} (referenced by no bucket)", cid=str(cid))
        self.report.unreferenced = sum(1 for mh in self.blocks if mh not in referenced)
        return self.report


def fsck(data_dir: Path, *, repair: bool = False) -> Report:
    """Check ``data_dir`` (and repair it with ``repair``); the hub must not be running."""
    with hub_lock(data_dir):
        db_problems = check_databases(data_dir)
        try:
            with open_locked(data_dir) as svc:
                checker = Checker(svc)
                report = checker.run()
                report.problems[:0] = db_problems
                if repair:
                    Repairer(svc, checker.corrupt).repair(report)
        except sqlite3.DatabaseError as exc:
            report = Report(problems=db_problems)
            report.problems.append(Problem("database", f"the hub cannot open its data: {exc}"))
    return report


def gc(data_dir: Path) -> tuple[int, int, int, int]:
    """Collect garbage in ``data_dir``: ``(buckets, kept, deleted, freed bytes)``."""
    with open_offline(data_dir) as svc:
        stats = svc.collect_garbage()
    return stats.buckets, stats.kept, stats.deleted, stats.freed_bytes


class Repairer:
    """``--repair``: remove what cannot be used (see the module docstring)."""

    def __init__(self, svc: Buckets, corrupt: dict[bytes, CID]) -> None:
        self.svc = svc
        self.corrupt = corrupt

    def repair(self, report: Report) -> None:
        by_bucket: dict[tuple[str, str], list[Problem]] = {}
        for p in report.problems:
            if p.kind == "damaged-path":
                by_bucket.setdefault((p.thread, p.bucket), []).append(p)
        for (thread, key), found in by_bucket.items():
            self._remove_paths(thread, key, found)
        attrs = self.svc.attrs
        for p in report.problems:
            if p.kind == "dangling-root":
                self._remove_bucket(p)
            elif p.kind == "missing-record":
                attrs.remove_tree(p.thread, p.bucket, "")
                attrs.forget_bucket(p.bucket)
                p.repaired = "removed the registry entry"
            elif p.kind == "dangling-attrs":
                attrs.remove_tree(p.thread, p.bucket, p.path)
                p.repaired = "deleted the attributes"
        for cid in self.corrupt.values():
            self.svc.blocks.delete(cid)
        for p in report.problems:
            if not p.cid or CID.parse(p.cid).multihash not in self.corrupt:
                continue
            if p.kind == "corrupt-block":
                p.repaired = "deleted the block"
            elif p.repaired:  # a path or bucket that could not be removed stays damaged
                p.repaired += ", deleted the corrupt block"

    def _remove_paths(self, thread: str, key: str, found: list[Problem]) -> None:
        """Unlink every damaged path (the outermost of nested ones) in one commit."""
        chosen: list[str] = []
        for path in sorted({p.path for p in found}):
            if not any(path == c or path.startswith(c + "/") for c in chosen):
                chosen.append(path)
        svc = self.svc
        try:
            with svc.locked(thread, key):
                bucket = svc.records.get(thread, key)
                tree, root = svc.tree(bucket), svc.root_cid(bucket)
                with svc.blocks.batch():
                    for path in chosen:
                        root = tree.update(root, path, None).cid
                for meta_path in [m for m in bucket.metadata if _under_any(m, chosen)]:
                    del bucket.metadata[meta_path]
                svc.commit(bucket, root, Ctx(thread, bucket.owner))
                for path in chosen:
                    svc.attrs.remove_tree(thread, key, path)
        except BucketfsError as exc:
            for p in found:
                p.text += f" (could not remove the path: {exc.message})"
            return
        for p in found:
            outer = next(c for c in chosen if p.path == c or p.path.startswith(c + "/"))
            p.repaired = f"removed {outer!r} from the bucket"

    def _remove_bucket(self, p: Problem) -> None:
        svc = self.svc
        try:
            bucket = svc.records.get(p.thread, p.bucket)
            svc.records.delete(bucket, bucket.owner)
        except BucketfsError as exc:
            p.text += f" (could not remove the bucket: {exc.message})"
            return
        svc.attrs.remove_tree(p.thread, p.bucket, "")
        svc.attrs.forget_bucket(p.bucket)
        p.repaired = "removed the bucket (its root cannot be read)"


def _under_any(path: str, prefixes: list[str]) -> bool:
    return any(path == c or path.startswith(c + "/") for c in prefixes)
