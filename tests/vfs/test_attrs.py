"""Attributes: chmod/utimens via the extension (or explicit failure), chown, sizes, xattrs,
symlinks, hard links, statfs."""

from __future__ import annotations

import os

import pytest

from bucketfs.errors import NotFound, ReadOnly, Unsupported
from bucketfs.testing.fakehub import PLAIN_TEXTILE, seed_bucket
from bucketfs.vfs.tree import XattrUnsupported

from .conftest import Env


def test_chmod_and_utimens_are_stored(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"1")])

    async def body() -> None:
        f = await env.resolve("b/f")
        await env.vfs.setattr(f.ino, mode=0o100600, mtime=1_000_000_000_123)
        fresh = env.new_vfs()
        await fresh.start()
        attr = await env.resolve("b/f", fresh)
        assert attr.mode & 0o7777 == 0o600
        assert attr.mtime == 1_000_000_000_123

    env.run(body)


def test_utimens_on_a_file_being_written_goes_with_the_push(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        parent, _ = await env.parent("b/f")
        fh, attr = await env.vfs.create(parent, "f", 0o640, os.O_WRONLY | os.O_CREAT)
        await env.vfs.write(fh, 0, b"x")
        await env.vfs.setattr(attr.ino, mtime=2_000_000_000_000)  # cp -p, tar x
        await env.vfs.release(fh)
        fresh = env.new_vfs()
        await fresh.start()
        got = await env.resolve("b/f", fresh)
        assert (got.mtime, got.mode & 0o777) == (2_000_000_000_000, 0o640)

    env.run(body)


def test_without_the_extension_chmod_fails_explicitly(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    env = Env(Path(tmp_path), PLAIN_TEXTILE)
    seed_bucket(env.hub, "b", [("f", b"1")])

    async def body() -> None:
        f = await env.resolve("b/f")
        with pytest.raises(Unsupported):  # EPERM, never accept-and-drop
            await env.vfs.setattr(f.ino, mode=0o100600)
        with pytest.raises(Unsupported):
            await env.vfs.setattr(f.ino, mtime=5)
        b = await env.resolve("b")
        with pytest.raises(Unsupported):  # EPERM: no symlinks either
            await env.vfs.symlink(b.ino, "l", "f")

    env.run(body)


def test_chown_and_hard_links_are_refused(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"1")])

    async def body() -> None:
        f = await env.resolve("b/f")
        with pytest.raises(Unsupported):  # EPERM
            await env.vfs.setattr(f.ino, uid=env.vfs.uid + 1)
        await env.vfs.setattr(f.ino, uid=env.vfs.uid, gid=env.vfs.gid)  # no change: fine
        b = await env.resolve("b")
        with pytest.raises(Unsupported):  # EPERM
            await env.vfs.link(f.ino, b.ino, "hard")

    env.run(body)


def test_symlinks(env: Env) -> None:
    root = seed_bucket(env.hub, "b", [("f", b"1")])

    async def body() -> None:
        b = await env.resolve("b")
        attr = await env.vfs.symlink(b.ino, "link", "f")
        assert await env.vfs.readlink(attr.ino) == "f"
        fresh = env.new_vfs()
        await fresh.start()
        got = await env.resolve("b/link", fresh)
        assert got.mode & 0o170000 == 0o120000 and got.size == 1  # the length of "f"
        assert await fresh.readlink(got.ino) == "f"
        f = await env.resolve("b/f")
        with pytest.raises(NotFound):
            await env.vfs.readlink(f.ino)
        await env.vfs.unlink(b.ino, "link")
        assert await env.ls("b") == ["f"]
        assert sorted(env.hub.buckets[root.key].tree.children) == [".textileseed", "f"]

    env.run(body)


def test_xattrs_are_read_only(env: Env) -> None:
    root = seed_bucket(env.hub, "b", [("f", b"hello")])

    async def body() -> None:
        f = await env.resolve("b/f")
        assert "user.ipfs.cid" in env.vfs.listxattr(f.ino)
        cid = await env.vfs.getxattr(f.ino, "user.ipfs.cid")
        assert cid == b"bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
        assert await env.vfs.getxattr(f.ino, "user.bucketfs.key") == root.key.encode()
        assert await env.vfs.getxattr(f.ino, "user.bucketfs.thread") == root.thread.encode()
        url = await env.vfs.getxattr(f.ino, "user.bucketfs.url")
        assert url is not None and url.endswith(b"/f")
        assert await env.vfs.getxattr(f.ino, "user.bucketfs.ipns") is not None
        assert await env.vfs.getxattr(f.ino, "user.bucketfs.www") is None  # ENODATA: not set
        assert await env.vfs.getxattr(f.ino, "user.other") is None
        b = await env.resolve("b")
        assert await env.vfs.getxattr(b.ino, "user.ipfs.cid") == root.cid.encode()
        with pytest.raises(XattrUnsupported):  # ENOTSUP
            env.vfs.setxattr(f.ino, "user.ipfs.cid")

    env.run(body)


def test_sizes_without_the_extension(tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    env = Env(Path(tmp_path), PLAIN_TEXTILE)
    big = os.urandom(600_000)
    seed_bucket(env.hub, "b", [("small", b"x" * 1000), ("big", big)])

    async def body() -> None:
        assert (await env.resolve("b/small")).size == 1000  # one raw block: exact
        entry = (await env.vfs.listing(env.vfs.inodes.get((await env.resolve("b")).ino)))["big"]
        assert entry.file_size is None and entry.dag_size > len(big)  # what the hub says
        assert (await env.resolve("b/big")).size == len(big)  # found again from the DAG size
        assert await env.read("b/big") == big
        assert (await env.vfs.getattr((await env.resolve("b/big")).ino)).size == len(big)

    env.run(body)


def test_read_only_mount_refuses_changes(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"1")])

    async def body() -> None:
        ro = env.new_vfs(read_only=True)
        await ro.start()
        f = await env.resolve("b/f", ro)
        b = await env.resolve("b", ro)
        for attempt in (
            ro.open(f.ino, os.O_WRONLY),
            ro.create(b.ino, "g", 0o644, os.O_CREAT | os.O_WRONLY),
            ro.mkdir(b.ino, "d", 0o755),
            ro.unlink(b.ino, "f"),
            ro.rename(b.ino, "f", b.ino, "g"),
            ro.setattr(f.ino, size=0),
            ro.symlink(b.ino, "l", "f"),
        ):
            with pytest.raises(ReadOnly):  # EROFS
                await attempt
        assert await env.read("b/f", ro) == b"1"
        assert ro.statfs().name_max == 255

    env.run(body)


def test_rewriting_a_file_keeps_its_mode(env: Env) -> None:
    seed_bucket(env.hub, "b", [("script", b"#!/bin/sh\n")])

    async def body() -> None:
        f = await env.resolve("b/script")
        await env.vfs.setattr(f.ino, mode=0o100755)
        fh = await env.vfs.open(f.ino, os.O_WRONLY | os.O_TRUNC)
        await env.vfs.write(fh, 0, b"#!/bin/sh\necho hi\n")
        await env.vfs.release(fh)
        fresh = env.new_vfs()
        await fresh.start()
        assert (await env.resolve("b/script", fresh)).mode & 0o777 == 0o755

    env.run(body)
