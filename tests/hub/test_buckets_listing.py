"""The per-child costs of ListPath: the in-memory node map in front of the ``nodes`` table."""

from __future__ import annotations

from pathlib import Path

from bucketfs.hub.blocks import MemoryBlockStore
from bucketfs.hub.buckets import content
from bucketfs.hub.buckets.attrs import AttrStore, Memo
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
