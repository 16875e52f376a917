"""ThreadDB write/read transactions, the per-database write lock, and Listen."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bucketfs.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from bucketfs.hub.store.sqlite import SqliteStore
from bucketfs.hub.threaddb import CollectionConfig, Engine, ListenerOverflow, ListenFilter

SCHEMA = json.dumps({"properties": {"_id": {"type": "string"}, "n": {"type": "integer"}}}).encode()
CREATE, SAVE, DELETE = 0, 1, 2  # reply enum


def j(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Engine, bytes]]:
    store = SqliteStore(str(tmp_path / "meta.db"))
    engine = Engine(store, lock_timeout=5)
    db = bytes([1, 0x55]) + os.urandom(32)
    engine.new_db(db, name="", owner="o", api_key="", collections=[CollectionConfig("c", SCHEMA)])
    yield engine, db
    store.close()


# -- write transactions --------------------------------------------------------------------


def test_write_txn_buffers_until_commit(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    [old] = engine.create(db, "c", [j(n=0)])
    txn = engine.write_transaction(db, "c")
    ids = txn.create([j(n=1), j(n=2)])
    assert len(ids) == 2
    txn.save([j(_id=old, n=9)])
    txn.delete(["missing"])
    assert not txn.has(ids)  # reads see committed state
    assert json.loads(txn.find_by_id(old))["n"] == 0
    assert len(txn.find(b"{}")) == 1
    txn.verify([j(_id=old, n=5)])
    txn.commit()
    assert engine.has(db, "c", ids)
    assert json.loads(engine.find_by_id(db, "c", old))["n"] == 9
    with pytest.raises(InvalidArgument, match=r"can't commit discarded/committed txn"):
        txn.commit()


def test_discard_then_commit_fails(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    txn = engine.write_transaction(db, "c")
    [i] = txn.create([j(n=1)])
    txn.discard()
    with pytest.raises(InvalidArgument, match=r"can't commit discarded/committed txn") as err:
        txn.commit()
    assert err.value.wire_code == "UNKNOWN"
    assert not engine.has(db, "c", [i])
    engine.create(db, "c", [j(n=2)])  # lock released


def test_failed_commit_applies_nothing(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    txn = engine.write_transaction(db, "c")
    [a] = txn.create([j(n=1)])
    with pytest.raises(AlreadyExists):
        txn.create([j(_id=a, n=2)])  # refused at once: created earlier in this txn
    txn.save([j(_id="s", n=1)])
    engine_ids = txn.create([j(_id="dup", n=1)])
    assert engine_ids == ["dup"]
    txn.save([j(_id="dup", n=3)])
    txn.commit()
    assert engine.has(db, "c", [a, "s", "dup"])
    with engine.write_transaction(db, "c") as t2:
        t2.save([j(_id="t", n=1)])
    assert engine.has(db, "c", ["t"])
    with pytest.raises(RuntimeError), engine.write_transaction(db, "c") as t3:
        t3.save([j(_id="u", n=1)])
        raise RuntimeError
    assert not engine.has(db, "c", ["u"])


def test_write_txn_holds_the_db_lock(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    txn = engine.write_transaction(db, "c")
    done = threading.Event()

    def other_write() -> None:
        engine.create(db, "c", [j(_id="other", n=1)])
        done.set()

    t = threading.Thread(target=other_write)
    t.start()
    time.sleep(0.2)
    assert not done.is_set()
    assert engine.find(db, "c", b"{}") == []  # reads are not blocked
    txn.save([j(_id="mine", n=1)])
    txn.commit()
    t.join(5)
    assert done.is_set()
    assert engine.has(db, "c", ["mine", "other"])


def test_lock_timeout(tmp_path: Path) -> None:
    store = SqliteStore(":memory:")
    engine = Engine(store, lock_timeout=0.05)
    db = bytes([1, 0x55, 7])
    engine.new_db(db, name="", owner="o", api_key="", collections=[CollectionConfig("c", SCHEMA)])
    txn = engine.write_transaction(db, "c")
    with pytest.raises(Unavailable):
        engine.save(db, "c", [j(_id="x", n=1)])
    txn.discard()
    engine.save(db, "c", [j(_id="x", n=1)])
    store.close()


def test_read_transaction(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    [i] = engine.create(db, "c", [j(n=1)])
    with engine.read_transaction(db, "c") as rt:
        assert rt.has([i]) and not rt.has([i, "x"])
        assert json.loads(rt.find_by_id(i))["n"] == 1
        assert len(rt.find(b"{}")) == 1
    with pytest.raises(NotFound):
        engine.read_transaction(db, "nope")


def test_concurrent_creates_all_land(env: tuple[Engine, bytes]) -> None:
    engine, db = env

    def work(k: int) -> None:
        for n in range(25):
            engine.create(db, "c", [j(_id=f"{k}-{n}", n=n)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(engine.find(db, "c", b"{}")) == 100


# -- listen --------------------------------------------------------------------------------


def test_listen_events_and_filters(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    engine.create(db, "c", [j(_id="before", n=0)])  # no initial snapshot
    everything = engine.listen(db, [])
    only = engine.listen(db, [ListenFilter(instance_id="x"), ListenFilter(action=3)])
    engine.create(db, "c", [j(_id="x", n=1), j(_id="y", n=1)])
    engine.save(db, "c", [j(_id="y", n=2)])
    engine.delete(db, "c", ["y", "ghost"])
    got = [everything.get(1) for _ in range(4)]
    assert [(e.instance_id, e.action) for e in got if e] == [
        ("x", CREATE),
        ("y", CREATE),
        ("y", SAVE),
        ("y", DELETE),
    ]
    # payloads are the current state at send time: "y" is gone, so it is delivered empty
    assert got[0] is not None and json.loads(got[0].instance)["n"] == 1
    assert got[1] is not None and got[1].instance == b""
    assert got[3] is not None and got[3].instance == b""
    assert everything.get(0.05) is None
    assert [(e.instance_id, e.action) for e in (only.get(1), only.get(1)) if e] == [
        ("x", CREATE),
        ("y", DELETE),
    ]
    assert only.get(0.05) is None
    everything.close()
    only.close()
    assert everything.get(0) is None


def test_listen_overflow_is_reported_not_silent() -> None:
    store = SqliteStore(":memory:")
    engine = Engine(store, listen_queue_limit=3)
    db = bytes([1, 0x55, 9])
    engine.new_db(db, name="", owner="o", api_key="", collections=[CollectionConfig("c", SCHEMA)])
    slow = engine.listen(db, [])
    picky = engine.listen(db, [ListenFilter(instance_id="3")])
    engine.create(db, "c", [j(_id=str(n), n=n) for n in range(3)])
    first = slow.get(0)
    assert first is not None and first.instance_id == "0"
    engine.create(db, "c", [j(_id="3", n=3), j(_id="4", n=4)])  # 2 queued + 2 new > 3
    with pytest.raises(ListenerOverflow, match="re-read state") as err:
        slow.get(0)
    assert err.value.wire_code == "ABORTED"
    with pytest.raises(ListenerOverflow):
        slow.get(0)  # stays broken: the stream must end
    got = picky.get(0)  # a listener with room is unaffected
    assert got is not None and got.instance_id == "3"
    slow.close()
    picky.close()
    store.close()


def test_listen_wakes_blocked_reader_and_ends_on_delete_db(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    listener = engine.listen(db, [ListenFilter(collection="c")])
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(listener.get(5)))
    t.start()
    time.sleep(0.05)
    engine.create(db, "c", [j(_id="z", n=1)])
    t.join(5)
    assert got and got[0].instance_id == "z"
    engine.delete_db(db)
    with pytest.raises(NotFound, match="db not found"):
        listener.get(1)
    with pytest.raises(NotFound):
        engine.listen(db, [])


def test_listen_payload_is_current_and_save_of_new_id_is_a_save(env: tuple[Engine, bytes]) -> None:
    engine, db = env
    listener = engine.listen(db, [ListenFilter(collection="c", action=0)])
    engine.save(db, "c", [j(_id="fresh", n=1)])  # did not exist: created, reported as SAVE
    engine.save(db, "c", [j(_id="fresh", n=2)])
    first, second = listener.get(1), listener.get(1)
    assert first is not None and second is not None
    assert (first.action, second.action) == (SAVE, SAVE)
    assert json.loads(first.instance)["n"] == 2  # fetched at send time
    other = engine.listen(db, [ListenFilter(collection="elsewhere")])
    engine.delete(db, "c", ["fresh"])
    assert other.get(0.05) is None
    listener.close()
    other.close()
