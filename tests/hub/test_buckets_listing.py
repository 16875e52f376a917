"""The per-child costs of ListPath: the in-memory node map in front of the ``nodes`` table."""

from __future__ import annotations

from pathlib import Path

from bucketfs.hub.blocks import MemoryBlockStore
from bucketfs.hub.buckets import content
from bucketfs.hub.buckets.attrs import CHILDREN_QUERY, AttrStore, Memo, PathAttrs
from bucketfs.hub.buckets.publicdirs import PublicDirs


def test_memo_is_bounded_and_drops_the_oldest() -> None:
    memo = Memo(limit=3)
    for i in range(5):
        memo.put(i, str(i))
    assert len(memo) == 3
    assert [memo.get(i) for i in range(5)] == [None, None, "2", "3", "4"]


def test_node_info_is_remembered_in_memory_and_in_the_table(tmp_path: Path) -> None:
    blocks = MemoryBlockStore()
    dirs = PublicDirs(blocks.get, blocks.put)
    entry = content.import_bytes(blocks, b"x" * 300_000)  # two leaves: a dag-pb root
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    info = content.node_info(blocks, attrs, dirs, entry.cid, False)
    assert (info.kind, info.file_size, info.cid_text) == (content.FILE, 300_000, str(entry.cid))
    assert attrs.node(str(entry.cid)) == (content.FILE, 300_000, "")
    assert attrs.memo.get((entry.cid, False)) == info
    attrs.close()
    # a new store (a restarted hub) answers from the table without reading the blocks
    again = AttrStore(tmp_path / "attrs.sqlite")
    assert content.node_info(MemoryBlockStore(), again, dirs, entry.cid, False) == info
    again.close()


def test_node_infos_mixes_memory_table_and_computed(tmp_path: Path) -> None:
    blocks = MemoryBlockStore()
    dirs = PublicDirs(blocks.get, blocks.put)
    sizes = [0, 10, 300_000, 700_000]
    cids = [content.import_bytes(blocks, b"y" * n).cid for n in sizes]
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    content.node_info(blocks, attrs, dirs, cids[0], False)  # in memory and in the table
    attrs.set_nodes([(str(cids[1]), content.FILE, 10, "")])  # only in the table
    infos = content.node_infos(blocks, attrs, dirs, [*cids, dirs.empty().cid], False)
    assert [(i.kind, i.file_size) for i in infos] == [
        *[(content.FILE, n) for n in sizes],
        (content.DIR, 0),
    ]
    assert attrs.nodes([str(c) for c in cids]) == {
        str(c): (content.FILE, n, "") for c, n in zip(cids, sizes, strict=True)
    }
    attrs.close()


def test_pushed_files_are_known_before_their_first_listing(tmp_path: Path) -> None:
    from bucketfs.auth.threadid import ThreadID
    from bucketfs.hub.buckets.mutations import Buckets, Pushed
    from bucketfs.hub.buckets.records import BucketRecords
    from bucketfs.hub.buckets.service import Ctx
    from bucketfs.hub.store import open_store
    from bucketfs.hub.threaddb import Engine

    engine = Engine(open_store(":memory:"))
    thread = ThreadID.new()
    engine.new_db(thread.bytes, name="t", owner="", api_key="")
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    logic = Buckets(BucketRecords(engine), MemoryBlockStore(), attrs)
    ctx = Ctx(thread=str(thread))
    for private in (False, True):
        key = logic.create(ctx, "b", private=private).bucket.key
        pushed = list(logic.push_paths(ctx, key, [("a", b"12345"), ("a", b"")]))
        one = [e for e in logic.push_path(ctx, key, "b", [b"xyz"]) if isinstance(e, Pushed)]
        for cid, size in [(pushed[0].cid, 5), (one[0].cid, 3)]:
            prefix = "p:" if private else ""
            assert attrs.node(prefix + str(cid)) == (content.FILE, size, "")
        listing = logic.list_path(ctx, key, "")
        got = {i.name: i.file_size for i in listing.item.items}
        assert (got["a"], got["b"]) == (5, 3)


def test_a_directory_listing_and_a_move_read_only_their_own_rows(tmp_path: Path) -> None:
    """Children by the parent index and moves by key ranges: without that, each listing and each
    move scanned every row of the bucket (SQLite keeps no statistics here)."""
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    rows = [(f"big/f{i:04d}", PathAttrs(0o644, i)) for i in range(3000)]
    rows += [("small", PathAttrs(0o755, 1)), ("small/a", PathAttrs(0o600, 2))]
    attrs.set_many("t", "b", rows)
    db = attrs._db
    plan = " ".join(
        r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + CHILDREN_QUERY, ("t", "b", "x"))
    )
    assert "COVERING INDEX attrs_children" in plan and "parent=?" in plan
    assert attrs.children("t", "b", "small") == {"a": PathAttrs(0o600, 2)}
    assert len(attrs.children("t", "b", "big")) == 3000
    trace: list[str] = []
    db.set_trace_callback(trace.append)
    attrs.move_tree("t", "b", "small", "moved")
    db.set_trace_callback(None)
    for sql in trace:
        if sql.startswith(("SELECT", "DELETE")):
            detail = " ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql))
            assert "path" in detail, (sql, detail)  # a key search on the path, not a scan
    assert attrs.children("t", "b", "moved") == {"a": PathAttrs(0o600, 2)}
    assert attrs.get("t", "b", "moved") == PathAttrs(0o755, 1)
    assert attrs.get("t", "b", "small") is None and attrs.children("t", "b", "small") == {}
    attrs.close()
