"""Garbage collection of the block store, on the bucket logic with a real ThreadDB engine."""

from __future__ import annotations

import os
from pathlib import Path

from bucketfs.auth.threadid import ThreadID
from bucketfs.hub.blocks import FileBlockStore
from bucketfs.hub.buckets.attrs import AttrStore
from bucketfs.hub.buckets.content import import_bytes
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.records import BucketRecords
from bucketfs.hub.buckets.service import Ctx
from bucketfs.hub.store import open_store
from bucketfs.hub.threaddb import Engine


def test_gc_keeps_every_bucket_readable_and_frees_the_rest(tmp_path: Path) -> None:
    engine = Engine(open_store(str(tmp_path / "meta.db")))
    thread = ThreadID.new()
    engine.new_db(thread.bytes, name="", owner="owner", api_key="k")
    blocks = FileBlockStore(tmp_path / "blocks")
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    svc = Buckets(BucketRecords(engine), blocks, attrs)
    ctx = Ctx(str(thread), "owner")
    files = {name: os.urandom(400_000) for name in ("a/keep", "a/drop", "b/keep")}
    keys = []
    for private in (False, True):
        key = svc.create(ctx, "b", private=private).bucket.key
        keys.append(key)
        for name, data in files.items():
            list(svc.push_path(ctx, key, name, [data]))
        svc.remove_path(ctx, key, "a/drop")
    gone = svc.create(ctx, "gone").bucket.key
    list(svc.push_path(ctx, gone, "x", [os.urandom(300_000)]))
    svc.remove(ctx, gone)
    stray = import_bytes(blocks, os.urandom(1000))  # an interrupted upload's block

    before = len(list(blocks))
    stats = svc.collect_garbage()
    assert stats.buckets == 2 and stats.deleted > 0 and stats.freed_bytes > 300_000
    assert len(list(blocks)) == before - stats.deleted == stats.kept
    assert not blocks.has(stray.cid)
    assert blocks.has(svc.empty_dir.cid)
    for key in keys:
        for name in ("a/keep", "b/keep"):
            assert b"".join(svc.pull_path(ctx, key, name)) == files[name]
        assert [i.name for i in svc.list_path(ctx, key, "a").item.items] == ["keep"]
    assert svc.collect_garbage().deleted == 0
    attrs.close()
