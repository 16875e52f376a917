"""Helia's @helia/verified-fetch (npm, in Node) reads files and directories from our gateway as a
trustless gateway (raw blocks, every one checked against its CID) and gets the pushed bytes."""

from __future__ import annotations

import base64
import io
import random
import tarfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

import pytest
from conftest import gateway_hub
from gatewaylib import fetch, read_car
from helia_reference import verified_fetch
from test_buckets_api import Buckets

from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.testing.hubproc import HubClients, HubProcess

#: above the UnixFS sharding threshold (~256 KiB of links): the directory becomes a HAMT
SHARDED_ENTRIES = 6000


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    with gateway_hub() as proc:
        yield proc


def _push_many(b: Buckets, key: str, files: dict[str, bytes]) -> None:
    def requests() -> Iterator[pb.PushPathsRequest]:
        yield pb.PushPathsRequest(header=pb.PushPathsRequest.Header(key=key))
        for path, data in files.items():
            yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path=path, data=data))
            yield pb.PushPathsRequest(chunk=pb.PushPathsRequest.Chunk(path=path, data=b""))

    list(b.api.PushPaths(requests(), metadata=b.md()))


def _tar_files(data: bytes, prefix: str) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                name = member.name.split("/", 1)[1] if "/" in member.name else ""
                out[f"{prefix}{name}"] = handle.read()
    return out


@dataclass
class Tree:
    b: Buckets
    key: str
    root: str
    files: dict[str, bytes]
    sharded: dict[str, bytes]


@pytest.fixture(scope="module")
def tree(clients_module: HubClients) -> Tree:
    """A bucket with small, empty, multi-leaf (1 and 3 MiB) files, nested and unicode names, an
    index.html and a HAMT-sharded directory ``wide``."""
    rng = random.Random(7)
    client = clients_module.account()
    client.db = client.new_db()
    b = Buckets(client)
    key = b.create("vf").root.key
    files = {
        "empty": b"",
        "hello.txt": b"hello verified fetch\n",
        "site/index.html": b"<h1>site</h1>",
        "dir/a b.bin": rng.randbytes(300_000),
        "dir/deeper/one.bin": rng.randbytes(1 << 20),
        "dir/deeper/ü.txt": "ünïcode".encode(),
        "big.bin": rng.randbytes(3 << 20),
    }
    for path, data in files.items():
        b.push(key, path, data)
    sharded = {f"wide/{i:05d}-{'n' * 20}": str(i).encode() for i in range(SHARDED_ENTRIES)}
    _push_many(b, key, sharded)
    root = b.root(key).path.removeprefix("/ipfs/")
    return Tree(b, key, root, files, sharded)


@pytest.fixture(scope="module")
def clients_module(hub: HubProcess) -> Iterator[HubClients]:
    made = HubClients(hub)
    yield made
    made.close()


def test_verified_fetch_reads_files_and_directories(tree: Tree, hub: HubProcess) -> None:
    root, files, sharded = tree.root, tree.files, tree.sharded
    picked = ["wide/00000-" + "n" * 20, f"wide/{SHARDED_ENTRIES - 1:05d}-" + "n" * 20]
    urls = [f"ipfs://{root}/{urllib.parse.quote(p)}" for p in [*files, *picked]]
    dir_cid = tree.b.ls(tree.key, "dir").item.cid  # path + tar trips verified-fetch 8.0.4
    urls += [f"ipfs://{dir_cid}|application/x-tar"]
    gateway = f"http://{hub.gateway}"  # type: ignore[attr-defined]
    results = {r["url"]: r for r in verified_fetch(gateway, urls)}
    for path in [*files, *picked]:
        got = results[f"ipfs://{root}/{urllib.parse.quote(path)}"]
        assert got.get("status") == 200, (path, got)
        expected = files.get(path, sharded.get(path))
        assert base64.b64decode(str(got["body"])) == expected, path
    tar = results[f"ipfs://{dir_cid}|application/x-tar"]
    assert tar.get("status") == 200, tar
    in_dir = {p: d for p, d in files.items() if p.startswith("dir/")}
    assert _tar_files(base64.b64decode(str(tar["body"])), "dir/") == in_dir


def _kind(block: bytes) -> int:
    node = dagpb.decode(block)
    assert node.data is not None
    return unixfs.Data.decode(node.data).type


def test_car_through_a_sharded_directory(tree: Tree, hub: HubProcess) -> None:
    """A path through a HAMT: the root, the shards on the name's hash path, then the file; the
    entity of a sharded directory is its shards and none of its entries."""
    gw = str(hub.gateway)  # type: ignore[attr-defined]
    name = f"wide/{SHARDED_ENTRIES // 2:05d}-" + "n" * 20
    resp = fetch(gw, f"/ipfs/{tree.root}/{name}?format=car&dag-scope=block")
    _, blocks = read_car(resp.body)
    assert all(cid.verify(data) for cid, data in blocks)
    assert blocks[0][0] == CID.parse(tree.root)
    shards = blocks[1:-1]
    assert shards and all(_kind(data) == unixfs.HAMT_SHARD for _, data in shards)
    for (_, parent), (child, _) in pairwise(blocks):
        assert child in [link.cid for link in dagpb.decode(parent).links]
    assert blocks[-1][0] == CID.parse(tree.b.ls(tree.key, name).item.cid)
    wide = CID.parse(tree.b.ls(tree.key, "wide").item.cid)
    resp = fetch(gw, f"/ipfs/{wide}?format=car&dag-scope=entity")
    _, blocks = read_car(resp.body)
    got = dict(blocks)
    assert all(_kind(data) == unixfs.HAMT_SHARD for data in got.values())
    for data in got.values():
        for link in dagpb.decode(data).links:
            assert (link.cid in got) == (len(link.name) == 2)  # sub-shards in, entries out
