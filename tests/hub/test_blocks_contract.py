"""The block store contract (bucketfs/hub/blocks/base.py), run against every implementation."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.errors import CorruptData, InvalidArgument, NotFound
from bucketfs.hub.blocks import BlockStore, FileBlockStore, MemoryBlockStore
from bucketfs.ipfs.cid import CID, DAG_PB, Block


@pytest.fixture(params=["file", "file-fsync", "file-nosync", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlockStore]:
    if request.param == "file":
        yield FileBlockStore(tmp_path / "blocks")
    elif request.param == "file-fsync":
        yield FileBlockStore(tmp_path / "blocks", sync="fsync")
    elif request.param == "file-nosync":
        yield FileBlockStore(tmp_path / "blocks", fsync=False)
    else:
        yield MemoryBlockStore()


def corrupt(store: BlockStore, cid: CID, data: bytes) -> None:
    """Damage a stored block behind the store's back."""
    if isinstance(store, FileBlockStore):
        store._path(cid).write_bytes(data)
    else:
        assert isinstance(store, MemoryBlockStore)
        store.corrupt(cid, data)


def test_put_get_roundtrip(store: BlockStore) -> None:
    block = Block.of(b"hello blocks")
    assert not store.has(block.cid)
    store.put(block)
    assert store.has(block.cid)
    assert store.get(block.cid) == b"hello blocks"
    assert store.size(block.cid) == len(b"hello blocks")


def test_put_is_idempotent(store: BlockStore) -> None:
    block = Block.of(b"x" * 1000)
    store.put(block)
    store.put(block)
    assert list(store) == [block.cid.multihash]


def test_missing_block_is_not_found(store: BlockStore) -> None:
    cid = Block.of(b"never stored").cid
    with pytest.raises(NotFound, match=str(cid)):
        store.get(cid)
    with pytest.raises(NotFound):
        store.size(cid)
    store.delete(cid)  # deleting a missing block is not an error


def test_corrupt_block_is_never_served(store: BlockStore) -> None:
    block = Block.of(b"the real bytes")
    store.put(block)
    corrupt(store, block.cid, b"the fake bytes")
    with pytest.raises(CorruptData, match=str(block.cid)):
        store.get(block.cid)


def test_put_repairs_a_damaged_block(store: BlockStore) -> None:
    block = Block.of(b"repair me please")
    store.put(block)
    corrupt(store, block.cid, b"short")
    store.put(block)
    assert store.get(block.cid) == b"repair me please"


def test_put_repairs_a_same_size_damaged_block(store: BlockStore) -> None:
    block = Block.of(b"repair me please")
    store.put(block)
    corrupt(store, block.cid, b"repair me PLEASE")
    store.put(block)
    assert store.get(block.cid) == b"repair me please"


def test_keyed_by_multihash(store: BlockStore) -> None:
    data = b"\x0a\x02\x08\x01"  # an empty UnixFS directory node
    v1 = CID.for_data(data, DAG_PB)
    store.put(Block(v1, data))
    assert store.get(v1.to_v0()) == data
    assert store.has(CID.for_data(data))  # the raw-codec CID of the same bytes


def test_delete_and_iterate(store: BlockStore) -> None:
    blocks = [Block.of(os.urandom(100 + i)) for i in range(20)]
    for block in blocks:
        store.put(block)
    assert set(store) == {b.cid.multihash for b in blocks}
    for block in blocks[:10]:
        store.delete(block.cid)
    assert set(store) == {b.cid.multihash for b in blocks[10:]}
    assert not store.has(blocks[0].cid)


def test_empty_block(store: BlockStore) -> None:
    block = Block.of(b"")
    store.put(block)
    assert store.get(block.cid) == b""


def test_concurrent_puts(store: BlockStore) -> None:
    blocks = [Block.of(os.urandom(4096)) for _ in range(64)]

    def worker(part: list[Block]) -> None:
        for block in part:
            store.put(block)
            store.put(block)

    threads = [threading.Thread(target=worker, args=(blocks[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for block in blocks:
        assert store.get(block.cid) == block.data


def test_file_store_batch_and_layout(tmp_path: Path) -> None:
    store = FileBlockStore(tmp_path / "blocks")
    blocks = [Block.of(os.urandom(64)) for _ in range(300)]
    with store.batch():
        for block in blocks:
            store.put(block)
    files = [p for p in (tmp_path / "blocks").rglob("*") if p.is_file()]
    assert len(files) == 300
    assert not [p for p in files if p.name.startswith(".tmp")]
    for path in files:
        assert path.parent.name == path.name[-3:-1]
    reopened = FileBlockStore(tmp_path / "blocks")
    assert reopened.get(blocks[7].cid) == blocks[7].data


def test_file_store_batches_are_per_thread(tmp_path: Path) -> None:
    store = FileBlockStore(tmp_path / "blocks")
    other = Block.of(b"put by another thread")
    with store.batch():
        store.put(Block.of(b"mine"))
        worker = threading.Thread(target=store.put, args=(other,))
        worker.start()
        worker.join()
        pending = store._pending
        assert pending is not None and [p.name for p in pending if p.is_file()] == [
            store._path(Block.of(b"mine").cid).name
        ]
    assert store._pending is None
    assert store.get(other.cid) == other.data


@pytest.mark.parametrize("sync", ["auto", "syncfs", "fsync"])
def test_file_store_batch_is_one_barrier(tmp_path: Path, sync: str) -> None:
    store = FileBlockStore(tmp_path / "blocks", sync=sync)
    blocks = [Block.of(os.urandom(4096)) for _ in range(40)]
    with store.batch():
        for block in blocks:
            store.put(block)
        with store.batch():  # nested: joins the outer batch
            store.put(Block.of(b"inner"))
        assert store.barriers == 0
    assert store.barriers == 1
    with store.batch():
        store.put(blocks[0])  # already stored: nothing written, no barrier
    assert store.barriers == 1
    store.put(Block.of(b"alone"))  # outside a batch: durable on its own
    assert store.barriers == 2
    reopened = FileBlockStore(tmp_path / "blocks", sync=sync)
    assert all(reopened.get(b.cid) == b.data for b in blocks)


def test_file_store_batch_keeps_blocks_when_the_block_raises(tmp_path: Path) -> None:
    store = FileBlockStore(tmp_path / "blocks")
    block = Block.of(b"written before the error")
    with pytest.raises(RuntimeError), store.batch():
        store.put(block)
        raise RuntimeError("boom")
    assert store.barriers == 1 and store.get(block.cid) == block.data


def test_file_store_refuses_an_unknown_sync_mode(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="sync must be one of"):
        FileBlockStore(tmp_path / "blocks", sync="sometimes")


def test_hub_block_sync_option_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from bucketfs.hub.servicers import BLOCK_SYNC_ENV, HubOptions

    assert HubOptions().block_sync in ("auto", "syncfs", "fsync")
    monkeypatch.setenv(BLOCK_SYNC_ENV, "fsync")
    assert HubOptions().block_sync == "fsync"
