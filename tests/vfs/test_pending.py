"""Dirty data survives a failed push on the last close: it stays staged, is listed as dirty, is
retried in the background with backoff, and ``flush_all`` pushes it or reports it."""

from __future__ import annotations

import os

import pytest
import trio

from bucketfs.errors import NotFound, Unavailable
from bucketfs.vfs import writes

from .conftest import Env


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writes, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(writes, "RETRY_MAX", 0.08)


async def _write_then_close_offline(env: Env, name: str, data: bytes) -> None:
    """Write ``b/<name>``; the hub goes down before the first and last close."""
    parent, _ = await env.parent(f"b/{name}")
    fh, _ = await env.vfs.create(parent, name, 0o644, os.O_WRONLY | os.O_CREAT)
    await env.vfs.write(fh, 0, data)
    env.hub.offline = True
    with pytest.raises(Unavailable):  # close(2): EIO
        await env.vfs.flush(fh)
    with pytest.raises(Unavailable):  # the kernel's release: logged, nothing dropped
        await env.vfs.release(fh)


def _staged(env: Env) -> list[str]:
    return sorted(p.name for p in env.vfs.cache.staging.iterdir())


def test_failed_release_keeps_data_and_retries_until_the_hub_takes_it(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await _write_then_close_offline(env, "f", b"precious")
        status = env.vfs.status()
        assert status["dirty_files"] == 1 and status["retrying_pushes"] == 1
        assert len(_staged(env)) == 1
        before = env.hub.calls["push_path"]
        await trio.sleep(0.5)  # offline: retried with backoff, not in a tight loop
        attempts = env.hub.calls["push_path"] - before
        assert 3 <= attempts <= 12, attempts
        assert env.vfs.status()["dirty_files"] == 1
        env.hub.offline = False
        with trio.fail_after(5):
            while env.vfs.status()["retrying_pushes"] or _staged(env):
                await trio.sleep(0.01)
        assert env.api_file("b", "f") == b"precious"
        status = env.vfs.status()
        assert status["dirty_files"] == 0 and status["open_files"] == 0
        assert await env.read("b/f") == b"precious"
        await env.vfs.close()

    env.run(body)


def test_flush_all_pushes_pending_files_or_reports_them(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await _write_then_close_offline(env, "f", b"one")
        await _write_then_close_offline(env, "g", b"two")
        assert not await env.vfs.flush_all(1.0)  # umount refuses: still pending
        assert env.vfs.status()["dirty_files"] == 2
        env.hub.offline = False
        assert await env.vfs.flush_all(5.0)
        assert env.api_file("b", "f") == b"one" and env.api_file("b", "g") == b"two"
        assert env.vfs.status()["open_files"] == 0
        with trio.fail_after(5):  # a background retry may be moving one into the cache
            while _staged(env):
                await trio.sleep(0.01)
        await env.vfs.close()

    env.run(body)


def test_close_gives_pending_data_up_by_name(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await _write_then_close_offline(env, "lost.txt", b"x")
        await env.vfs.close()  # umount --force
        assert any("'lost.txt'" in e and "not saved" in e for e in env.vfs.errors)
        assert env.vfs.status()["retrying_pushes"] == 0 and _staged(env) == []

    env.run(body)


def test_reopened_pending_file_keeps_both_writes(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await _write_then_close_offline(env, "f", b"first ")
        ino = (await env.resolve("b/f")).ino
        fh = await env.vfs.open(ino, os.O_WRONLY)
        await env.vfs.write(fh, 6, b"second")
        env.hub.offline = False
        await env.vfs.flush(fh)
        await env.vfs.release(fh)
        assert env.api_file("b", "f") == b"first second"
        with trio.fail_after(5):
            while env.vfs.status()["retrying_pushes"] or _staged(env):
                await trio.sleep(0.01)
        assert _staged(env) == []

    env.run(body)


def test_lookup_misses_are_not_recorded_as_errors(env: Env) -> None:
    env.vfs.record_error("lookup", NotFound("'nope' not found"))
    assert env.vfs.status()["last_errors"] == []
    env.vfs.record_error("read", Unavailable("hub down"))
    env.vfs.record_error("unlink", NotFound("'gone' not found"))
    assert len(env.vfs.status()["last_errors"]) == 2  # type: ignore[arg-type]


def test_give_up_pending_drops_only_closed_files(env: Env) -> None:
    async def body() -> None:
        await env.mkdir("b")
        await _write_then_close_offline(env, "closed", b"x")
        parent, _ = await env.parent("b/open")
        fh, _ = await env.vfs.create(parent, "open", 0o644, os.O_WRONLY | os.O_CREAT)
        await env.vfs.write(fh, 0, b"still held")
        await env.vfs.give_up_pending()  # umount --force while the hub is down
        assert any("'closed'" in e and "not saved" in e for e in env.vfs.errors)
        status = env.vfs.status()
        assert status["retrying_pushes"] == 0 and status["dirty_files"] == 1
        env.hub.offline = False
        await env.vfs.release(fh)
        assert env.api_file("b", "open") == b"still held"

    env.run(body)
