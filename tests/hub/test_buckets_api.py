"""The Buckets API and its bucketfs extension over real gRPC against a hub subprocess."""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from conftest import gateway_hub

from bucketfs.auth.identity import Identity
from bucketfs.ipfs.directory import empty_dir
from bucketfs.ipfs.importer import import_bytes
from bucketfs.proto import bucketfs_ext_pb2 as ext_pb
from bucketfs.proto import bucketfs_ext_pb2_grpc as ext_grpc
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.proto import bucketsd_pb2_grpc as pb_grpc
from bucketfs.proto import threads_pb2
from bucketfs.testing.hubproc import HubProcess

if TYPE_CHECKING:
    from conftest import Client, HubClients

CHUNK = 32 * 1024
READER, WRITER, ADMIN = 1, 2, 3


# -- helpers (also used by the other test_buckets_* modules) ---------------------------------


class Buckets:
    """Buckets + extension stubs acting as ``client`` in thread ``thread``."""

    def __init__(self, client: Client, thread: Any = None) -> None:
        self.client = client
        self.thread = thread if thread is not None else client.db
        self.api = pb_grpc.APIServiceStub(client.channel)
        self.ext = ext_grpc.BucketsExtensionStub(client.channel)

    def md(self) -> list[tuple[str, str]]:
        return self.client.md(self.thread)

    def create(self, name: str = "b", private: bool = False, bootstrap: str = "") -> Any:
        req = pb.CreateRequest(name=name, private=private, bootstrap_cid=bootstrap)
        return self.api.Create(req, metadata=self.md())

    def root(self, key: str) -> Any:
        return self.api.Root(pb.RootRequest(key=key), metadata=self.md()).root

    def push(
        self, key: str, path: str, data: bytes, root: str = "", mode: int = 0, mtime: int = 0
    ) -> list[Any]:
        return list(self.push_stream(key, path, _chunks(data), root=root, mode=mode, mtime=mtime))

    def push_stream(
        self, key: str, path: str, chunks: Iterator[bytes], root: str = "", **header: Any
    ) -> Iterator[Any]:
        def requests() -> Iterator[Any]:
            hdr = pb.PushPathRequest.Header(key=key, path=path, root=root, **header)
            yield pb.PushPathRequest(header=hdr)
            for chunk in chunks:
                yield pb.PushPathRequest(chunk=chunk)

        return iter(self.api.PushPath(requests(), metadata=self.md()))

    def push_paths(
        self, key: str, messages: list[tuple[str, bytes]], root: str = "", paths: tuple = ()
    ) -> list[Any]:
        def requests() -> Iterator[Any]:
            header = pb.PushPathsRequest.Header(key=key, root=root, paths=list(paths))
            yield pb.PushPathsRequest(header=header)
            for path, data in messages:
                yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path=path, data=data))

        return list(self.api.PushPaths(requests(), metadata=self.md()))

    def pull(self, key: str, path: str, offset: int = 0, length: int = 0) -> bytes:
        req = pb.PullPathRequest(key=key, path=path, offset=offset, length=length)
        return b"".join(r.chunk for r in self.api.PullPath(req, metadata=self.md()))

    def ls(self, key: str, path: str = "", limit: int = 0, after: str = "") -> Any:
        req = pb.ListPathRequest(key=key, path=path, limit=limit, after=after)
        return self.api.ListPath(req, metadata=self.md())

    def names(self, key: str, path: str = "") -> list[str]:
        return [i.name for i in self.ls(key, path).item.items]


def _chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def rpc_error(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return info.value


def failing(func: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        func()
    return info.value


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    """A hub with the HTTP gateway on a free port (overrides conftest's ``hub``)."""
    with gateway_hub() as proc:
        yield proc


@pytest.fixture
def b(alice: Client) -> Buckets:
    return Buckets(alice)


# -- create, list, root, links ----------------------------------------------------------------


def test_create_list_root_links(b: Buckets, hub: HubProcess) -> None:
    made = b.create("photos")
    root = made.root
    assert root.key.startswith("bafzbei") and len(root.key) == 59
    assert root.name == "photos" and root.path.startswith("/ipfs/bafy")
    assert root.thread == str(b.thread) and root.version == 1 and not root.link_key
    assert len(made.seed) == 32 and made.seed_cid.startswith("bafkrei")
    assert root.path_metadata[""].roles["*"] == READER
    assert root.owner and root.path_metadata[""].roles[root.owner] == ADMIN
    assert made.links.url.endswith(f"/thread/{b.thread}/buckets/{root.key}")
    assert made.links.ipns.endswith(f"/ipns/{root.key}")
    assert b.root(root.key) == root
    listed = b.api.List(pb.ListRequest(), metadata=b.md()).roots
    assert [r.key for r in listed] == [root.key]
    assert b.names(root.key) == [".textileseed"]
    assert b.pull(root.key, ".textileseed") == made.seed
    links = b.api.Links(pb.LinksRequest(key=root.key, path=""), metadata=b.md())
    assert links.url == made.links.url


def test_threaddb_find_sees_bucket_instances(b: Buckets) -> None:
    key = b.create("seen").root.key
    reply = b.client.threads.Find(
        threads_pb2.FindRequest(dbID=b.thread.bytes, collectionName="buckets", queryJSON=b"{}"),
        metadata=b.client.md(),
    )
    docs = [json.loads(i) for i in reply.instances]
    assert [d["_id"] for d in docs] == [key]
    assert docs[0]["name"] == "seen" and docs[0]["path"].startswith("/ipfs/")


def test_thread_header_required_and_unknown_bucket(b: Buckets) -> None:
    err = rpc_error(b.api.Root, pb.RootRequest(key="x"), metadata=b.client.md())
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "db required")
    err = rpc_error(b.api.Root, pb.RootRequest(key="nope"), metadata=b.md())
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "instance not found")


# -- push, pull, list -------------------------------------------------------------------------


def test_push_pull_roundtrip_with_events_and_exact_sizes(b: Buckets) -> None:
    key = b.create().root.key
    data = os.urandom(3 * 1024 * 1024 + 123)
    events = b.push(key, "docs/big.bin", data, mode=0o600, mtime=1_700_000_000_000_000_000)
    progress = [e.event.bytes for e in events[:-1]]
    assert progress and progress == sorted(progress) and progress[-1] <= len(data)
    final = events[-1].event
    expected = import_bytes(data)
    assert final.path == f"/ipfs/{expected.cid}" and final.size == str(expected.dag_size)
    assert final.root.path == b.root(key).path
    assert b.pull(key, "docs/big.bin") == data
    item = b.ls(key, "docs").item.items[0]
    assert (item.name, item.is_dir, item.size) == ("big.bin", False, expected.dag_size)
    assert item.file_size == len(data) and item.mode == 0o100600
    assert item.mtime == 1_700_000_000_000_000_000
    dirs = b.ls(key).item
    assert dirs.name == "b" and dirs.items_count == 2
    assert [(i.name, i.is_dir, i.mode) for i in dirs.items] == [
        (".textileseed", False, 0o100644),
        ("docs", True, 0o040755),
    ]


def test_range_reads(b: Buckets) -> None:
    key = b.create().root.key
    data = os.urandom(600_000)
    b.push(key, "f", data)
    for offset, length in [(0, 10), (262_140, 10), (599_999, 0), (100, 400_000), (700_000, 5)]:
        end = offset + length if length else None
        assert b.pull(key, "f", offset, length) == data[offset:end]


def test_empty_file_and_replace_dir_by_file(b: Buckets) -> None:
    key = b.create().root.key
    b.push(key, "d/x", b"1")
    b.push(key, "empty", b"")
    assert b.pull(key, "empty") == b""
    b.push(key, "d", b"now a file")
    assert b.pull(key, "d") == b"now a file"
    assert b.ls(key, "empty").item.file_size == 0


def test_list_paging(b: Buckets) -> None:
    key = b.create().root.key
    names = [f"f{i:03d}" for i in range(25)]
    b.push_paths(
        key, [(f"dir/{n}", n.encode()) for n in names] + [(f"dir/{n}", b"") for n in names]
    )
    seen: list[str] = []
    after = ""
    while True:
        page = b.ls(key, "dir", limit=10, after=after)
        seen += [i.name for i in page.item.items]
        assert page.item.items_count == 25
        if not page.truncated:
            break
        after = seen[-1]
    assert seen == names
    assert all(i.file_size == 4 for i in b.ls(key, "dir").item.items)


def test_push_paths_interleaved_saved_once(b: Buckets) -> None:
    key = b.create().root.key
    before = b.root(key)
    one, two = os.urandom(100_000), os.urandom(300_000)
    msgs = [("a/one", one[:50_000]), ("two", two[:200_000]), ("a/one", one[50_000:])]
    msgs += [("a/one", b""), ("two", two[200_000:]), ("two", b"")]
    results = b.push_paths(key, msgs, root=before.path, paths=("a/one", "two"))
    assert [r.path for r in results] == ["a/one", "two"]
    assert results[0].cid == str(import_bytes(one).cid)
    after = b.root(key)
    assert after.path == results[-1].root.path != before.path
    assert b.pull(key, "a/one") == one and b.pull(key, "two") == two


def test_push_errors(b: Buckets) -> None:
    key = b.create().root.key

    def no_header() -> Iterator[Any]:
        yield pb.PushPathRequest(chunk=b"x")

    err = rpc_error(b.api.PushPath, no_header(), metadata=b.md())
    assert (err.code(), err.details()) == (
        grpc.StatusCode.UNKNOWN,
        "push bucket path header is required",
    )
    for bad in ["../escape", "a/../../b", "//abs", "x/.textileseed"]:
        err = failing(lambda p=bad: b.push(key, p, b"x"))
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNKNOWN), bad
    err = failing(lambda: b.pull(key, "missing"))
    assert err.code() == grpc.StatusCode.UNKNOWN and "no link named" in err.details()
    b.push(key, "d/f", b"x")
    err = failing(lambda: b.pull(key, "d"))
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "node is a directory")


# -- the root check ---------------------------------------------------------------------------


def test_root_check_rejects_stale_root(b: Buckets) -> None:
    key = b.create().root.key
    base = b.root(key).path
    b.push(key, "one", b"1", root=base)
    err = failing(lambda: b.push(key, "two", b"2", root=base))
    assert (err.code(), err.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "update is non-fast-forward",
    )
    rm = pb.RemovePathRequest(key=key, path="one", root=base)
    err = rpc_error(b.api.RemovePath, rm, metadata=b.md())
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = failing(lambda: b.push_paths(key, [("x", b"")], root=base))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert b.names(key) == [".textileseed", "one"]


def test_two_racing_writers_one_wins(b: Buckets) -> None:
    key = b.create().root.key
    base = b.root(key).path
    gate = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def writer(name: str) -> None:
        def chunks() -> Iterator[bytes]:
            gate.wait()
            yield os.urandom(1_000_000)

        try:
            list(b.push_stream(key, name, chunks(), root=base))
            outcomes[name] = "ok"
        except grpc.RpcError as exc:
            outcomes[name] = exc.details() or ""

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["ok", "update is non-fast-forward"]
    winner = next(n for n, v in outcomes.items() if v == "ok")
    assert b.names(key) == [".textileseed", winner]


# -- set, move, remove ------------------------------------------------------------------------


def test_set_move_remove(b: Buckets) -> None:
    key = b.create().root.key
    empty = str(empty_dir().cid)
    b.api.SetPath(pb.SetPathRequest(key=key, path="newdir", cid=empty), metadata=b.md())
    assert b.ls(key, "newdir").item.is_dir and b.names(key, "newdir") == []
    b.push(key, "a/file", b"content")
    b.api.MovePath(
        pb.MovePathRequest(key=key, from_path="a/file", to_path="newdir"), metadata=b.md()
    )
    assert b.names(key, "newdir") == ["file"] and b.names(key, "a") == []
    b.api.MovePath(
        pb.MovePathRequest(key=key, from_path="newdir/file", to_path="renamed"), metadata=b.md()
    )
    assert b.pull(key, "renamed") == b"content"
    err = rpc_error(
        b.api.MovePath, pb.MovePathRequest(key=key, from_path="", to_path="x"), metadata=b.md()
    )
    assert err.details() == "source is root directory"
    file_cid = b.ls(key, "renamed").item.cid
    b.api.SetPath(pb.SetPathRequest(key=key, path="copy", cid=file_cid), metadata=b.md())
    assert b.pull(key, "copy") == b"content"
    reply = b.api.RemovePath(pb.RemovePathRequest(key=key, path="renamed"), metadata=b.md())
    assert reply.root.path == b.root(key).path
    assert "renamed" not in b.names(key)
    err = rpc_error(
        b.api.RemovePath, pb.RemovePathRequest(key=key, path="renamed"), metadata=b.md()
    )
    assert err.code() == grpc.StatusCode.UNKNOWN
    b.api.Remove(pb.RemoveRequest(key=key), metadata=b.md())
    err = rpc_error(b.api.Root, pb.RootRequest(key=key), metadata=b.md())
    assert err.details() == "instance not found"


def test_list_and_pull_ipfs_path(b: Buckets) -> None:
    key = b.create().root.key
    b.push(key, "d/hello.txt", b"hello ipfs")
    root = b.root(key).path
    item = b.api.ListIpfsPath(pb.ListIpfsPathRequest(path=root + "/d"), metadata=b.client.md()).item
    assert [i.name for i in item.items] == ["hello.txt"] and item.is_dir
    req = pb.PullIpfsPathRequest(path=root + "/d/hello.txt")
    data = b"".join(r.chunk for r in b.api.PullIpfsPath(req, metadata=b.client.md()))
    assert data == b"hello ipfs"


def test_filecoin_methods_unimplemented(b: Buckets) -> None:
    err = rpc_error(b.api.Archives, pb.ArchivesRequest(key="x"), metadata=b.md())
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED and "Filecoin" in err.details()


def test_bootstrap_cid(b: Buckets) -> None:
    src = b.create().root.key
    b.push(src, "x/y", b"bootstrapped")
    dir_cid = b.ls(src, "x").item.cid
    made = b.create("copy", bootstrap=dir_cid)
    assert b.names(made.root.key) == [".textileseed", "y"]
    assert b.pull(made.root.key, "y") == b"bootstrapped"
    err = failing(lambda: b.create("bad", bootstrap="notacid"))
    assert err.details().startswith("invalid bootstrap cid")


# -- extensions -------------------------------------------------------------------------------


def test_extensions(b: Buckets) -> None:
    caps = b.ext.Capabilities(ext_pb.CapabilitiesRequest(), metadata=b.md())
    assert caps.exact_sizes and caps.range_reads and caps.path_attrs and caps.symlinks
    assert caps.list_paging
    key = b.create().root.key
    b.push(key, "f", b"data")
    req = ext_pb.SetPathAttrsRequest(
        key=key, path="f", set_mode=True, mode=0o751, set_mtime=True, mtime=42
    )
    b.ext.SetPathAttrs(req, metadata=b.md())
    item = b.ls(key, "f").item
    assert (item.mode, item.mtime) == (0o100751, 42)
    root = b.root(key).path
    b.ext.Symlink(ext_pb.SymlinkRequest(key=key, path="ln", target="f", root=root), metadata=b.md())
    link = next(i for i in b.ls(key).item.items if i.name == "ln")
    assert link.symlink_target == "f" and link.mode == 0o120777 and not link.is_dir


# -- roles ------------------------------------------------------------------------------------


def test_roles_owner_writer_reader_stranger(clients: HubClients, alice: Client) -> None:
    owner = Buckets(alice)
    users = {name: clients.user(Identity.generate()) for name in ("writer", "reader", "stranger")}
    as_user = {name: Buckets(c, alice.db) for name, c in users.items()}
    keys = {name: str(Identity.generate().public_key) for name in users}
    for name, c in users.items():
        keys[name] = _subject(c)
    key = owner.create("shared", private=True).root.key
    owner.push(key, "doc.txt", b"v1")
    roles = {keys["writer"]: WRITER, keys["reader"]: READER}
    owner.api.PushPathAccessRoles(
        pb.PushPathAccessRolesRequest(key=key, path="", roles=roles), metadata=owner.md()
    )
    got = owner.api.PullPathAccessRoles(
        pb.PullPathAccessRolesRequest(key=key, path="doc.txt"), metadata=owner.md()
    )
    assert got.roles[keys["writer"]] == WRITER

    writer, reader, stranger = as_user["writer"], as_user["reader"], as_user["stranger"]
    writer.push(key, "doc.txt", b"v2")
    writer.push_paths(key, [("new.txt", b"by writer"), ("new.txt", b"")])
    attrs = ext_pb.SetPathAttrsRequest(key=key, path="new.txt", set_mode=True, mode=0o600)
    writer.ext.SetPathAttrs(attrs, metadata=writer.md())
    assert reader.ls(key, "new.txt").item.mode == 0o100600
    assert rpc_error(reader.ext.SetPathAttrs, attrs, metadata=reader.md()).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert reader.pull(key, "doc.txt") == b"v2"
    assert reader.names(key) == [".textileseed", "doc.txt", "new.txt"]
    denied = grpc.StatusCode.PERMISSION_DENIED
    assert failing(lambda: reader.push(key, "doc.txt", b"v3")).code() == denied
    assert failing(lambda: stranger.pull(key, "doc.txt")).code() == denied
    assert failing(lambda: stranger.ls(key)).code() == denied
    assert failing(lambda: stranger.root(key)).code() == denied
    assert reader.root(key).link_key  # readers see the bucket and can follow it
    req = pb.PushPathAccessRolesRequest(key=key, path="", roles={keys["stranger"]: ADMIN})
    assert rpc_error(writer.api.PushPathAccessRoles, req, metadata=writer.md()).code() == denied
    rm = pb.RemoveRequest(key=key)
    assert rpc_error(writer.api.Remove, rm, metadata=writer.md()).code() == denied
    assert owner.pull(key, "doc.txt") == b"v2"
    req = pb.PushPathAccessRolesRequest(key=key, path="", roles={"not-a-key": READER})
    assert rpc_error(owner.api.PushPathAccessRoles, req, metadata=owner.md()).code() == (
        grpc.StatusCode.INVALID_ARGUMENT
    )


def _subject(client: Client) -> str:
    from bucketfs.auth.token import parse_token_unverified

    return parse_token_unverified(client.token).subject


# -- private buckets --------------------------------------------------------------------------


def test_private_bucket_stores_ciphertext(b: Buckets, hub: HubProcess) -> None:
    made = b.create("secret", private=True)
    key = made.root.key
    assert made.root.link_key and made.root.path_metadata[""].key
    assert "*" not in made.root.path_metadata[""].roles
    marker = b"PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    small = marker * 10
    large = marker * 40_000  # several chunks
    b.push(key, "dir/small.txt", small)
    b.push(key, "dir/large.bin", large)
    assert b.pull(key, "dir/small.txt") == small and b.pull(key, "dir/large.bin") == large
    assert b.pull(key, "dir/large.bin", 1000, 5000) == large[1000:6000]
    assert b.names(key, "dir") == ["large.bin", "small.txt"]
    item = b.ls(key, "dir").item.items[0]
    assert item.file_size == len(large)
    assert b.pull(key, ".textileseed") == made.seed
    blocks = Path(hub.data_dir) / "blocks"
    for path in blocks.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert marker[:17] not in data and b"large.bin" not in data, path


# -- gateway ----------------------------------------------------------------------------------


def test_gateway(b: Buckets, hub: HubProcess) -> None:
    key = b.create().root.key
    b.push(key, "site/index.html", b"<h1>hi</h1>")
    gateway = hub.gateway  # type: ignore[attr-defined]
    links = b.api.Links(pb.LinksRequest(key=key, path="site/index.html"), metadata=b.md())
    assert links.url == f"http://{gateway}/thread/{b.thread}/buckets/{key}/site/index.html"
    for url in (links.url, links.ipns):
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == b"<h1>hi</h1>"
    root = b.root(key).path
    with urllib.request.urlopen(f"http://{gateway}{root}/site", timeout=10) as resp:
        assert resp.read() == b"<h1>hi</h1>"  # a directory serves its index.html
    with urllib.request.urlopen(f"http://{gateway}{root}", timeout=10) as resp:
        assert b"site/" in resp.read()
    req = urllib.request.Request(links.url, headers={"Range": "bytes=4-5"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 206 and resp.read() == b"hi"
    private = b.create("p", private=True).root.key
    b.push(private, "s", b"secret")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://{gateway}/ipns/{private}/s", timeout=10)
    assert info.value.code == 403
    info.value.close()


def test_cancelled_push_paths_keeps_completed_files(b: Buckets) -> None:
    key = b.create().root.key
    got_first = threading.Event()

    def requests() -> Iterator[Any]:
        yield pb.PushPathsRequest(header=pb.PushPathsRequest.Header(key=key))
        yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path="done", data=b"complete"))
        yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path="done", data=b""))
        yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path="half", data=b"partial"))
        got_first.wait(10)

    call = b.api.PushPaths(requests(), metadata=b.md())
    first = next(call)
    assert first.path == "done"
    call.cancel()
    got_first.set()
    for _ in range(100):
        if "done" in b.names(key):
            break
        threading.Event().wait(0.05)
    assert b.names(key) == [".textileseed", "done"]
    assert b.pull(key, "done") == b"complete"
