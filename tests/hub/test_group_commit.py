"""Group commit: concurrent changes share durability barriers, and each is acknowledged only
after a barrier that started after its data was written (``bucketfs.hub.groupsync``, the block
store's batches, ``bucketfs.hub.buckets.durability``)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from sqlite3 import Connection

import pytest

from bucketfs.auth.threadid import ThreadID
from bucketfs.hub.blocks import FileBlockStore
from bucketfs.hub.buckets.attrs import AttrStore
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.records import BucketRecords
from bucketfs.hub.buckets.service import Ctx
from bucketfs.hub.groupsync import GroupBarrier
from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import Engine
from bucketfs.ipfs.cid import Block


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

    def __init__(self, root: Path, events: Events) -> None:
        super().__init__(root)
        self.events = events

    def put(self, block: Block) -> None:
        super().put(block)
        self.events.add("put")

    def _barrier(self, written: list[Path]) -> None:
        self.events.add("blocks-start")
        super()._barrier(written)
        self.events.add("blocks-end")


class CountingStore(SqliteStore):
    """The SQLite store, numbering its commits and log barriers in ``events``."""

    def __init__(self, path: str, events: Events) -> None:
        self.events = events
        super().__init__(path)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with super().transaction() as conn:
            yield conn
        self.events.add("commit")

    def fsync_log(self) -> None:
        self.events.add("log-start")
        time.sleep(0.005)  # a slow disk: lets concurrent changes meet at the barrier
        super().fsync_log()
        self.events.add("log-end")


def test_concurrent_pushes_are_acknowledged_after_barriers_that_cover_them(
    tmp_path: Path,
) -> None:
    events = Events()
    store = CountingStore(str(tmp_path / "hub.sqlite"), events)
    engine = Engine(store)
    thread = ThreadID.new()
    engine.new_db(thread.bytes, name="t", owner="", api_key="")
    blocks = CountingBlocks(tmp_path / "blocks", events)
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    b = Buckets(BucketRecords(engine), blocks, attrs, store=store)
    ctx = Ctx(thread=str(thread))
    keys = [b.create(ctx, f"b{i}").bucket.key for i in range(4)]
    writers, pushes = 12, 4
    done: list[tuple[int, int]] = []  # (index in the log of the push's last put, ack)

    def writer(w: int) -> None:
        for i in range(pushes):
            data = f"writer {w} push {i} ".encode() * 50
            list(b.push_path(ctx, keys[w % len(keys)], f"w{w}/f{i}", [data]))
            acked = events.add("ack")
            done.append((threading.get_ident(), acked))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(done) == writers * pushes
    block_spans = events.spans("blocks-start", "blocks-end")
    log_spans = events.spans("log-start", "log-end")
    by_thread: dict[int, list[tuple[int, str]]] = {}
    for seq, kind, ident in events.log:
        by_thread.setdefault(ident, []).append((seq, kind))
    for ident, acked in done:
        before = [(s, k) for s, k in by_thread[ident] if s < acked]
        last_ack = max((s for s, k in before if k == "ack"), default=-1)
        mine = [(s, k) for s, k in before if s > last_ack]  # this push's own events
        last_put = max(s for s, k in mine if k == "put")
        commit = max(s for s, k in mine if k == "commit")
        assert _covered(block_spans, last_put, commit), "blocks durable before the root commit"
        assert _covered(log_spans, commit, acked), "commit durable before the answer"
    assert len(log_spans) < writers * pushes  # commits shared their barriers
    for w, i in itertools.product(range(writers), range(pushes)):
        bucket = b.records.get(ctx.thread, keys[w % len(keys)])
        assert b.resolve(bucket, f"w{w}/f{i}")
    attrs.close()
    store.close()
