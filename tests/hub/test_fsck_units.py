"""``bucketfs.hub.fsck`` in process: dangling attributes, damaged databases, private buckets,
and a randomised exerciser (random trees, random damage: every damaged file is reported with its
path, ``--repair`` leaves a clean store whose undamaged files read back)."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketfs.auth.threadid import ThreadID
from bucketfs.hub import fsck
from bucketfs.hub.buckets.attrs import PathAttrs
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.service import Ctx
from bucketfs.hub.server import STORE_FILE
from bucketfs.hub.store import open_store
from bucketfs.ipfs import dagpb
from bucketfs.ipfs.cid import CID, RAW

OWNER = "owner"


def new_data_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True)
    open_store(str(path / STORE_FILE)).close()
    return path


def new_bucket(svc: Buckets, files: dict[str, bytes], private: bool = False) -> tuple[Ctx, str]:
    thread = ThreadID.new()
    svc.records.engine.new_db(thread.bytes, name="", owner=OWNER, api_key="k")
    ctx = Ctx(str(thread), OWNER)
    key = svc.create(ctx, "b", private=private).bucket.key
    for path, data in files.items():
        list(svc.push_path(ctx, key, path, [data]))
    return ctx, key


def leaves(svc: Buckets, cid: CID) -> list[CID]:
    """Every block of a file (its root first)."""
    out, stack = [], [cid]
    while stack:
        c = stack.pop()
        out.append(c)
        if c.codec != RAW:
            stack += [link.cid for link in dagpb.decode(svc.blocks.get(c)).links]
    return out


def test_dangling_attributes_found_and_deleted(tmp_path: Path) -> None:
    data = new_data_dir(tmp_path / "data")
    with fsck.open_offline(data) as svc:
        ctx, key = new_bucket(svc, {"d/a.txt": b"a"})
        svc.attrs.set_many(ctx.thread, key, [("d/ghost", PathAttrs(0o100600, 1))])
    report = fsck.fsck(data)
    assert [(p.kind, p.path) for p in report.problems] == [("dangling-attrs", "d/ghost")]
    assert report.status == fsck.DAMAGED
    assert fsck.fsck(data, repair=True).status == fsck.REPAIRED
    assert fsck.fsck(data).status == fsck.CLEAN
    with fsck.open_offline(data) as svc:
        assert svc.attrs.get(ctx.thread, key, "d/ghost") is None


def test_registry_entry_without_record_is_removed(tmp_path: Path) -> None:
    data = new_data_dir(tmp_path / "data")
    with fsck.open_offline(data) as svc:
        ctx, _ = new_bucket(svc, {"a": b"a"})
        svc.attrs.register_bucket("bafzbeinosuchbucket", ctx.thread)
    report = fsck.fsck(data, repair=True)
    assert [(p.kind, p.bucket) for p in report.problems] == [
        ("missing-record", "bafzbeinosuchbucket")
    ]
    assert report.status == fsck.REPAIRED and fsck.fsck(data).status == fsck.CLEAN


def test_damaged_database_is_reported_not_repaired(tmp_path: Path) -> None:
    data = new_data_dir(tmp_path / "data")
    extra = data / "buckets" / "extra.sqlite"
    extra.parent.mkdir()
    with sqlite3.connect(extra) as db:
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        db.execute("CREATE INDEX t_v ON t (v)")
        db.executemany(
            "INSERT INTO t VALUES (?, ?)", [(str(i), os.urandom(40).hex()) for i in range(3000)]
        )
    db.close()
    raw = bytearray(extra.read_bytes())
    page = 4096
    for offset in range(3 * page + 100, len(raw), 7 * page):  # scribble over some pages
        raw[offset : offset + 200] = os.urandom(200)
    extra.write_bytes(bytes(raw))
    report = fsck.fsck(data, repair=True)
    found = [p for p in report.problems if p.kind == "database"]
    assert found and "extra.sqlite" in found[0].text and not found[0].repaired
    assert report.status == fsck.DAMAGED


def test_private_bucket_damage_is_found_through_encrypted_directories(tmp_path: Path) -> None:
    data = new_data_dir(tmp_path / "data")
    files = {"x/y/deep.bin": os.urandom(600_000), "x/keep.txt": b"keep"}
    with fsck.open_offline(data) as svc:
        ctx, key = new_bucket(svc, files, private=True)
        entry = svc.resolve(svc.records.get(ctx.thread, key), "x/y/deep.bin")
        svc.blocks.delete(leaves(svc, entry.cid)[-1])
    report = fsck.fsck(data, repair=True)
    assert [(p.kind, p.path) for p in report.problems] == [("damaged-path", "x/y/deep.bin")]
    assert "missing block" in report.problems[0].text
    assert fsck.fsck(data).status == fsck.CLEAN
    with fsck.open_offline(data) as svc:
        assert b"".join(svc.pull_path(ctx, key, "x/keep.txt")) == b"keep"
        assert [i.name for i in svc.list_path(ctx, key, "x/y").item.items] == []


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.sampled_from(["a", "b", "c/d", "c/e", "f/g/h", "f/i"]), min_size=2, unique=True
    ),
    seed=st.integers(0, 2**32 - 1),
    private=st.booleans(),
)
def test_random_damage_is_reported_by_path_and_repaired(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], seed: int, private: bool
) -> None:
    rnd = random.Random(seed)
    data = new_data_dir(tmp_path_factory.mktemp("fsck") / "data")
    files = {n: rnd.randbytes(rnd.choice([10, 5000, 300_000])) for n in names}
    damaged = set(rnd.sample(names, rnd.randint(1, len(names) - 1)))
    with fsck.open_offline(data) as svc:
        ctx, key = new_bucket(svc, files, private=private)
        bucket = svc.records.get(ctx.thread, key)
        for name in damaged:
            block = rnd.choice(leaves(svc, svc.resolve(bucket, name).cid))
            if rnd.random() < 0.5:
                svc.blocks.delete(block)
            else:
                path = svc.blocks._path(block)  # type: ignore[attr-defined]
                raw = bytearray(path.read_bytes())
                raw[rnd.randrange(len(raw))] ^= 1 << rnd.randrange(8)
                path.write_bytes(bytes(raw))
    report = fsck.fsck(data)
    assert {p.path for p in report.problems} == damaged
    assert all(p.bucket == key and p.kind == "damaged-path" for p in report.problems)
    assert fsck.fsck(data, repair=True).status == fsck.REPAIRED
    assert fsck.fsck(data).status == fsck.CLEAN
    with fsck.open_offline(data) as svc:
        for name, content in files.items():
            if name not in damaged:
                assert b"".join(svc.pull_path(ctx, key, name)) == content


def test_damaged_hub_database_is_reported(tmp_path: Path) -> None:
    data = new_data_dir(tmp_path / "data")
    with fsck.open_offline(data) as svc:
        new_bucket(svc, {f"f{i}": os.urandom(100) for i in range(30)})
    db = data / STORE_FILE
    raw = bytearray(db.read_bytes())
    for end in range(2 * 4096, len(raw) + 1, 4096):  # cell contents sit at the end of a page
        raw[end - 600 : end] = os.urandom(600)
    db.write_bytes(bytes(raw))
    for name in (STORE_FILE + "-wal", STORE_FILE + "-shm"):
        (data / name).unlink(missing_ok=True)
    report = fsck.fsck(data)
    assert report.status == fsck.DAMAGED
    assert any(p.kind == "database" and STORE_FILE in p.text for p in report.problems)


def test_a_shared_block_is_reported_under_every_path_and_bucket(tmp_path: Path) -> None:
    data = new_data_dir(tmp_path / "data")
    same = os.urandom(5000)
    with fsck.open_offline(data) as svc:
        ctx1, key1 = new_bucket(svc, {"a/x": same, "b/y": same, "c": b"other"})
        ctx2, key2 = new_bucket(svc, {"z/x": same})
        cid = svc.resolve(svc.records.get(ctx1.thread, key1), "a/x").cid
        svc.blocks.delete(cid)
    report = fsck.fsck(data)
    found = sorted((p.bucket, p.path) for p in report.problems)
    assert found == sorted([(key1, "a/x"), (key1, "b/y"), (key2, "z/x")])
    assert all(p.cid == str(cid) for p in report.problems)
    fsck.fsck(data, repair=True)
    assert fsck.fsck(data).status == fsck.CLEAN
    with fsck.open_offline(data) as svc:
        assert b"".join(svc.pull_path(ctx1, key1, "c")) == b"other"
        assert [i.name for i in svc.list_path(ctx2, key2, "").item.items] == [".textileseed", "z"]
