"""A reference-model property test of the buckets vfs, in both commit modes.

Hypothesis draws a sequence of file operations on a few names in one bucket directory, applied
to the vfs (over the fake hub) and to a model (a dict of name -> bytes). Interleaved are a
second client writing other names of the same bucket, and crash-and-replay steps: the mount is
dropped without any cleanup (write-back: a new mount replays the journal it left), including a
crash after the hub took an upload but before the journal recorded that (the ``done`` records
of a stretch never reach the disk). After every step each name reads back as the model says;
at the end, once everything is uploaded, the hub holds exactly the model and nothing was
written under a conflict name: this mount is the only writer of its names, so none of its
writes may be taken for another client's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketfs.errors import NotFound
from bucketfs.vfs import Vfs, writeback_journal, writeback_upload, writes
from bucketfs.vfs.writeback_journal import Journal

from .conftest import Env

NAMES = ("a", "b", "c")
DATA = st.binary(max_size=40)

OPS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), DATA),
    st.tuples(st.just("patch"), st.sampled_from(NAMES), st.integers(0, 50), DATA),
    st.tuples(st.just("trunc_open"), st.sampled_from(NAMES)),
    st.tuples(st.just("truncate"), st.sampled_from(NAMES), st.integers(0, 60)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("unlink"), st.sampled_from(NAMES)),
    st.tuples(st.just("other"), st.sampled_from(NAMES), DATA),
    st.tuples(st.just("race"), st.sampled_from(NAMES), DATA, st.sampled_from(NAMES)),
    st.tuples(st.just("settle")),
    st.tuples(st.just("crash")),
    st.tuples(st.just("lose_done")),
)


class LosingDone:
    """Journal records of finished uploads that never reach the disk (a crash just after the
    hub answered): they are applied in memory only."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.original = journal.append

    def __call__(self, rec: dict[str, Any]) -> None:
        if rec.get("op") == "done":
            self.journal.apply(rec)
        else:
            self.original(rec)


class Run:
    def __init__(self, env: Env, write_back: bool) -> None:
        self.env = env
        self.write_back = write_back
        self.journal = env.tmp / "journal"
        self.vfs = self._mount()
        self.other = env.new_vfs()
        self.model: dict[str, bytes] = {}
        self.theirs: dict[str, bytes] = {}

    def _mount(self) -> Vfs:
        vfs = self.env.new_vfs()
        if self.write_back:
            vfs.enable_write_back(self.journal)
        return vfs

    async def start(self) -> None:
        await self.vfs.start()
        await self.other.start()
        await self.env.mkdir("m", self.vfs)
        await self.env.mkdir("m/d", self.vfs)
        await self.settle()

    async def settle(self) -> None:
        assert await self.vfs.wait_uploaded(10)

    async def step(self, op: tuple[Any, ...]) -> None:
        env, vfs = self.env, self.vfs
        kind, args = op[0], op[1:]
        if kind == "write":
            name, data = args
            await env.write(f"m/d/{name}", data, vfs)
            self.model[name] = data
        elif kind == "patch" and args[0] in self.model:
            name, off, data = args
            await self._patch(name, off, data)
        elif kind == "trunc_open" and args[0] in self.model:
            ino = (await env.resolve(f"m/d/{args[0]}", vfs)).ino
            fh = await vfs.open(ino, os.O_WRONLY | os.O_TRUNC)
            await vfs.flush(fh)
            await vfs.release(fh)
            self.model[args[0]] = b""
        elif kind == "truncate" and args[0] in self.model:
            name, size = args
            ino = (await env.resolve(f"m/d/{name}", vfs)).ino
            await vfs.setattr(ino, size=size)
            old = self.model[name]
            self.model[name] = old[:size] + b"\0" * (size - len(old))
        elif kind == "rename" and args[0] in self.model and args[0] != args[1]:
            src, dst = args
            parent = (await env.resolve("m/d", vfs)).ino
            await vfs.rename(parent, src, parent, dst, 0)
            self.model[dst] = self.model.pop(src)
        elif kind == "unlink" and args[0] in self.model:
            parent = (await env.resolve("m/d", vfs)).ino
            await vfs.unlink(parent, args[0])
            del self.model[args[0]]
        elif kind == "other":
            name, data = args
            await env.write(f"m/o-{name}", data, self.other)
            self.theirs[f"o-{name}"] = data
        elif kind == "race":  # our write while we list and the other client changes the bucket
            name, data, theirs = args
            async with trio.open_nursery() as nursery:
                nursery.start_soon(env.write, f"m/d/{name}", data, vfs)
                nursery.start_soon(env.ls, "m/d", vfs)
                nursery.start_soon(env.write, f"m/o-{theirs}", data, self.other)
            self.model[name] = data
            self.theirs[f"o-{theirs}"] = data
        elif kind == "settle":
            await self.settle()
        elif kind == "crash":
            await self.crash()
        elif kind == "lose_done" and self.write_back:
            assert self.vfs.wb is not None
            self.vfs.wb.append = LosingDone(self.vfs.wb)  # type: ignore[method-assign]
            await self.settle()
            await self.crash()

    async def _patch(self, name: str, off: int, data: bytes) -> None:
        ino = (await self.env.resolve(f"m/d/{name}", self.vfs)).ino
        fh = await self.vfs.open(ino, os.O_RDWR)
        await self.vfs.write(fh, off, data)
        await self.vfs.flush(fh)
        await self.vfs.release(fh)
        old = self.model[name]
        if not data:
            return  # a write of nothing changes nothing
        grown = old + b"\0" * max(0, off - len(old))
        self.model[name] = grown[:off] + data + grown[off + len(data) :]

    async def crash(self) -> None:
        """Drop the mount as a kill -9 would: no flush, no journal cleanup."""
        self.vfs.stop_uploader()
        if self.vfs.wb is not None:
            self.vfs.wb.close()
        self.vfs = self._mount()
        await self.vfs.start()

    async def check(self) -> None:
        for name in NAMES:
            path = f"m/d/{name}"
            if name in self.model:
                assert await self.env.read(path, self.vfs) == self.model[name], name
            else:
                with pytest.raises(NotFound):
                    await self.env.resolve(path, self.vfs)

    async def check_hub(self) -> None:
        await self.settle()
        fresh = self.env.new_vfs()
        await fresh.start()
        assert sorted(await self.env.ls("m/d", fresh)) == sorted(self.model)
        for name, data in self.model.items():
            assert self.env.api_file("m", f"d/{name}") == data, name
        names = sorted(await self.env.ls("m", fresh))
        assert names == sorted(["d", *self.theirs]), names
        assert not self.vfs.conflicts and not self.other.conflicts


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writes, "RETRY_FIRST", 0.001)
    monkeypatch.setattr(writes, "RETRY_MAX", 0.01)
    monkeypatch.setattr(writeback_upload, "RETRY_FIRST", 0.001)
    monkeypatch.setattr(writeback_upload, "RETRY_MAX", 0.01)
    monkeypatch.setattr(writeback_upload, "IDLE", 0.0)


def run_model(tmp_path: Path, write_back: bool, ops: list[tuple[Any, ...]]) -> None:
    env = Env(tmp_path)
    env.hub.reply_delay = 3

    async def main() -> None:
        run = Run(env, write_back)
        await run.start()
        for op in ops:
            await run.step(op)
            await run.check()
        await run.check_hub()

    trio.run(main)


SETTINGS = settings(
    max_examples=int(os.environ.get("BUCKETFS_MODEL_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(ops=st.lists(OPS, max_size=25))
def test_synchronous_mount_matches_the_model(tmp_path_factory: Any, ops: Any) -> None:
    run_model(tmp_path_factory.mktemp("sync"), False, ops)


@SETTINGS
@given(ops=st.lists(OPS, max_size=25))
def test_write_back_mount_matches_the_model(tmp_path_factory: Any, ops: Any) -> None:
    run_model(tmp_path_factory.mktemp("wb"), True, ops)


@SETTINGS
@given(ops=st.lists(OPS, max_size=25))
def test_write_back_matches_the_model_when_the_overlay_lets_go_at_once(
    tmp_path_factory: Any, ops: Any
) -> None:
    """As on a loaded machine, where the few seconds a finished upload stays in the overlay
    pass between two steps: what a change starts from must not depend on that grace."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(writeback_journal, "RECENT_GRACE", 0.0)
        run_model(tmp_path_factory.mktemp("wb0"), True, ops)
