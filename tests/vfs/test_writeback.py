"""Write-back mode over the fake hub: closes go to the journal, a background task uploads them in
batches; the overlay shows pending changes; removals are settled locally or coalesced; a new
mount replays what a killed one left; the journal survives torn records."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import trio

from bucketfs.vfs import Vfs, writes
from bucketfs.vfs.writeback_journal import Journal, read_records

from .conftest import Env


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writes, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(writes, "RETRY_MAX", 0.08)
    from bucketfs.vfs import writeback_upload

    monkeypatch.setattr(writeback_upload, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(writeback_upload, "RETRY_MAX", 0.08)


def wb_vfs(env: Env, journal: Path) -> Vfs:
    vfs = env.new_vfs()
    vfs.enable_write_back(journal)
    return vfs


@pytest.fixture
def wenv(tmp_path: Path) -> Env:
    env = Env(tmp_path)
    env.vfs.enable_write_back(tmp_path / "journal")
    return env


def test_close_is_local_overlay_shows_it_and_one_stream_uploads_a_burst(
    wenv: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bucketfs.vfs import writeback_upload

    monkeypatch.setattr(writeback_upload, "IDLE", 10.0)  # a slow machine must not split the burst

    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.vfs.wait_uploaded(5)
        before = dict(wenv.hub.calls)
        for i in range(20):
            await wenv.write(f"b/f{i}", b"x" * i)
        await wenv.mkdir("b/d")
        await wenv.write("b/d/inner", b"inner")
        assert wenv.hub.calls.get("push_path", 0) == before.get("push_path", 0)
        assert wenv.hub.calls.get("push_paths", 0) == before.get("push_paths", 0)
        assert "f7" in await wenv.ls("b") and await wenv.ls("b/d") == ["inner"]
        assert (await wenv.resolve("b/f7")).size == 7
        assert await wenv.read("b/d/inner") == b"inner"
        assert wenv.vfs.status()["write_back"]["pending_files"] == 21  # type: ignore[index]
        assert await wenv.vfs.wait_uploaded(5)
        assert wenv.hub.calls["push_paths"] - before.get("push_paths", 0) <= 2
        assert wenv.api_file("b", "f7") == b"x" * 7
        assert wenv.api_file("b", "d/inner") == b"inner"
        await trio.sleep(3.5)  # the overlay lets go; the hub's listing takes over
        assert await wenv.read("b/f19") == b"x" * 19
        assert sorted(p.name for p in (wenv.tmp / "journal" / "data").iterdir()) == []

    wenv.run(body)


def test_hub_down_keeps_data_in_the_journal_until_it_is_back(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.vfs.wait_uploaded(5)
        await wenv.ls("b")  # the listing is cached: creating needs no call
        wenv.hub.offline = True
        await wenv.write("b/f", b"precious")  # close succeeds: it is in the journal
        assert not await wenv.vfs.wait_uploaded(0.5)
        assert await wenv.read("b/f") == b"precious"
        wenv.hub.offline = False
        assert await wenv.vfs.wait_uploaded(5)
        assert wenv.api_file("b", "f") == b"precious"

    wenv.run(body)


def test_a_new_mount_uploads_what_a_killed_one_left(tmp_path: Path) -> None:
    env = Env(tmp_path)
    journal = tmp_path / "journal"

    async def body() -> None:
        first = wb_vfs(env, journal)
        await first.start()
        await env.mkdir("b", first)
        await first.wait_uploaded(5)
        await env.ls("b", first)
        env.hub.offline = True
        await env.write("b/a", b"alpha", first)
        await env.mkdir("b/sub", first)
        await env.write("b/sub/c", b"gamma" * 1000, first)
        first.stop_uploader()  # killed: nothing more happens, nothing is cleaned up
        env.hub.offline = False
        second = wb_vfs(env, journal)
        await second.start()
        assert await env.read("b/sub/c", second) == b"gamma" * 1000  # visible at once
        assert await second.wait_uploaded(5)
        assert env.api_file("b", "a") == b"alpha"
        assert env.api_file("b", "sub/c") == b"gamma" * 1000
        assert not env.vfs.conflicts and not second.conflicts

    trio.run(body)


def test_removing_what_only_the_journal_has_costs_no_call_and_rm_rf_is_one_call(
    wenv: Env,
) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.mkdir("b/t")
        for i in range(5):
            await wenv.write(f"b/t/{i}", b"1")
        await wenv.mkdir("b/t/s")
        await wenv.write("b/t/s/x", b"2")
        assert await wenv.vfs.wait_uploaded(5)
        await wenv.write("b/new", b"n")
        before = dict(wenv.hub.calls)
        parent, _ = await wenv.parent("b/new")
        await wenv.vfs.unlink(parent, "new")  # never uploaded: dropped here
        t, _ = await wenv.parent("b/t/0")
        s, _ = await wenv.parent("b/t/s/x")
        await wenv.vfs.unlink(s, "x")
        await wenv.vfs.rmdir(t, "s")
        for i in range(5):
            await wenv.vfs.unlink(t, str(i))
        await wenv.vfs.rmdir(parent, "t")
        assert await wenv.ls("b") == []
        assert await wenv.vfs.wait_uploaded(5)
        assert wenv.hub.calls["remove_path"] - before.get("remove_path", 0) == 1
        assert wenv.hub.calls.get("push_paths", 0) == before.get("push_paths", 0)
        assert wenv.hub.calls.get("push_path", 0) == before.get("push_path", 0)
        fresh = wenv.new_vfs()
        await fresh.start()
        assert await wenv.ls("b", fresh) == []

    wenv.run(body)


def test_chmod_and_utimens_of_a_pending_file_update_its_record(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.vfs.wait_uploaded(5)
        await wenv.ls("b")  # the listing is cached: creating needs no call
        wenv.hub.offline = True
        await wenv.write("b/f", b"data")
        ino = (await wenv.resolve("b/f")).ino
        attr = await wenv.vfs.setattr(ino, mode=0o600, mtime=1_000_000_000_000)
        assert attr.mode & 0o7777 == 0o600 and attr.mtime == 1_000_000_000_000
        wenv.hub.offline = False
        assert await wenv.vfs.wait_uploaded(5)
        fresh = wenv.new_vfs()
        await fresh.start()
        got = await wenv.resolve("b/f", fresh)
        assert got.mode & 0o7777 == 0o600 and got.mtime == 1_000_000_000_000

    wenv.run(body)


def test_a_file_changed_elsewhere_meanwhile_is_kept_beside_ours(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.write("b/f", b"v1")
        assert await wenv.vfs.wait_uploaded(5)
        other = wenv.new_vfs()
        await other.start()
        await wenv.ls("b")
        wenv.hub.offline = True
        await wenv.write("b/f", b"ours")
        await wenv.write("b/g", b"unrelated")
        wenv.hub.offline = False
        await wenv.write("b/f", b"theirs", other)
        assert await wenv.vfs.wait_uploaded(5)
        fresh = wenv.new_vfs()
        await fresh.start()
        names = await wenv.ls("b", fresh)
        conflict = [n for n in names if n.startswith("f.conflict-")]
        assert len(conflict) == 1, names
        assert wenv.api_file("b", "f") == b"theirs"
        assert wenv.api_file("b", conflict[0]) == b"ours"
        assert wenv.api_file("b", "g") == b"unrelated"
        assert wenv.vfs.conflicts

    wenv.run(body)


def test_rename_waits_for_the_pending_uploads_of_its_bucket(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.mkdir("b/d")
        await wenv.write("b/d/f", b"moved")
        parent, _ = await wenv.parent("b/d")
        await wenv.vfs.rename(parent, "d", parent, "e")
        assert await wenv.ls("b") == ["e"]
        assert wenv.api_file("b", "e/f") == b"moved"

    wenv.run(body)


def test_fsync_makes_the_record_durable_and_rewrite_keeps_pending_data(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.vfs.wait_uploaded(5)
        await wenv.ls("b")  # the listing is cached: creating needs no call
        wenv.hub.offline = True
        parent, _ = await wenv.parent("b/f")
        fh, _ = await wenv.vfs.create(parent, "f", 0o644, os.O_WRONLY | os.O_CREAT)
        await wenv.vfs.write(fh, 0, b"abc")
        await wenv.vfs.fsync(fh)
        records = list(read_records(wenv.tmp / "journal" / "journal"))
        assert [r["op"] for r in records if r["path"] == "f"] == ["put"]
        await wenv.vfs.write(fh, 3, b"def")  # after the record: a private copy is changed
        await wenv.vfs.release(fh)
        assert await wenv.read("b/f") == b"abcdef"
        wenv.hub.offline = False
        assert await wenv.vfs.wait_uploaded(5)
        assert wenv.api_file("b", "f") == b"abcdef"

    wenv.run(body)


def test_journal_ignores_a_torn_or_corrupt_record_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(tmp_path / "j")
    (journal.data / "d1").write_bytes(b"one")
    (journal.data / "d2").write_bytes(b"two")
    journal.new_op("put", "t", "k", "a", data="d1", size=3)
    journal.new_op("put", "t", "k", "b", data="d2", size=3)
    journal.close()
    raw = journal.file.read_bytes()
    first, second, _ = raw.split(b"\n")
    corrupt = first[:-3] + b"XX}" + b"\n" + second[: len(second) // 2]  # bad sum, torn end
    journal.file.write_bytes(corrupt)
    caplog.set_level(logging.WARNING, "bucketfs.vfs.writeback")
    again = Journal(tmp_path / "j")
    assert again.replay() == 0
    assert "checksum mismatch" in caplog.text and "torn write" in caplog.text
    assert list(again.data.iterdir()) == []  # unreferenced data removed
    again.new_op("mkdir", "t", "k", "c")
    again.close()
    third = Journal(tmp_path / "j")
    assert third.replay() == 1 and third.pending.latest("k", "c") is not None
    third.close()


def test_utimens_of_a_new_directory_after_its_files_keeps_them(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        d = await wenv.mkdir("b/d")
        await wenv.write("b/d/x", b"x")
        await wenv.vfs.setattr(d.ino, mode=0o700, mtime=2_000_000_000_000)  # as tar does
        assert await wenv.vfs.wait_uploaded(5)
        assert wenv.api_file("b", "d/x") == b"x"
        fresh = wenv.new_vfs()
        await fresh.start()
        got = await wenv.resolve("b/d", fresh)
        assert got.mode & 0o7777 == 0o700 and got.mtime == 2_000_000_000_000

    wenv.run(body)


def test_a_symlink_in_a_new_directory_waits_for_it_and_survives(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        d = await wenv.mkdir("b/d")
        await wenv.write("b/d/x", b"x")
        await wenv.vfs.symlink(d.ino, "l", "x")
        await wenv.vfs.setattr(d.ino, mtime=3_000_000_000_000)
        assert await wenv.vfs.wait_uploaded(5)
        fresh = wenv.new_vfs()
        await fresh.start()
        assert await wenv.ls("b/d", fresh) == ["l", "x"]

    wenv.run(body)


def test_giving_up_leaves_the_journal_for_the_next_mount(tmp_path: Path) -> None:
    env = Env(tmp_path)
    journal = tmp_path / "journal"

    async def body() -> None:
        first = wb_vfs(env, journal)
        await first.start()
        await env.mkdir("b", first)
        await first.wait_uploaded(5)
        await env.ls("b", first)
        env.hub.offline = True
        await env.write("b/kept", b"kept", first)
        assert not await first.flush_all(0.3)
        await first.give_up_pending()  # umount --force
        with trio.fail_after(1):
            await first.flush_all(30)  # the unmount's own flush does not wait any more
        await first.close()
        env.hub.offline = False
        second = wb_vfs(env, journal)
        await second.start()
        assert await second.wait_uploaded(5)
        assert env.api_file("b", "kept") == b"kept"

    trio.run(body)


def test_utimens_after_the_upload_is_what_stat_shows(wenv: Env) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.write("b/f", b"data")
        assert await wenv.vfs.wait_uploaded(5)  # uploaded; the overlay still shows it
        ino = (await wenv.resolve("b/f")).ino
        await wenv.vfs.setattr(ino, mtime=4_000_000_000_000)  # tar, a little late
        wenv.vfs.listings.clear()  # whatever the caches fetch again
        assert (await wenv.resolve("b/f")).mtime == 4_000_000_000_000

    wenv.run(body)


def test_an_uploaded_burst_needs_no_listing_download_or_attribute_call(
    wenv: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PushPaths header carries the modes and mtimes, its answers the CIDs: after the
    upload the cached listing is complete and the journal's copies are the cache."""
    from bucketfs.vfs import writeback_upload

    monkeypatch.setattr(writeback_upload, "IDLE", 10.0)

    async def body() -> None:
        await wenv.mkdir("b")
        await wenv.vfs.wait_uploaded(5)
        await wenv.ls("b")
        for i in range(10):
            await wenv.write(f"b/f{i}", b"y" * (i + 1))
        f3 = await wenv.resolve("b/f3")
        await wenv.vfs.setattr(f3.ino, mode=0o600, mtime=1_500_000_000_000_000_000)
        wenv.hub.calls.clear()
        assert await wenv.vfs.wait_uploaded(5)
        assert wenv.hub.calls["push_paths"] == 1
        assert wenv.hub.calls["set_path_attrs"] == 0
        await trio.sleep(3.5)  # past the overlay's grace time
        wenv.hub.calls.clear()
        for i in range(10):
            assert await wenv.read(f"b/f{i}") == b"y" * (i + 1)
        a = await wenv.resolve("b/f3")
        assert (a.mode & 0o7777, a.mtime) == (0o600, 1_500_000_000_000_000_000)
        assert wenv.hub.calls["pull_path"] == 0 and wenv.hub.calls["list_path"] == 0
        fresh = wenv.new_vfs()  # what the hub stored
        await fresh.start()
        b = await wenv.resolve("b/f3", fresh)
        assert (b.mode & 0o7777, b.mtime) == (0o600, 1_500_000_000_000_000_000)
        c, d = await wenv.resolve("b/f4"), await wenv.resolve("b/f4", fresh)
        assert c.mtime == d.mtime  # the close time was sent: both sides agree

    wenv.run(body)


def test_mkdir_then_rmdir_during_the_idle_pause_sends_nothing_and_logs_no_failure(
    wenv: Env, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        assert await wenv.vfs.wait_uploaded(5)
        parent = (await wenv.resolve("b")).ino
        for i in range(5):
            await wenv.vfs.mkdir(parent, f"d{i}", 0o755)
            await trio.sleep(0)  # the uploader wakes and starts its idle pause
            await wenv.vfs.rmdir(parent, f"d{i}")
            await trio.sleep(0.2)
        assert await wenv.vfs.wait_uploaded(5)

    with caplog.at_level(logging.WARNING):
        wenv.run(body)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_symlink_while_another_client_changes_the_bucket_is_made_on_the_new_root(
    wenv: Env,
) -> None:
    async def body() -> None:
        await wenv.mkdir("b")
        assert await wenv.vfs.wait_uploaded(5)
        other = wenv.new_vfs()
        await other.start()
        parent = (await wenv.resolve("b")).ino
        for i in range(5):
            await wenv.write(f"b/o{i}", b"x", other)  # the root moves on each time
            await wenv.vfs.symlink(parent, f"l{i}", "target")
        fresh = wenv.new_vfs()
        await fresh.start()
        names = await wenv.ls("b", fresh)
        assert sorted(n for n in names if n.startswith("l")) == [f"l{i}" for i in range(5)]

    wenv.run(body)


def test_uploads_whose_done_record_finds_no_room_still_leave_the_queue(
    wenv: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk after the hub took an upload: the ``done`` record does not fit, yet the queue
    empties (a replay would find the content in the hub); it is not sent again and again."""
    from bucketfs.errors import NoSpace

    async def body() -> None:
        await wenv.mkdir("b")
        assert await wenv.vfs.wait_uploaded(5)
        journal = wenv.vfs.wb
        assert journal is not None
        original = journal.append

        def full(rec: dict[str, object]) -> None:
            if rec.get("op") == "done":
                raise NoSpace("no room for a journal record")
            original(rec)

        journal.append = full  # type: ignore[method-assign]
        await wenv.write("b/f", b"data")
        assert await wenv.vfs.wait_uploaded(5)
        pushes = wenv.hub.calls["push_path"] + wenv.hub.calls["push_paths"]
        await trio.sleep(0.3)
        assert wenv.hub.calls["push_path"] + wenv.hub.calls["push_paths"] == pushes
        assert wenv.api_file("b", "f") == b"data"

    with caplog.at_level(logging.WARNING):
        wenv.run(body)
    assert "not recorded as done" in caplog.text
