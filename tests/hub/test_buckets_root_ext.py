"""Extensions that save round trips: the root check and returned root of SetPath/MovePath, and
per-file mode/mtime in the PushPaths header (one bucket save for files and attributes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import Client
from test_buckets_api import Buckets, failing, rpc_error

from bucketfs.auth.threadid import ThreadID
from bucketfs.errors import Conflict, InvalidArgument
from bucketfs.hub.blocks import MemoryBlockStore
from bucketfs.hub.buckets.attrs import AttrStore
from bucketfs.hub.buckets.model import COLLECTION
from bucketfs.hub.buckets.mutations import Buckets as BucketLogic
from bucketfs.hub.buckets.records import BucketRecords
from bucketfs.hub.buckets.service import Ctx
from bucketfs.hub.store import open_store
from bucketfs.hub.threaddb import Engine
from bucketfs.hub.threaddb.listen import ListenFilter
from bucketfs.ipfs.directory import empty_dir
from bucketfs.proto import bucketfs_ext_pb2 as ext_pb
from bucketfs.proto import bucketsd_pb2 as pb

EMPTY = str(empty_dir().cid)
STALE = ("update is non-fast-forward", grpc.StatusCode.FAILED_PRECONDITION)


@pytest.fixture
def b(alice: Client) -> Buckets:
    return Buckets(alice)


def push_paths(
    b: Buckets,
    key: str,
    files: dict[str, bytes],
    modes: list[int] | None = None,
    mtimes: list[int] | None = None,
) -> list[Any]:
    def requests() -> Iterator[Any]:
        header = pb.PushPathsRequest.Header(
            key=key, paths=list(files), modes=modes or [], mtimes=mtimes or []
        )
        yield pb.PushPathsRequest(header=header)
        for path, data in files.items():
            yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path=path, data=data))
            yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path=path, data=b""))

    return list(b.api.PushPaths(requests(), metadata=b.md()))


def test_set_path_checks_and_returns_the_root(b: Buckets) -> None:
    key = b.create().root.key
    base = b.root(key).path
    reply = b.api.SetPath(
        pb.SetPathRequest(key=key, path="d", cid=EMPTY, root=base), metadata=b.md()
    )
    after = b.root(key)
    assert reply.root.path == after.path != base
    assert reply.root.updated_at == after.updated_at and reply.root.key == key
    assert reply.pinned > 0
    err = rpc_error(
        b.api.SetPath, pb.SetPathRequest(key=key, path="e", cid=EMPTY, root=base), metadata=b.md()
    )
    assert (err.details(), err.code()) == STALE
    assert "e" not in b.names(key)
    # no root = no check, as before
    reply = b.api.SetPath(pb.SetPathRequest(key=key, path="e", cid=EMPTY), metadata=b.md())
    assert reply.root.path == b.root(key).path and "e" in b.names(key)


def test_move_path_checks_and_returns_the_root(b: Buckets) -> None:
    key = b.create().root.key
    b.push(key, "a", b"x")
    base = b.root(key).path
    req = pb.MovePathRequest(key=key, from_path="a", to_path="b", root=base)
    reply = b.api.MovePath(req, metadata=b.md())
    assert reply.root.path == b.root(key).path != base
    assert b.names(key) == [".textileseed", "b"]
    req = pb.MovePathRequest(key=key, from_path="b", to_path="c", root=base)
    err = rpc_error(b.api.MovePath, req, metadata=b.md())
    assert (err.details(), err.code()) == STALE
    assert b.names(key) == [".textileseed", "b"]
    # a move onto itself changes nothing but still answers with the (current) root
    current = b.root(key).path
    req = pb.MovePathRequest(key=key, from_path="b", to_path="b", root=current)
    assert b.api.MovePath(req, metadata=b.md()).root.path == current
    req = pb.MovePathRequest(key=key, from_path="b", to_path="b", root=base)
    assert rpc_error(b.api.MovePath, req, metadata=b.md()).code() == STALE[1]


def test_push_paths_attrs_visible_in_list_path(b: Buckets) -> None:
    caps = b.ext.Capabilities(ext_pb.CapabilitiesRequest(), metadata=b.md())
    assert caps.push_paths_attrs
    key = b.create().root.key
    files = {"d/one": b"1", "d/two": b"22", "d/three": b"333"}
    push_paths(b, key, files, modes=[0o100600, 0, 0o100755], mtimes=[11, 22, 0])
    items = {i.name: i for i in b.ls(key, "d").item.items}
    assert (items["one"].mode, items["one"].mtime) == (0o100600, 11)
    assert (items["two"].mode, items["two"].mtime) == (0o100644, 22)
    assert items["three"].mode == 0o100755 and items["three"].mtime > 10**18
    # only modes: mtimes default to now; a later push without attrs keeps the mode, as PushPath
    push_paths(b, key, {"d/one": b"again"}, modes=[0o100640])
    assert b.ls(key, "d/one").item.mode == 0o100640
    push_paths(b, key, {"d/one": b"plain"})
    assert b.ls(key, "d/one").item.mode == 0o100640


@pytest.mark.parametrize(("modes", "mtimes"), [([0o644], []), ([], [1, 2, 3]), ([1, 2], [1])])
def test_push_paths_attr_lists_must_match_paths(
    b: Buckets, modes: list[int], mtimes: list[int]
) -> None:
    key = b.create().root.key
    before = b.root(key).path
    err = failing(lambda: push_paths(b, key, {"a": b"1", "b": b"2"}, modes, mtimes))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PushPaths header" in err.details()
    assert b.root(key).path == before


def bucket_logic(tmp_path: Path) -> tuple[Engine, ThreadID, BucketLogic, Ctx]:
    """The bucket logic over an in-memory ThreadDB with one thread, without a server."""
    engine = Engine(open_store(":memory:"))
    thread = ThreadID.new()
    engine.new_db(thread.bytes, name="t", owner="", api_key="")
    logic = BucketLogic(
        BucketRecords(engine), MemoryBlockStore(), AttrStore(tmp_path / "attrs.sqlite")
    )
    return engine, thread, logic, Ctx(thread=str(thread))


def test_push_paths_with_attrs_saves_the_bucket_once(tmp_path: Path) -> None:
    engine, thread, logic, ctx = bucket_logic(tmp_path)
    key = logic.create(ctx, "b").bucket.key
    names = [f"f{i}" for i in range(20)]
    messages = [(n, n.encode()) for n in names] + [(n, b"") for n in names]
    with engine.listen(thread.bytes, [ListenFilter(collection=COLLECTION)]) as listener:
        pushed = list(
            logic.push_paths(
                ctx, key, messages, paths=names, modes=[0o100600] * 20, mtimes=range(1, 21)
            )
        )
        events = []
        while (event := listener.get(timeout=0.2)) is not None:
            events.append(event)
    assert len(pushed) == 20
    assert len(events) == 1 and events[0].instance_id == key
    assert json.loads(events[0].instance)["path"] == pushed[-1].bucket.path
    listing = logic.list_path(ctx, key, "")
    got = {i.name: (i.mode, i.mtime) for i in listing.item.items if i.name in names}
    assert got == {n: (0o100600, i + 1) for i, n in enumerate(names)}


def test_logic_refuses_stale_roots_and_bad_lists(tmp_path: Path) -> None:
    _, _, logic, ctx = bucket_logic(tmp_path)
    made = logic.create(ctx, "b").bucket
    bucket, _ = logic.set_path(ctx, made.key, "d", EMPTY, root=made.path)
    assert bucket.path == logic.root(ctx, made.key).path
    with pytest.raises(Conflict):
        logic.set_path(ctx, made.key, "e", EMPTY, root=made.path)
    with pytest.raises(Conflict):
        logic.move_path(ctx, made.key, "d", "e", root=made.path)
    moved = logic.move_path(ctx, made.key, "d", "e", root=bucket.path)
    assert moved.path == logic.root(ctx, made.key).path != bucket.path
    with pytest.raises(InvalidArgument):
        list(logic.push_paths(ctx, made.key, [], paths=["a"], mtimes=[1, 2]))


def test_push_path_check_forgives_a_moved_root_while_the_path_is_unchanged(b: Buckets) -> None:
    """PushPath ``path_check``/``path_cid``: the push is saved when its path holds what the
    client expects, whatever the root (``rebased`` says the root had moved on); a changed path
    is refused, also when the root sent is current."""
    key = b.create().root.key
    first = b.push(key, "mine", b"v1")[-1].event
    b.push(key, "theirs", b"x")  # another client moves the root on
    cid_v1 = first.path.removeprefix("/ipfs/")
    stale = first.root.path
    ok = b.push_stream(key, "mine", iter([b"v2"]), root=stale, path_check=True, path_cid=cid_v1)
    event = list(ok)[-1].event
    assert event.rebased and event.root.path != stale
    fresh = b.push_stream(key, "new", iter([b"n"]), root=stale, path_check=True, path_cid="")
    assert list(fresh)[-1].event.rebased  # a new name: nothing expected there
    current = b.api.Root(pb.RootRequest(key=key), metadata=b.md()).root
    v2 = current.path  # the path check holds even when the root is current
    with pytest.raises(grpc.RpcError) as err:
        list(b.push_stream(key, "mine", iter([b"v3"]), root=v2, path_check=True, path_cid="x"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        list(
            b.push_stream(key, "mine", iter([b"v4"]), root=stale, path_check=True, path_cid=cid_v1)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    caps = b.ext.Capabilities(ext_pb.CapabilitiesRequest(), metadata=b.md())
    assert caps.path_check
