"""Helia's @helia/verified-fetch (npm, in Node) reads files and directories from our gateway as a
trustless gateway (raw blocks, every one checked against its CID) and gets the pushed bytes."""

from __future__ import annotations

import base64
import io
import random
import tarfile
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from helia_reference import verified_fetch
from test_buckets_api import Buckets

from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.testing.hubproc import HubProcess, free_tcp_port

if TYPE_CHECKING:
    from conftest import Client

#: above the UnixFS sharding threshold (~256 KiB of links): the directory becomes a HAMT
SHARDED_ENTRIES = 6000


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    gateway = f"127.0.0.1:{free_tcp_port()}"
    with HubProcess(extra_args=("--gateway", gateway)) as proc:
        proc.gateway = gateway  # type: ignore[attr-defined]
        yield proc
        log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]


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


def test_verified_fetch_reads_files_and_directories(alice: Client, hub: HubProcess) -> None:
    rng = random.Random(7)
    b = Buckets(alice)
    key = b.create("vf").root.key
    files = {
        "empty": b"",
        "hello.txt": b"hello verified fetch\n",
        "site/index.html": b"<h1>site</h1>",
        "dir/a b.bin": rng.randbytes(300_000),
        "dir/deeper/one.bin": rng.randbytes(1 << 20),
        "dir/deeper/ü.txt": "ünïcode".encode(),
    }
    b.push(key, "big.bin", big := rng.randbytes(3 << 20))
    files["big.bin"] = big
    for path, data in files.items():
        if path != "big.bin":
            b.push(key, path, data)
    sharded = {f"wide/{i:05d}-{'n' * 20}": str(i).encode() for i in range(SHARDED_ENTRIES)}
    _push_many(b, key, sharded)
    root = b.root(key).path.removeprefix("/ipfs/")
    picked = ["wide/00000-" + "n" * 20, f"wide/{SHARDED_ENTRIES - 1:05d}-" + "n" * 20]
    urls = [f"ipfs://{root}/{urllib.parse.quote(p)}" for p in [*files, *picked]]
    dir_cid = b.ls(key, "dir").item.cid  # a path + tar trips verified-fetch 8.0.4: use the CID
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
