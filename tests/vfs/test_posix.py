"""POSIX attribute behaviour the vfs keeps itself: name length, file size limit, link counts,
ctime, and directory times when entries change (each failed on 982b69d)."""

from __future__ import annotations

import os
import stat

import pytest
import trio

from bucketfs.errors import FileTooLarge, NameTooLong

from .conftest import Env

LONG = "x" * 256


@pytest.fixture
def bucket(env: Env) -> Env:
    env.run(lambda: env.mkdir("b"))
    return env


def test_names_over_255_bytes_are_refused_everywhere(bucket: Env) -> None:
    env = bucket

    async def body() -> None:
        parent = (await env.resolve("b")).ino
        with pytest.raises(NameTooLong):
            await env.vfs.lookup(parent, LONG)
        with pytest.raises(NameTooLong):
            await env.vfs.create(parent, LONG, 0o644, os.O_WRONLY | os.O_CREAT)
        with pytest.raises(NameTooLong):
            await env.vfs.mkdir(parent, LONG, 0o755)
        await env.write("b/f", b"x")
        with pytest.raises(NameTooLong):
            await env.vfs.rename(parent, "f", parent, LONG, 0)
        ok = "é" * 127  # 254 bytes: allowed
        await env.write(f"b/{ok}", b"y")
        assert await env.read(f"b/{ok}") == b"y"

    env.run(body)


def test_a_size_past_the_limit_is_efbig_not_eio(bucket: Env) -> None:
    env = bucket

    async def body() -> None:
        await env.write("b/f", b"data")
        ino = (await env.resolve("b/f")).ino
        with pytest.raises(FileTooLarge):
            await env.vfs.setattr(ino, size=999_999_999_999_999)
        fh = await env.vfs.open(ino, os.O_RDWR)
        with pytest.raises(FileTooLarge):
            await env.vfs.write(fh, 999_999_999_999_999, b"z")
        await env.vfs.release(fh)
        assert await env.read("b/f") == b"data"

    env.run(body)


def test_link_counts_of_an_unlinked_open_file_and_of_a_directory(bucket: Env) -> None:
    env = bucket

    async def body() -> None:
        parent = (await env.resolve("b")).ino
        await env.mkdir("b/d1")
        await env.mkdir("b/d2")
        await env.write("b/f", b"x")
        assert (await env.vfs.getattr(parent)).nlink == 4  # ., .. and two subdirectories
        ino = (await env.resolve("b/f")).ino
        fh = await env.vfs.open(ino, os.O_RDONLY)
        assert (await env.vfs.getattr(ino)).nlink == 1
        await env.vfs.unlink(parent, "f")
        assert (await env.vfs.getattr(ino)).nlink == 0
        await env.vfs.release(fh)

    env.run(body)


def test_ctime_follows_chmod_truncate_and_writes(bucket: Env) -> None:
    env = bucket

    async def body() -> None:
        await env.write("b/f", b"data")
        ino = (await env.resolve("b/f")).ino
        last = (await env.vfs.getattr(ino)).ctime
        for change in ("chmod", "truncate", "ftruncate", "write", "utimens"):
            await trio.sleep(0.002)
            if change == "chmod":
                a = await env.vfs.setattr(ino, mode=stat.S_IFREG | 0o600)
            elif change == "truncate":
                a = await env.vfs.setattr(ino, size=2)
            elif change == "utimens":
                a = await env.vfs.setattr(ino, mtime=1_000_000_000)
                assert a.mtime == 1_000_000_000
            else:
                fh = await env.vfs.open(ino, os.O_RDWR)
                if change == "ftruncate":
                    await env.vfs.setattr(ino, fh=fh, size=1)
                else:
                    await env.vfs.write(fh, 0, b"q")
                a = await env.vfs.getattr(ino)
                await env.vfs.release(fh)
            assert a.ctime > last, change
            last = a.ctime

    env.run(body)


def test_a_directory_mtime_and_ctime_change_with_its_entries(bucket: Env) -> None:
    env = bucket

    async def body() -> None:
        parent = (await env.resolve("b")).ino
        steps = [
            ("create", lambda: env.write("b/f", b"x")),
            ("mkdir", lambda: env.mkdir("b/d")),
            ("rename", lambda: env.vfs.rename(parent, "f", parent, "g", 0)),
            ("symlink", lambda: env.vfs.symlink(parent, "l", "g")),
            ("unlink", lambda: env.vfs.unlink(parent, "g")),
            ("rmdir", lambda: env.vfs.rmdir(parent, "d")),
        ]
        before = await env.vfs.getattr(parent)
        for name, step in steps:
            await trio.sleep(0.002)
            await step()
            after = await env.vfs.getattr(parent)
            assert after.mtime > before.mtime and after.ctime > before.ctime, name
            before = after

    env.run(body)


def test_the_inode_table_lets_go_of_what_the_kernel_forgot(bucket: Env) -> None:
    """Nodes leave the table once the kernel forgot them (5,004 stayed on 982b69d); a file
    still open, or staged for a retried push, stays."""
    env = bucket

    async def body() -> None:
        await env.mkdir("b/d")
        for i in range(300):
            await env.write(f"b/d/f{i}", b"x")
        d = await env.resolve("b/d")
        before = len(env.vfs.inodes)
        entries = await env.vfs.readdir(d.ino)
        for _, a in entries:
            env.vfs.remember(a.ino)
        opened = entries[0][1].ino
        fh = await env.vfs.open(opened, os.O_RDWR)
        for _, a in entries:  # the kernel forgets what it was told, lookups and listing alike
            node = env.vfs.inodes.get(a.ino)
            env.vfs.forget(a.ino, node.lookups)
        assert len(env.vfs.inodes) <= before - 299 + 1
        assert env.vfs.inodes.get_or_none(opened) is not None  # still open
        await env.vfs.write(fh, 0, b"y")
        await env.vfs.release(fh)
        assert await env.read(f"b/d/{entries[0][0]}") == b"y"
        assert len(await env.ls("b/d")) == 300  # and every name is found again

    env.run(body)


def test_a_directory_time_set_after_its_entries_changed_is_kept(bucket: Env) -> None:
    env = bucket  # tar and rsync set a directory's time after filling it

    async def body() -> None:
        d = await env.mkdir("b/d")
        await env.write("b/d/f", b"x")
        await env.vfs.setattr(d.ino, mtime=1_000_000_000)
        assert (await env.vfs.getattr(d.ino)).mtime == 1_000_000_000

    env.run(body)


def test_access_times_and_o_rdonly_o_creat(bucket: Env) -> None:
    """``utimensat`` of the access time is kept (by the mount), past 2038 too; an
    ``O_RDONLY | O_CREAT`` open creates the file."""
    env = bucket

    async def body() -> None:
        parent = (await env.resolve("b")).ino
        fh, attr = await env.vfs.create(parent, "ro", 0o644, os.O_RDONLY | os.O_CREAT)
        await env.vfs.release(fh)
        assert (await env.resolve("b/ro")).size == 0 and env.api_file("b", "ro") == b""
        late = 4_102_444_800 * 10**9  # 2100-01-01
        a = await env.vfs.setattr(attr.ino, atime=late, mtime=late + 1)
        assert (a.atime, a.mtime) == (late, late + 1)
        assert (await env.vfs.getattr(attr.ino)).atime == late

    env.run(body)
