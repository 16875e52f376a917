"""``threads/`` at the vfs level over a real hub subprocess, where the mount's own changes race
the hub's ``Listen`` events about them (an editor's backup rename, the save patterns of editors
and tools), a writer of a file that was replaced or removed, a collection schema the hub refuses,
and instances too large to list many per ``Find``.

The hub publishes a change before it answers the call that made it, so on a loaded machine the
event often arrives while the mount still awaits the answer. ``LateSession`` makes that the rule:
the answers of ``create``/``save``/``delete`` come back a random 0-50 ms late.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bucketfs import errors
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess
from bucketfs.vfs import Vfs
from bucketfs.vfs.threadjson import instance_id

from .test_threads import Mount, subscribed


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    with HubProcess() as process:
        yield process


@pytest.fixture(scope="module")
def config(hub: HubProcess) -> HubConfig:
    key, secret = hub.create_key(type="account")
    return HubConfig(hub.address, key, secret, None)


class _LateThreads:
    """The session's ThreadDB client, with write answers delivered late."""

    def __init__(self, inner: Any, rng: random.Random) -> None:
        self._inner, self._rng = inner, rng

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _late(self, result: Any) -> Any:
        await trio.sleep(self._rng.uniform(0, 0.05))
        return result

    async def create(self, *args: Any) -> Any:
        return await self._late(await self._inner.create(*args))

    async def save(self, *args: Any) -> Any:
        return await self._late(await self._inner.save(*args))

    async def delete(self, *args: Any) -> Any:
        return await self._late(await self._inner.delete(*args))


class LateSession:
    """A ``HubSession`` whose ThreadDB writes answer late (see the module docstring)."""

    def __init__(self, session: HubSession, rng: random.Random) -> None:
        self._session = session
        self.threads = _LateThreads(session.threads, rng)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def run_late(cfg: HubConfig, tmp: Path, seed: int, body: Callable[[Mount], Any]) -> None:
    async def main() -> None:
        async with await HubSession.connect(cfg) as session:
            late = LateSession(session, random.Random(seed))
            vfs = Vfs(late, cache_dir=tmp / "cache", cache_max_bytes=1 << 26)
            await vfs.start()
            try:
                await body(Mount(vfs, session))
            finally:
                await vfs.close()

    trio.run(main)


async def setup(m: Mount, db: str) -> str:
    await m.mkdir(db)
    await m.mkdir(f"{db}/c")
    tid = await m.db(db)
    await subscribed(m.vfs, tid)
    return tid


async def value(m: Mount, path: str) -> Any:
    return json.loads(await m.read(path))


@pytest.mark.parametrize("seed", [1, 2])
def test_instance_renamed_away_stays_a_local_file(
    config: HubConfig,
    tmp_path: Path,
    seed: int,
) -> None:
    """``mv x.json x.json~`` (vim's backup): the instance is deleted in the hub, the content
    stays in the local file however the Delete event and the Delete answer are ordered, and it
    stays through reads, closes and the kernel forgetting the name."""
    rng = random.Random(seed)

    async def body(m: Mount) -> None:
        db = await setup(m, f"backup{seed}")
        for i in range(12):
            await m.write(f"backup{seed}/c/x{i}.json", json.dumps({"v": i}).encode())
            assert (await value(m, f"backup{seed}/c/x{i}.json"))["v"] == i
            await m.rename(f"backup{seed}/c/x{i}.json", f"backup{seed}/c/x{i}.json~")
            assert not await m.s.threads.has(db, "c", [f"x{i}"])
            await trio.sleep(rng.uniform(0, 0.1))
            for _ in range(2):  # each read opens and releases the local file
                assert (await value(m, f"backup{seed}/c/x{i}.json~"))["v"] == i
        await trio.sleep(0.3)  # every event has arrived
        coll = await m.resolve(f"backup{seed}/c")
        for i in range(12):
            attr = await m.resolve(f"backup{seed}/c/x{i}.json~")
            m.vfs.forget(attr.ino, 10**6)  # the kernel forgets the inode
            assert (await value(m, f"backup{seed}/c/x{i}.json~"))["v"] == i
        names = [n for n, _ in await m.vfs.readdir(coll.ino)]
        assert names == [".schema.json", *sorted(f"x{i}.json~" for i in range(12))]
        assert await m.s.threads.find(db, "c") == []

    run_late(config, tmp_path, seed, body)


def test_editor_save_patterns_never_lose_bytes(config: HubConfig, tmp_path: Path) -> None:
    """Random editor saves of one instance (in place; write ``x.json.tmp`` and rename it over
    ``x.json``; vim's ``mv x.json x.json~`` then a new ``x.json``), with random pauses while
    another client changes another instance of the collection: after every save the hub and
    the mount show the newest bytes and the backup holds the previous ones."""
    rng = random.Random(7)

    async def body(m: Mount) -> None:
        db = await setup(m, "editor")
        c = "editor/c"
        await m.write(f"{c}/x.json", b'{"v": 0}')
        backup: int | None = None
        for v in range(1, 41):
            pattern = rng.choice(["inplace", "atomic", "backup"])
            data = json.dumps({"v": v, "pattern": pattern}).encode()
            if pattern == "inplace":
                await m.write(f"{c}/x.json", data)
            elif pattern == "atomic":
                await m.write(f"{c}/x.json.tmp", data)
                await m.rename(f"{c}/x.json.tmp", f"{c}/x.json")
            else:
                await m.rename(f"{c}/x.json", f"{c}/x.json~")
                backup = v - 1
                await trio.sleep(rng.uniform(0, 0.05))
                await m.write(f"{c}/x.json", data)
            await m.s.threads.save(db, "c", [{"_id": "other", "n": v}])
            await trio.sleep(rng.uniform(0, 0.1))
            assert (await m.s.threads.find_by_id(db, "c", "x"))["v"] == v
            assert (await value(m, f"{c}/x.json"))["v"] == v
            if backup is not None:
                assert (await value(m, f"{c}/x.json~"))["v"] == backup
        await trio.sleep(0.3)
        assert (await value(m, f"{c}/x.json"))["v"] == 40
        expected = [".schema.json", "other.json", "x.json"] + (["x.json~"] if backup else [])
        assert await m.ls(c) == expected

    run_late(config, tmp_path, 3, body)


def test_writer_of_a_replaced_or_removed_file_changes_nothing(
    config: HubConfig,
    tmp_path: Path,
) -> None:
    """As on a local filesystem, a descriptor of a file that was then replaced by a rename or
    removed writes to that old file only: closing it does not bring its bytes back."""

    async def body(m: Mount) -> None:
        db = await setup(m, "orphans")
        await m.write("orphans/c/x.json", b'{"v": 1}')
        fh = await m.vfs.open((await m.resolve("orphans/c/x.json")).ino, os.O_WRONLY | os.O_TRUNC)
        await m.vfs.write(fh, 0, b'{"v": 2}')
        await m.write("orphans/c/x.json.tmp", b'{"v": 3}')
        await m.rename("orphans/c/x.json.tmp", "orphans/c/x.json")
        await m.vfs.flush(fh)
        await m.vfs.release(fh)
        assert (await m.s.threads.find_by_id(db, "c", "x"))["v"] == 3
        assert (await value(m, "orphans/c/x.json"))["v"] == 3
        fh = await m.vfs.open((await m.resolve("orphans/c/x.json")).ino, os.O_WRONLY | os.O_TRUNC)
        await m.vfs.write(fh, 0, b'{"v": 4}')
        await m.vfs.unlink((await m.resolve("orphans/c")).ino, "x.json")
        await m.vfs.flush(fh)
        await m.vfs.release(fh)
        assert await m.s.threads.find(db, "c") == []
        assert await m.ls("orphans/c") == [".schema.json"]

    run_late(config, tmp_path, 4, body)


BAD_SCHEMAS = [
    # (schema, what the validator says): refused by the JSON Schema meta-schema
    ({"type": "nonsense"}, "'nonsense' is not valid"),
    ({"properties": {"_id": {"type": "string"}}, "required": "title"}, "'title' is not of type"),
    # refused by the hub only: the _id rule and an unknown draft
    ({"properties": {"_id": {"type": "integer"}}}, "_id property must be a string"),
    ({"$schema": "http://example.com/draft-99/schema#"}, "unsupported JSON Schema draft"),
]


@pytest.mark.parametrize(("schema", "message"), BAD_SCHEMAS)
def test_refused_schema_is_einval_and_the_schema_stays(
    config: HubConfig,
    tmp_path: Path,
    schema: dict[str, Any],
    message: str,
) -> None:
    """A JSON Schema that is not valid, or that the hub refuses, fails ``close()`` with
    EINVAL; reading ``.schema.json`` then shows the collection's schema, and the validator's
    message is in ``status()["last_errors"]``."""

    async def body(m: Mount) -> None:
        name = f"schemas{BAD_SCHEMAS.index((schema, message))}"
        db = await setup(m, name)
        path = f"{name}/c/.schema.json"
        before = await m.read(path)
        with pytest.raises(errors.InvalidArgument, match=message):
            await m.write(path, json.dumps(schema).encode())
        assert await m.read(path) == before
        assert (await m.resolve(path)).size == len(before)
        last = m.vfs.status()["last_errors"]
        assert isinstance(last, list) and any(message in e for e in last), last
        assert (await m.s.threads.get_collection(db, "c"))["schema"] == json.loads(before)
        await m.write(f"{name}/c/a.json", b'{"v": 1}')  # the collection still works
        assert (await value(m, f"{name}/c/a.json"))["v"] == 1

    run_late(config, tmp_path, 5, body)


BIG = 50_000_000  # two of these pass the gRPC message limit (64 MiB) of one Find answer


def test_large_instances_are_listed_and_read(config: HubConfig, tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        db = await setup(m, "large")
        for k in range(2):
            await m.s.threads.create(db, "c", [{"_id": f"big{k}", "blob": str(k) * BIG}])
        await m.s.threads.create(db, "c", [{"_id": f"small{k}", "k": k} for k in range(5)])
        entries = dict(await m.vfs.readdir((await m.resolve("large/c")).ino))
        assert sorted(entries) == [".schema.json", "big0.json", "big1.json"] + [
            f"small{k}.json" for k in range(5)
        ]
        data = await m.read("large/c/big1.json")
        assert entries["big1.json"].size == len(data) > BIG
        assert json.loads(data)["blob"] == "1" * BIG
        assert (await value(m, "large/c/small3.json"))["k"] == 3

    run_late(config, tmp_path, 6, body)


NAMES = ["a.json", "b.json", "a.json~", "b.json.tmp"]
OPS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.integers(0, 99)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("unlink"), st.sampled_from(NAMES), st.just(0)),
    st.tuples(st.just("pause"), st.just(""), st.integers(0, 60)),
)
_examples = iter(range(10**6))


class Model:
    """What the collection should hold: per name its ``v`` and the ``_id`` its bytes carry
    (None: none written), and which names are instances in the hub."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, str | None]] = {}

    def write(self, name: str, v: int) -> None:
        self.files[name] = (v, None)

    def rename(self, src: str, dst: str) -> bool:
        """Apply a rename; False when the mount must refuse it (EINVAL, nothing changes)."""
        if src == dst:
            return True
        v, carried = self.files[src]
        new_id = instance_id(dst)
        if new_id is not None and instance_id(src) is None and carried not in (None, new_id):
            return False  # the bytes name another _id
        if instance_id(src) is not None:
            carried = new_id if new_id is not None else instance_id(src)
        elif new_id is not None:
            carried = new_id
        del self.files[src]
        self.files[dst] = (v, carried)
        return True

    def hub(self) -> dict[str, int]:
        return {instance_id(n): v for n, (v, _) in self.files.items() if instance_id(n)}  # type: ignore[misc]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(OPS, min_size=5, max_size=25))
def test_random_edits_match_a_model(config: HubConfig, tmp_path: Path, ops: list[Any]) -> None:
    """Random writes, renames between instance and local names, removals and pauses, with the
    hub's answers late: after every step the mount's listing and bytes and the hub's instances
    are what a model of the rules in docs/SEMANTICS.md says."""
    n = next(_examples)
    tmp = tmp_path / f"ex{n}"

    async def body(m: Mount) -> None:
        db_name = f"model{n}"
        db = await setup(m, db_name)
        c, model = f"{db_name}/c", Model()
        for op, a, b in ops:
            if op == "pause":
                await trio.sleep(b / 1000)
                continue
            if op == "write":
                await m.write(f"{c}/{a}", json.dumps({"v": b}).encode())
                model.write(a, b)
            elif a not in model.files:
                continue
            elif op == "unlink":
                await m.vfs.unlink((await m.resolve(c)).ino, a)
                del model.files[a]
            elif model.rename(a, b):
                await m.rename(f"{c}/{a}", f"{c}/{b}")
            else:
                with pytest.raises(errors.InvalidArgument):
                    await m.rename(f"{c}/{a}", f"{c}/{b}")
            assert await m.ls(c) == sorted([".schema.json", *model.files])
            for name, (v, _) in model.files.items():
                assert (await value(m, f"{c}/{name}"))["v"] == v, (name, ops)
            stored = {i["_id"]: i["v"] for i in await m.s.threads.find(db, "c")}
            assert stored == model.hub(), ops

    run_late(config, tmp, n, body)


def test_a_schema_written_through_the_mount_keeps_the_validator_and_filter(
    config: HubConfig, tmp_path: Path
) -> None:
    """UpdateCollection replaces the whole config: rewriting ``.schema.json`` must send the
    collection's write validator and read filter back, not drop them."""

    async def body(m: Mount) -> None:
        tid = await setup(m, "scripted")
        info = await m.s.threads.get_collection(tid, "c")
        await m.s.threads.update_collection(
            tid,
            "c",
            info["schema"],
            info["indexes"],
            write_validator="return instance.ok === true",
            read_filter="return instance",
        )
        schema = dict(info["schema"])
        schema["description"] = "edited through the mount"
        await m.write("scripted/c/.schema.json", json.dumps(schema).encode())
        after = await m.s.threads.get_collection(tid, "c")
        assert after["schema"]["description"] == "edited through the mount"
        assert after["write_validator"] == "return instance.ok === true"
        assert after["read_filter"] == "return instance"

    run_late(config, tmp_path, 7, body)
