"""``bucketfs hub fsck`` / ``bucketfs hub gc`` on a real hub's data directory, and the log line a
corrupt block read at run time leaves (issue 13 part 5).

Buckets are made through real gRPC; the hub is then stopped, the data damaged on disk (a flipped
byte in a block file, a deleted block, a deleted root block), and the commands run as the CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from test_buckets_api import Buckets, rpc_error

from bucketfs.hub.blocks import FileBlockStore
from bucketfs.ipfs import dagpb
from bucketfs.ipfs.cid import CID
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.testing.hubproc import HUB_CLI, HubClients, HubProcess


def run_cli(hub: HubProcess, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*HUB_CLI, *args, "--data", str(hub.data_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, env=hub.env, timeout=120)


def block_file(hub: HubProcess, cid: str) -> Path:
    return FileBlockStore(hub.data_dir / "blocks")._path(CID.parse(cid))


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def made() -> Iterator[dict[str, Any]]:
    """A stopped hub with a public and a private bucket holding a few files each."""
    with HubProcess() as hub:
        clients = HubClients(hub)
        b = Buckets(clients.account())
        b.thread = b.client.new_db()
        files = {f"d/f{i}.txt": os.urandom(1000 + i) for i in range(4)}
        files["big.bin"] = os.urandom(700_000)  # several chunks
        keys = {}
        for name, private in (("pub", False), ("priv", True)):
            key = b.create(name, private=private).root.key
            for path, data in files.items():
                b.push(key, path, data)
            keys[name] = key
        cids = {
            (name, path): b.ls(key, path).item.cid for name, key in keys.items() for path in files
        }
        roots = {name: b.root(key).path.removeprefix("/ipfs/") for name, key in keys.items()}
        dirs = {name: b.ls(key, "d").item.cid for name, key in keys.items()}
        hub.stop()
        yield {
            "hub": hub,
            "b": b,
            "keys": keys,
            "files": files,
            "cids": cids,
            "roots": roots,
            "dirs": dirs,
        }
        clients.close()


def test_clean_store_is_clean(made: dict[str, Any]) -> None:
    out = run_cli(made["hub"], "fsck")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 problems" in out.stdout and "clean" in out.stdout


def test_flipped_byte_missing_block_and_dangling_root_found_then_repaired(
    made: dict[str, Any],
) -> None:
    hub, keys, cids = made["hub"], made["keys"], made["cids"]
    flip_byte(block_file(hub, cids[("pub", "d/f0.txt")]))
    block_file(hub, cids[("priv", "d/f1.txt")]).unlink()
    block_file(hub, made["roots"]["priv"]).unlink()  # the private bucket's root: dangling
    flip_byte(block_file(hub, cids[("pub", "d/f2.txt")]))  # twice damaged: stays one path

    out = run_cli(hub, "fsck")
    assert out.returncode == 4, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    corrupt = [ln for ln in lines if cids[("pub", "d/f0.txt")] in ln]
    assert corrupt and "corrupt block" in corrupt[0] and "'d/f0.txt'" in corrupt[0]
    assert keys["pub"] in corrupt[0]
    assert any("dangling-root" in ln and keys["priv"] in ln for ln in lines), out.stdout
    assert "DAMAGED" in lines[-1]

    fixed = run_cli(hub, "fsck", "--repair")
    assert fixed.returncode == 3, fixed.stdout + fixed.stderr
    assert "removed 'd/f0.txt' from the bucket, deleted the corrupt block" in fixed.stdout
    assert "removed the bucket (its root cannot be read)" in fixed.stdout
    again = run_cli(hub, "fsck")
    assert again.returncode == 0, again.stdout

    hub.start()
    b = made["b"]
    assert b.names(keys["pub"], "d") == ["f1.txt", "f3.txt"]
    assert b.pull(keys["pub"], "big.bin") == made["files"]["big.bin"]
    assert [r.key for r in b.api.List(pb.ListRequest(), metadata=b.md()).roots] == [keys["pub"]]
    hub.stop()


def test_missing_leaf_of_a_large_file_names_the_file(made: dict[str, Any]) -> None:
    hub, cids = made["hub"], made["cids"]
    store = FileBlockStore(hub.data_dir / "blocks")
    node = dagpb.decode(store.get(CID.parse(cids[("pub", "big.bin")])))
    store._path(node.links[1].cid).unlink()
    out = run_cli(hub, "fsck")
    assert out.returncode == 4
    hits = [ln for ln in out.stdout.splitlines() if str(node.links[1].cid) in ln]
    assert hits and "missing block" in hits[0] and "'big.bin'" in hits[0], out.stdout


def test_fsck_and_gc_refuse_a_running_hub(made: dict[str, Any]) -> None:
    hub = made["hub"]
    hub.start()
    try:
        for cmd in ("fsck", "gc"):
            out = run_cli(hub, cmd)
            assert out.returncode == 1 and "already running" in out.stderr, out.stderr
    finally:
        hub.stop()


def test_gc_removes_unreferenced_blocks_and_keeps_referenced_ones(made: dict[str, Any]) -> None:
    hub, b, keys, files = made["hub"], made["b"], made["keys"], made["files"]
    hub.start()
    replaced = b.ls(keys["pub"], "big.bin").item.cid
    b.push(keys["pub"], "big.bin", b"small now")
    hub.stop()
    assert block_file(hub, replaced).exists()
    out = run_cli(hub, "gc")
    assert out.returncode == 0, out.stderr
    deleted = int(out.stdout.split("deleted ")[1].split()[0])
    assert deleted >= 3, out.stdout  # the old big file's root and leaves (and old dir nodes)
    assert not block_file(hub, replaced).exists()
    assert "deleted 0 blocks" in run_cli(hub, "gc").stdout
    assert run_cli(hub, "fsck").returncode == 0
    hub.start()
    for name, key in keys.items():
        for path, data in files.items():
            want = b"small now" if (name, path) == ("pub", "big.bin") else data
            assert b.pull(key, path) == want
    hub.stop()


def test_gc_stops_without_deleting_when_a_directory_block_is_corrupt(
    made: dict[str, Any],
) -> None:
    hub = made["hub"]
    flip_byte(block_file(hub, made["roots"]["pub"]))
    before = sorted(p.name for p in (hub.data_dir / "blocks").rglob("*") if p.is_file())
    out = run_cli(hub, "gc")
    assert out.returncode == 1 and "nothing was deleted" in out.stderr, out.stderr
    after = sorted(p.name for p in (hub.data_dir / "blocks").rglob("*") if p.is_file())
    assert before == after


def test_corrupt_block_read_at_run_time_is_logged_with_cid_and_path(
    made: dict[str, Any],
) -> None:
    hub, b, keys, cids = made["hub"], made["b"], made["keys"], made["cids"]
    for name in ("pub", "priv"):
        flip_byte(block_file(hub, cids[(name, "d/f3.txt")]))
    hub.start()
    try:
        for name in ("pub", "priv"):
            err = rpc_error(b.pull, keys[name], "d/f3.txt")
            assert err.code() != grpc.StatusCode.OK
            cid = cids[(name, "d/f3.txt")]
            lines = [ln for ln in hub.log_text().splitlines() if "corrupt block" in ln]
            mine = [ln for ln in lines if keys[name] in ln]
            assert mine, hub.log_text()[-2000:]
            assert " ERROR " in mine[0] and "'d/f3.txt'" in mine[0] and cid in mine[0], mine
    finally:
        hub.stop()


def test_corrupt_directory_block_met_by_a_listing_is_logged(made: dict[str, Any]) -> None:
    hub, b, keys = made["hub"], made["b"], made["keys"]
    for name in ("pub", "priv"):
        flip_byte(block_file(hub, made["dirs"][name]))
    hub.start()
    try:
        for name in ("pub", "priv"):
            assert rpc_error(b.ls, keys[name], "d").code() != grpc.StatusCode.OK
            assert rpc_error(b.pull, keys[name], "d/f0.txt").code() != grpc.StatusCode.OK
            lines = [ln for ln in hub.log_text().splitlines() if "corrupt block" in ln]
            mine = [ln for ln in lines if keys[name] in ln and made["dirs"][name] in ln]
            assert any("path 'd'" in ln for ln in mine), lines
            assert any("path 'd/f0.txt'" in ln for ln in mine), lines
    finally:
        hub.stop()
