"""rename(2): files and directories within a bucket, replacing targets, EXDEV across buckets."""

from __future__ import annotations

import os

import pytest

from bucketfs.errors import (
    AlreadyExists,
    CrossDevice,
    InvalidArgument,
    IsADirectory,
    NotADirectory,
    NotEmpty,
    Unsupported,
)
from bucketfs.testing.fakehub import seed_bucket
from bucketfs.vfs.nodes import BUCKETS_INO
from bucketfs.vfs.tree import RENAME_EXCHANGE, RENAME_NOREPLACE

from .conftest import Env


async def mv(env: Env, src: str, dst: str, flags: int = 0) -> None:
    sp, sn = await env.parent(src)
    dp, dn = await env.parent(dst)
    await env.vfs.rename(sp, sn, dp, dn, flags)


def test_rename_file_and_directory(env: Env) -> None:
    seed_bucket(env.hub, "b", [("d/x", b"1"), ("d/sub/y", b"2"), ("f", b"3")])

    async def body() -> None:
        await mv(env, "b/f", "b/d/g")
        assert await env.read("b/d/g") == b"3"
        inode = (await env.resolve("b/d")).ino
        await mv(env, "b/d", "b/e")
        assert (await env.resolve("b/e")).ino == inode  # same inode, new name
        assert await env.ls("b") == ["e"]
        assert await env.read("b/e/sub/y") == b"2"
        assert env.api_file("b", "e/g") == b"3"

    env.run(body)


def test_rename_over_existing_file_is_an_editor_save(env: Env) -> None:
    seed_bucket(env.hub, "b", [("doc", b"old")])

    async def body() -> None:
        await env.write("b/.doc.swp", b"new content")
        await mv(env, "b/.doc.swp", "b/doc")
        assert await env.ls("b") == ["doc"]
        assert env.api_file("b", "doc") == b"new content"

    env.run(body)


def test_rename_of_a_file_still_open_for_writing_pushes_first(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        parent, _ = await env.parent("b/tmp")
        fh, _ = await env.vfs.create(parent, "tmp", 0o644, os.O_WRONLY | os.O_CREAT)
        await env.vfs.write(fh, 0, b"abc")
        await mv(env, "b/tmp", "b/final")
        await env.vfs.release(fh)
        assert await env.ls("b") == ["final"]
        assert env.api_file("b", "final") == b"abc"

    env.run(body)


def test_rename_targets_follow_posix(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"1"), ("g", b"2"), ("full/x", b"3"), ("d2/z", b"4")])

    async def body() -> None:
        await env.mkdir("b/empty")
        with pytest.raises(IsADirectory):  # EISDIR: file onto a directory
            await mv(env, "b/f", "b/empty")
        with pytest.raises(NotADirectory):  # ENOTDIR: directory onto a file
            await mv(env, "b/full", "b/f")
        with pytest.raises(NotEmpty):  # ENOTEMPTY
            await mv(env, "b/d2", "b/full")
        with pytest.raises(AlreadyExists):  # EEXIST with RENAME_NOREPLACE
            await mv(env, "b/f", "b/g", RENAME_NOREPLACE)
        with pytest.raises(InvalidArgument):  # EINVAL: RENAME_EXCHANGE
            await mv(env, "b/f", "b/g", RENAME_EXCHANGE)
        await mv(env, "b/d2", "b/empty")  # replaces the empty directory
        assert sorted(await env.ls("b")) == ["empty", "f", "full", "g"]
        assert await env.read("b/empty/z") == b"4"

    env.run(body)


def test_rename_across_buckets_is_exdev(env: Env) -> None:
    seed_bucket(env.hub, "a", [("f", b"1")])
    seed_bucket(env.hub, "b")

    async def body() -> None:
        with pytest.raises(CrossDevice):  # EXDEV: mv then copies
            await mv(env, "a/f", "b/f")
        with pytest.raises(Unsupported):  # EPERM: buckets cannot be renamed
            await env.vfs.rename(BUCKETS_INO, "a", BUCKETS_INO, "c")

    env.run(body)
