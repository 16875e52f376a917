"""File content: create, write at offsets, read-modify-write, truncate, close-to-open, unlink."""

from __future__ import annotations

import errno
import os

import pytest

from bucketfs.errors import AlreadyExists, IsADirectory, NotFound, Unavailable
from bucketfs.testing.fakehub import seed_bucket

from .conftest import Env


def test_close_means_in_the_hub(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        parent, _ = await env.parent("b/f")
        fh, _ = await env.vfs.create(parent, "f", 0o600, os.O_WRONLY | os.O_CREAT)
        await env.vfs.write(fh, 0, b"hello ")
        await env.vfs.write(fh, 6, b"world")
        assert await env.ls("b") == ["f"]  # visible here before the push
        assert env.hub.calls["push_path"] == 0
        await env.vfs.flush(fh)  # close(2)
        assert env.api_file("b", "f") == b"hello world"
        await env.vfs.release(fh)
        assert env.hub.calls["push_path"] == 1  # nothing left to push at release
        assert (await env.resolve("b/f")).mode & 0o777 == 0o600

    env.run(body)


def test_empty_file_is_created_on_close(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await env.write("b/empty", b"")
        assert env.api_file("b", "empty") == b""
        assert (await env.resolve("b/empty")).size == 0

    env.run(body)


def test_write_at_offsets_of_an_existing_file(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"0123456789")])

    async def body() -> None:
        attr = await env.resolve("b/f")
        fh = await env.vfs.open(attr.ino, os.O_RDWR)
        await env.vfs.write(fh, 3, b"abc")
        await env.vfs.write(fh, 12, b"Z")  # beyond the end: a hole of zeros
        assert await env.vfs.read(fh, 0, 100) == b"012abc6789\0\0Z"
        await env.vfs.release(fh)
        assert env.api_file("b", "f") == b"012abc6789\0\0Z"
        fresh = env.new_vfs()
        await fresh.start()
        assert await env.read("b/f", fresh) == b"012abc6789\0\0Z"

    env.run(body)


def test_open_with_trunc_and_truncate(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"0123456789"), ("g", b"abcdef")])

    async def body() -> None:
        attr = await env.resolve("b/f")
        await env.vfs.setattr(attr.ino, size=4)  # truncate(2)
        assert env.api_file("b", "f") == b"0123"
        await env.vfs.setattr(attr.ino, size=6)
        assert env.api_file("b", "f") == b"0123\0\0"
        g = await env.resolve("b/g")
        fh = await env.vfs.open(g.ino, os.O_WRONLY | os.O_TRUNC)
        assert (await env.vfs.getattr(g.ino)).size == 0
        await env.vfs.write(fh, 0, b"xy")
        await env.vfs.setattr(g.ino, fh=fh, size=1)  # ftruncate(2)
        await env.vfs.release(fh)
        assert env.api_file("b", "g") == b"x"
        d = await env.mkdir("b/d")
        with pytest.raises(IsADirectory):  # EISDIR: truncate(2) of a directory
            await env.vfs.setattr(d.ino, size=0)

    env.run(body)


def test_create_exclusive_and_over_directory(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await env.write("b/f", b"1")
        await env.mkdir("b/d")
        parent, _ = await env.parent("b/f")
        with pytest.raises(AlreadyExists):  # EEXIST
            await env.vfs.create(parent, "f", 0o644, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        d = await env.resolve("b/d")
        with pytest.raises(IsADirectory):  # EISDIR
            await env.vfs.open(d.ino, os.O_RDONLY)

    env.run(body)


def test_unlink_file_and_while_open(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"data"), ("g", b"x")])

    async def body() -> None:
        b = await env.resolve("b")
        await env.vfs.unlink(b.ino, "f")
        with pytest.raises(NotFound):  # ENOENT
            await env.resolve("b/f")
        with pytest.raises(NotFound):
            await env.vfs.unlink(b.ino, "f")
        g = await env.resolve("b/g")
        fh = await env.vfs.open(g.ino, os.O_RDWR)
        await env.vfs.unlink(b.ino, "g")
        await env.vfs.write(fh, 0, b"late")
        await env.vfs.release(fh)  # an unlinked file is not pushed back
        assert await env.ls("b") == []
        with pytest.raises(IsADirectory):
            await env.mkdir("b/d")
            await env.vfs.unlink(b.ino, "d")

    env.run(body)


def test_two_handles_share_one_staged_copy(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"abc")])

    async def body() -> None:
        f = await env.resolve("b/f")
        w = await env.vfs.open(f.ino, os.O_WRONLY)
        r = await env.vfs.open(f.ino, os.O_RDONLY)
        await env.vfs.write(w, 0, b"X")
        assert await env.vfs.read(r, 0, 10) == b"Xbc"
        await env.vfs.release(r)
        await env.vfs.fsync(w)  # fsync(2) pushes too
        assert env.api_file("b", "f") == b"Xbc"
        await env.vfs.release(w)

    env.run(body)


def test_large_file_round_trip_is_streamed(env: Env) -> None:
    data = os.urandom(5 * 1024 * 1024 + 17)

    async def body() -> None:
        await env.mkdir("b")
        parent, _ = await env.parent("b/big")
        fh, _ = await env.vfs.create(parent, "big", 0o644, os.O_WRONLY | os.O_CREAT)
        for off in range(0, len(data), 131072):
            await env.vfs.write(fh, off, data[off : off + 131072])
        await env.vfs.release(fh)
        assert env.hub.calls["push_chunk"] == 6  # 1 MiB pieces, never the whole file
        fresh = env.new_vfs()
        await fresh.start()
        assert await env.read("b/big", fresh) == data

    env.run(body)


def test_failed_push_is_reported_and_retried(env: Env) -> None:
    from bucketfs.errors import QuotaExceeded, TimedOut

    async def body() -> None:
        await env.mkdir("b")
        parent, _ = await env.parent("b/f")
        fh, _ = await env.vfs.create(parent, "f", 0o644, os.O_WRONLY | os.O_CREAT)
        await env.vfs.write(fh, 0, b"data")
        env.hub.fail_next("push_path", QuotaExceeded("storage quota exhausted"))
        with pytest.raises(QuotaExceeded):  # EDQUOT from close()
            await env.vfs.flush(fh)
        env.hub.fail_next("push_path", TimedOut("deadline exceeded"))
        with pytest.raises(TimedOut):  # ETIMEDOUT from fsync()
            await env.vfs.fsync(fh)
        assert env.vfs.status()["dirty_files"] == 1
        await env.vfs.release(fh)  # the last close pushes what is still staged
        assert env.api_file("b", "f") == b"data"
        assert env.vfs.status()["dirty_files"] == 0

    env.run(body)


def test_staging_area_full_is_enospc(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from bucketfs.errors import NoSpace

    def disk_full(fd: int, data: bytes, off: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def body() -> None:
        await env.mkdir("b")
        parent, _ = await env.parent("b/f")
        fh, _ = await env.vfs.create(parent, "f", 0o644, os.O_WRONLY | os.O_CREAT)
        with monkeypatch.context() as m:
            m.setattr(os, "pwrite", disk_full)  # the local disk, not our code, is faked
            with pytest.raises(NoSpace):  # ENOSPC
                await env.vfs.write(fh, 0, b"data")
        with pytest.raises(NoSpace):  # the file failed: later writes and its close too
            await env.vfs.write(fh, 0, b"data")
        with pytest.raises(NoSpace):
            await env.vfs.flush(fh)
        await env.vfs.release(fh)
        assert "f" not in await env.ls("b")  # nothing of it was pushed
        await env.write("b/f", b"data")  # a new open starts afresh
        assert env.api_file("b", "f") == b"data"

    env.run(body)


def test_create_of_a_name_that_appeared_meanwhile_opens_it(env: Env) -> None:
    seed_bucket(env.hub, "b", [("f", b"theirs")])

    async def body() -> None:
        parent, _ = await env.parent("b/f")
        fh, attr = await env.vfs.create(parent, "f", 0o644, os.O_WRONLY | os.O_CREAT)
        assert attr.size == 6  # no O_TRUNC: the content stays
        await env.vfs.write(fh, 0, b"T")
        await env.vfs.release(fh)
        assert env.api_file("b", "f") == b"Theirs"

    env.run(body)


def test_status_reports_uploads_in_progress_and_the_last_failure(env: Env) -> None:
    """``status()["transfers"]``: a push in progress with its bytes sent of its total; a push
    the hub refused with its error (``bucketfs status`` shows them per file)."""
    import trio

    async def body() -> None:
        await env.mkdir("b")
        seen: list[dict[str, object]] = []
        done = trio.Event()

        async def watch() -> None:
            while not done.is_set():
                seen.extend(env.vfs.status()["transfers"]["uploads"])  # type: ignore[index]
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await env.write("b/big", b"z" * (5 << 20))  # 5 pieces of 1 MiB
            done.set()
        partial = [u for u in seen if 0 < u["done"] < u["total"]]  # type: ignore[operator]
        assert partial and partial[0]["total"] == 5 << 20
        assert str(partial[0]["path"]).endswith("/big")
        assert env.vfs.status()["transfers"]["uploads"] == []  # type: ignore[index]
        env.hub.fail_next("push_path", Unavailable("hub down"))  # the close's; release's works
        parent, _ = await env.parent("b/f")
        fh, _ = await env.vfs.create(parent, "f", 0o644, os.O_WRONLY | os.O_CREAT)
        with pytest.raises(Unavailable):
            await env.vfs.flush(fh)
        failed = env.vfs.status()["transfers"]["failed_uploads"]  # type: ignore[index]
        assert failed and "hub down" in failed[-1]["last_error"]
        await env.vfs.release(fh)

    env.run(body)
