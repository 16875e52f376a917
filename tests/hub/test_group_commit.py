"""Group commit: concurrent changes share durability barriers, and each is acknowledged only
after a barrier that started after its data was written (``bucketfs.hub.groupsync``, the block
store's batches, ``bucketfs.hub.buckets.durability``)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bucketfs.auth.threadid import ThreadID
from bucketfs.errors import NotFound
from bucketfs.hub.blocks import FileBlockStore
from bucketfs.hub.buckets.attrs import AttrStore
from bucketfs.hub.buckets.model import Bucket
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.records import BucketRecords
from bucketfs.hub.buckets.service import Ctx
from bucketfs.hub.buckets.tree import Tree
from bucketfs.hub.groupsync import GroupBarrier
from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import Engine
from bucketfs.ipfs.cid import CID, Block


@dataclass
class Events:
    """A global sequence of numbered events, by kind and thread."""

    counter: itertools.count[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[tuple[int, str, int]] = field(default_factory=list)

    def add(self, kind: str) -> int:
        with self.lock:
            seq = next(self.counter)
            self.log.append((seq, kind, threading.get_ident()))
            return seq

    def spans(self, start: str, end: str) -> list[tuple[int, int]]:
        """(start, end) sequence numbers of barriers, paired in order (barriers never overlap)."""
        starts = [s for s, k, _ in self.log if k == start]
        ends = [s for s, k, _ in self.log if k == end]
        assert len(starts) == len(ends)
        return list(zip(starts, ends, strict=True))


def _covered(spans: list[tuple[int, int]], written: int, acked: int) -> bool:
    return any(written < start and end < acked for start, end in spans)


def test_each_caller_waits_for_a_barrier_that_started_after_it_wrote() -> None:
    events = Events()
    callers = 16
    arrived = threading.Semaphore(0)

    def barrier(items: list[int]) -> None:
        events.add("start")
        time.sleep(0.02)  # long enough for the other callers to queue up behind it
        events.add("end")

    group: GroupBarrier[int] = GroupBarrier(barrier)
    results: dict[int, tuple[int, int]] = {}

    def caller(i: int) -> None:
        written = events.add("write")
        arrived.release()
        group.sync([i])
        results[i] = (written, events.add("ack"))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    spans = events.spans("start", "end")
    assert len(results) == callers
    for written, acked in results.values():
        assert _covered(spans, written, acked)
    assert group.barriers == len(spans) < callers  # shared


def test_a_failed_barrier_fails_every_caller_it_covered_and_the_next_one_runs_anew() -> None:
    calls: list[list[int]] = []
    fail = threading.Event()
    fail.set()

    def barrier(items: list[int]) -> None:
        calls.append(items)
        if fail.is_set():
            raise OSError(5, "Input/output error")

    group: GroupBarrier[int] = GroupBarrier(barrier)
    with pytest.raises(OSError, match="durability barrier failed"):
        group.sync([1])
    fail.clear()
    group.sync([2])  # a new barrier, not the failed one reported as success
    assert calls == [[1], [2]]


class CountingBlocks(FileBlockStore):
    """The file block store, numbering its writes and barriers in ``events``."""

    def __init__(self, root: Path, events: Events, sync: str) -> None:
        super().__init__(root, sync=sync)
        self.events = events
        self.covered: list[tuple[int, set[Path]]] = []  # barrier start, the files it synced

    def put(self, block: Block) -> None:
        pending = self._pending
        before = len(pending) if pending is not None else 0
        super().put(block)
        wrote = pending is not None and len(pending) > before  # deferred to a barrier
        self.events.add(f"put {self._path(block.cid)}" if wrote else "put-synced-or-present")

    def _barrier(self, written: list[Path]) -> None:
        self.covered.append((self.events.add("blocks-start"), set(written)))
        super()._barrier(written)
        self.events.add("blocks-end")


class CountingStore(SqliteStore):
    """The SQLite store, numbering its log barriers in ``events``."""

    def __init__(self, path: str, events: Events) -> None:
        self.events = events
        super().__init__(path)

    def fsync_log(self) -> None:
        self.events.add("log-start")
        time.sleep(0.005)  # a slow disk: lets concurrent changes meet at the barrier
        super().fsync_log()
        self.events.add("log-end")


class CountingRecords(BucketRecords):
    """Bucket records, numbering each committed root (``commit <key> <root>``) in ``events``."""

    def __init__(self, engine: Engine, events: Events) -> None:
        super().__init__(engine)
        self.events = events

    def save(self, bucket: Bucket, writer: str) -> None:
        super().save(bucket, writer)
        self.events.add(f"commit {bucket.key} {bucket.path}")


@pytest.mark.parametrize("sync", ["syncfs", "fsync"])
def test_concurrent_pushes_are_acknowledged_after_barriers_that_cover_them(
    tmp_path: Path, sync: str
) -> None:
    events = Events()
    store = CountingStore(str(tmp_path / "hub.sqlite"), events)
    engine = Engine(store)
    thread = ThreadID.new()
    engine.new_db(thread.bytes, name="t", owner="", api_key="")
    blocks = CountingBlocks(tmp_path / "blocks", events, sync)
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    b = Buckets(CountingRecords(engine, events), blocks, attrs, store=store)
    ctx = Ctx(thread=str(thread))
    keys = [b.create(ctx, f"b{i}").bucket.key for i in range(3)]
    writers, pushes = 12, 4
    done: list[tuple[int, str, str, CID, int]] = []  # thread, key, path, file CID, ack

    def writer(w: int) -> None:
        key = keys[w % len(keys)]
        for i in range(pushes):
            data = f"writer {w} push {i} ".encode() * 50
            (pushed,) = list(b.push_path(ctx, key, f"w{w}/f{i}", [data]))
            acked = events.add("ack")
            done.append((threading.get_ident(), key, pushed.path, pushed.cid, acked))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(done) == writers * pushes
    block_spans = events.spans("blocks-start", "blocks-end")
    log_spans = events.spans("log-start", "log-end")
    commits = [
        (s, k.split()[1], k.split()[2], i) for s, k, i in events.log if k.startswith("commit")
    ]
    for seq, _, _, ident in commits:  # the committing thread's blocks are on disk first
        last_put = max(s for s, k, i in events.log if i == ident and k[:3] == "put" and s < seq)
        assert _covered(block_spans, last_put, seq)
    tree = b.tree(b.records.get(ctx.thread, keys[0]))
    for ident, key, path, cid, acked in done:
        mine = [s for s, k, i in events.log if i == ident and s < acked]
        prev_ack = max((s for s in mine if events.log[s][1] == "ack"), default=-1)
        last_put = max(s for s in mine if s > prev_ack and events.log[s][1][:3] == "put")
        commit = next(  # the first commit of this bucket that holds the pushed file
            seq
            for seq, k, root, _ in commits
            if k == key and seq > last_put and _holds(tree, root, path, cid)
        )
        assert _covered(block_spans, last_put, commit), "file durable before the root commit"
        assert _covered(log_spans, commit, acked), "commit durable before the answer"
    if sync == "fsync":  # every file written is in the set of a barrier that started after it
        for seq, kind, _ in events.log:
            if kind.startswith("put "):
                path = Path(kind[4:])
                assert any(start > seq and path in files for start, files in blocks.covered)
    assert len(log_spans) < writers * pushes  # commits shared their barriers
    assert len(commits) < writers * pushes + len(keys)  # and pushes into one bucket a commit
    attrs.close()
    store.close()


def _holds(tree: Tree, root: str, path: str, cid: CID) -> bool:
    try:
        return tree.resolve(CID.parse(root.removeprefix("/ipfs/")), path).cid == cid
    except NotFound:
        return False
