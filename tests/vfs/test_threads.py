"""The ``threads/`` namespace at the vfs level, over a real hub subprocess: DBs and collections
as directories, instances as JSON files, commits on close, EINVAL on bad input with nothing
changed, local temporary files and rename, the read-only buckets collection, paging."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from bucketfs import errors
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.faults import FaultySession
from bucketfs.testing.hubproc import HubProcess
from bucketfs.vfs import Attr, Vfs
from bucketfs.vfs.nodes import THREADS_INO
from bucketfs.vfs.threadjson import file_name, instance_id, render, rendered_size

T = TypeVar("T")
STRICT = {
    "type": "object",
    "properties": {"_id": {"type": "string"}, "title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    with HubProcess() as process:
        yield process


@pytest.fixture(scope="module")
def config(hub: HubProcess) -> HubConfig:
    key, secret = hub.create_key(type="account")
    return HubConfig(hub.address, key, secret, None)


class Mount:
    """A vfs over a session, with helpers that speak in paths below ``threads/``."""

    def __init__(self, vfs: Vfs, session: HubSession) -> None:
        self.vfs, self.s = vfs, session

    async def resolve(self, path: str) -> Attr:
        ino, attr = THREADS_INO, await self.vfs.getattr(THREADS_INO)
        for part in [p for p in path.split("/") if p]:
            attr = await self.vfs.lookup(ino, part)
            ino = attr.ino
        return attr

    async def parent(self, path: str) -> tuple[int, str]:
        head, _, name = path.rpartition("/")
        return (await self.resolve(head)).ino, name

    async def write(self, path: str, data: bytes, *, fsync: bool = False) -> None:
        parent, name = await self.parent(path)
        fh, _ = await self.vfs.create(parent, name, 0o644, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            await self.vfs.write(fh, 0, data)
            if fsync:
                await self.vfs.fsync(fh)
            await self.vfs.flush(fh)
        finally:
            await self.vfs.release(fh)

    async def read(self, path: str) -> bytes:
        fh = await self.vfs.open((await self.resolve(path)).ino, os.O_RDONLY)
        out = bytearray()
        while chunk := await self.vfs.read(fh, len(out), 4096):
            out += chunk
        await self.vfs.release(fh)
        return bytes(out)

    async def ls(self, path: str) -> list[str]:
        return [n for n, _ in await self.vfs.readdir((await self.resolve(path)).ino)]

    async def mkdir(self, path: str) -> None:
        parent, name = await self.parent(path)
        await self.vfs.mkdir(parent, name, 0o755)

    async def rename(self, src: str, dst: str) -> None:
        sp, sn = await self.parent(src)
        dp, dn = await self.parent(dst)
        await self.vfs.rename(sp, sn, dp, dn)

    async def db(self, name: str) -> str:
        found = await self.s.users.get_thread(name)
        assert found is not None
        return found[0]


def run(
    config: HubConfig, tmp: Path, body: Callable[[Mount], Awaitable[T]], read_only: bool = False
) -> T:
    async def main() -> T:
        async with await HubSession.connect(config) as session:
            vfs = Vfs(
                session, cache_dir=tmp / "cache", cache_max_bytes=1 << 26, read_only=read_only
            )
            await vfs.start()
            try:
                return await body(Mount(vfs, session))
            finally:
                await vfs.close()

    return trio.run(main)


def pretty(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2) + "\n").encode()


def test_dbs_collections_and_instances(config: HubConfig, tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        await m.mkdir("notes")
        assert "notes" in await m.ls("")
        await m.mkdir("notes/todo")
        with pytest.raises(errors.AlreadyExists):  # EEXIST
            await m.mkdir("notes")
        with pytest.raises(errors.AlreadyExists):
            await m.mkdir("notes/todo")
        assert await m.ls("notes") == ["todo"]
        assert await m.ls("notes/todo") == [".schema.json"]
        schema = json.loads(await m.read("notes/todo/.schema.json"))
        assert schema["properties"]["_id"] == {"type": "string"}
        await m.write("notes/todo/first.json", b'{"title": "milk", "n": 1}')
        stored = await m.s.threads.find_by_id(await m.db("notes"), "todo", "first")
        assert stored["title"] == "milk" and stored["_id"] == "first"
        data = await m.read("notes/todo/first.json")
        assert data == pretty(stored) and data == await m.read("notes/todo/first.json")
        attr = await m.resolve("notes/todo/first.json")
        assert attr.size == len(data) and attr.mtime == stored["_mod"]
        entries = dict(await m.vfs.readdir((await m.resolve("notes/todo")).ino))
        assert entries["first.json"].size == len(data)
        await m.write("notes/todo/first.json", b'{"title": "oat milk"}')  # Save
        assert json.loads(await m.read("notes/todo/first.json"))["title"] == "oat milk"
        with pytest.raises(errors.NotEmpty):
            await m.vfs.rmdir((await m.resolve("notes")).ino, "todo")
        with pytest.raises(errors.NotEmpty):
            await m.vfs.rmdir(THREADS_INO, "notes")
        await m.vfs.unlink((await m.resolve("notes/todo")).ino, "first.json")
        assert not await m.s.threads.has(await m.db("notes"), "todo", ["first"])
        with pytest.raises(errors.NotFound):
            await m.resolve("notes/todo/first.json")
        await m.vfs.rmdir((await m.resolve("notes")).ino, "todo")
        await m.vfs.rmdir(THREADS_INO, "notes")
        assert "notes" not in await m.ls("")
        with pytest.raises(errors.InvalidArgument):
            await m.vfs.mkdir(THREADS_INO, "bad name!", 0o755)

    run(config, tmp_path, body)


def test_bad_input_is_einval_and_changes_nothing(config: HubConfig, tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        await m.mkdir("strict")
        await m.mkdir("strict/items")
        db = await m.db("strict")
        await m.s.threads.update_collection(db, "items", STRICT)
        await m.write("strict/items/a.json", b'{"title": "kept"}')
        before = await m.read("strict/items/a.json")
        bad = [b'{"title": ', b"[1, 2]", b'{"title": 5}', b'{"title": "x", "_id": "b"}']
        for data in bad:
            with pytest.raises(errors.InvalidArgument):
                await m.write("strict/items/a.json", data)
            assert await m.read("strict/items/a.json") == before
        with pytest.raises(errors.InvalidArgument, match="correspond to schema"):
            await m.write("strict/items/a.json", b'{"other": 1}', fsync=True)
        with pytest.raises(errors.InvalidArgument):  # a new id: no instance appears
            await m.write("strict/items/new.json", b"not json")
        assert await m.ls("strict/items") == [".schema.json", "a.json"]
        assert not await m.s.threads.has(db, "items", ["new"])
        last = m.vfs.status()["last_errors"]
        assert isinstance(last, list) and any("correspond to schema" in e for e in last)
        # _mod is shown but stripped before Save when the schema forbids extra properties
        edited = json.loads(before)
        assert "_mod" in edited
        edited["title"] = "changed"
        await m.write("strict/items/a.json", json.dumps(edited).encode())
        assert json.loads(await m.read("strict/items/a.json"))["title"] == "changed"

    run(config, tmp_path, body)


def test_schema_file_is_writable(config: HubConfig, tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        await m.mkdir("schemas")
        await m.mkdir("schemas/c")
        await m.write("schemas/c/.schema.json", json.dumps(STRICT).encode())
        info = await m.s.threads.get_collection(await m.db("schemas"), "c")
        assert info["schema"]["required"] == ["title"]
        assert await m.read("schemas/c/.schema.json") == pretty(info["schema"])
        with pytest.raises(errors.InvalidArgument):
            await m.write("schemas/c/.schema.json", b"{broken")
        with pytest.raises(errors.InvalidArgument):
            await m.write("schemas/c/b.json", b'{"nope": 1}')

    run(config, tmp_path, body)


def test_temporary_files_and_rename(config: HubConfig, tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        await m.mkdir("edits")
        await m.mkdir("edits/c")
        db = await m.db("edits")
        await m.write("edits/c/a.json", b'{"v": 1}')
        await m.write("edits/c/.a.json.swp", b"swap bytes")  # a local file, not an instance
        await m.write("edits/c/4913", b"")
        assert await m.ls("edits/c") == [".a.json.swp", ".schema.json", "4913", "a.json"]
        assert await m.read("edits/c/.a.json.swp") == b"swap bytes"
        assert [i["_id"] for i in await m.s.threads.find(db, "c")] == ["a"]
        # sed -i / rsync: temporary file renamed onto the instance
        await m.write("edits/c/sedXYZ", b'{"v": 2}')
        await m.rename("edits/c/sedXYZ", "edits/c/a.json")
        assert (await m.s.threads.find_by_id(db, "c", "a"))["v"] == 2
        # a bad temporary file renamed onto an instance: EINVAL, both stay as they were
        await m.write("edits/c/tmp", b"{bad")
        with pytest.raises(errors.InvalidArgument):
            await m.rename("edits/c/tmp", "edits/c/a.json")
        assert await m.read("edits/c/tmp") == b"{bad"
        assert (await m.s.threads.find_by_id(db, "c", "a"))["v"] == 2
        # vim's backup: instance renamed away (a local copy) and written anew
        await m.rename("edits/c/a.json", "edits/c/a.json~")
        assert not await m.s.threads.has(db, "c", ["a"])
        assert json.loads(await m.read("edits/c/a.json~"))["v"] == 2
        await m.write("edits/c/a.json", b'{"v": 3}')
        for name in ("a.json~", ".a.json.swp", "4913", "tmp"):
            await m.vfs.unlink((await m.resolve("edits/c")).ino, name)
        assert await m.ls("edits/c") == [".schema.json", "a.json"]
        # rename between ids moves the instance
        await m.rename("edits/c/a.json", "edits/c/b.json")
        assert [i["_id"] for i in await m.s.threads.find(db, "c")] == ["b"]
        assert json.loads(await m.read("edits/c/b.json"))["_id"] == "b"
        cdir = (await m.resolve("edits/c")).ino
        with pytest.raises(errors.Unsupported):  # EPERM
            await m.vfs.symlink(cdir, "link", "b.json")
        with pytest.raises(errors.Unsupported):
            await m.vfs.mkdir(cdir, "sub", 0o755)
        with pytest.raises(errors.PermissionDenied):  # EACCES
            await m.vfs.unlink(cdir, ".schema.json")
        await m.mkdir("edits/d")
        with pytest.raises(errors.CrossDevice):  # EXDEV
            await m.rename("edits/c/b.json", "edits/d/b.json")

    run(config, tmp_path, body)


def test_buckets_collection_is_read_only(config: HubConfig, tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        await m.vfs.mkdir(2, "bk", 0o755)  # a bucket: the buckets DB and collection appear
        names = await m.ls("buckets/buckets")
        assert len([n for n in names if n.endswith(".json")]) == 2
        inst = next(n for n in names if n != ".schema.json")
        assert json.loads(await m.read(f"buckets/buckets/{inst}"))["name"] == "bk"
        parent = (await m.resolve("buckets/buckets")).ino
        with pytest.raises(errors.PermissionDenied):  # EACCES
            await m.write("buckets/buckets/x.json", b"{}")
        with pytest.raises(errors.PermissionDenied):
            await m.vfs.unlink(parent, inst)
        with pytest.raises(errors.PermissionDenied):
            await m.vfs.open((await m.resolve(f"buckets/buckets/{inst}")).ino, os.O_WRONLY)
        with pytest.raises(errors.PermissionDenied):
            await m.vfs.rmdir((await m.resolve("buckets")).ino, "buckets")

    run(config, tmp_path, body)


def test_read_only_mount(config: HubConfig, tmp_path: Path) -> None:
    async def setup(m: Mount) -> None:
        await m.mkdir("ro")
        await m.mkdir("ro/c")
        await m.write("ro/c/a.json", b'{"v": 1}')

    async def body(m: Mount) -> None:
        assert json.loads(await m.read("ro/c/a.json"))["v"] == 1
        c = (await m.resolve("ro/c")).ino
        with pytest.raises(errors.ReadOnly):  # EROFS
            await m.vfs.mkdir(THREADS_INO, "other", 0o755)
        with pytest.raises(errors.ReadOnly):
            await m.write("ro/c/b.json", b"{}")
        with pytest.raises(errors.ReadOnly):
            await m.vfs.open((await m.resolve("ro/c/a.json")).ino, os.O_RDWR)
        with pytest.raises(errors.ReadOnly):
            await m.vfs.unlink(c, "a.json")
        with pytest.raises(errors.ReadOnly):
            await m.vfs.rmdir(THREADS_INO, "ro")

    run(config, tmp_path, setup)
    run(config, tmp_path, body, read_only=True)


def test_listing_pages_and_lookup_is_one_find(config: HubConfig, tmp_path: Path) -> None:
    async def body(m: Mount) -> None:
        await m.mkdir("big")
        await m.mkdir("big/c")
        db = await m.db("big")
        n = 2500  # more than two Find pages
        for start in range(0, n, 500):
            batch = [{"_id": f"i{k:05d}", "k": k} for k in range(start, start + 500)]
            await m.s.threads.create(db, "c", batch)
        names = await m.ls("big/c")
        assert len(names) == n + 1 and names[1] == "i00000.json"
        with pytest.raises(errors.NotADirectory):  # ENOTDIR
            await m.vfs.readdir((await m.resolve("big/c/i00001.json")).ino)
        other = Vfs(m.s, cache_dir=tmp_path / "other", cache_max_bytes=1 << 20)
        await other.start()
        before = other.threads.listings.copy()
        await Mount(other, m.s).resolve("big/c/i01234.json")
        assert other.threads.listings == before  # no listing was fetched
        await other.close()

    run(config, tmp_path, body)


class Kernel:
    """Records what the vfs asks the kernel to invalidate (the fuse layer's part)."""

    def __init__(self) -> None:
        self.inodes: list[int] = []
        self.entries: list[tuple[int, str]] = []

    async def invalidate_inode(self, ino: int) -> None:
        self.inodes.append(ino)

    def invalidate_entry(self, parent: int, name: str) -> None:
        self.entries.append((parent, name))


async def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    with trio.fail_after(seconds):
        while not check():
            await trio.sleep(0.02)


async def subscribed(vfs: Vfs, db: str) -> None:
    """Wait until the vfs takes ``db``'s Listen stream to be subscribed."""
    await wait_for(lambda: time.monotonic() >= vfs.threads.watched.get(db, float("inf")))


def test_listen_invalidates_and_reconnects(
    config: HubConfig, hub: HubProcess, tmp_path: Path
) -> None:
    async def body(m: Mount) -> None:
        kernel = Kernel()
        m.vfs.set_kernel_notifier(kernel)
        await m.mkdir("watched")
        await m.mkdir("watched/c")
        db = await m.db("watched")
        await subscribed(m.vfs, db)
        await m.write("watched/c/a.json", b'{"v": 1}')
        coll = (await m.resolve("watched/c")).ino
        a = (await m.resolve("watched/c/a.json")).ino
        await wait_for(lambda: m.vfs.watchers.events >= 1)  # our own Create
        assert await m.ls("watched/c") == [".schema.json", "a.json"]  # listing now cached
        seen = m.vfs.watchers.events
        await m.s.threads.create(db, "c", [{"_id": "b", "v": 2}])
        await wait_for(lambda: m.vfs.watchers.events > seen)
        assert await m.ls("watched/c") == [".schema.json", "a.json", "b.json"]  # within the TTL
        assert kernel.entries == []  # the kernel had no entry for b.json to drop
        await m.s.threads.save(db, "c", [{"_id": "a", "v": 10}])
        await wait_for(lambda: a in kernel.inodes)  # the kernel knows a.json: drop its data
        assert json.loads(await m.read("watched/c/a.json"))["v"] == 10
        await m.s.threads.delete(db, "c", ["a"])
        await wait_for(lambda: (coll, "a.json") in kernel.entries)
        with pytest.raises(errors.NotFound):
            await m.resolve("watched/c/a.json")
        # the hub goes away and comes back: the stream is reopened, changes show again
        await trio.to_thread.run_sync(hub.restart)
        await wait_for(lambda: m.vfs.watchers.reconnects >= 1)
        with trio.fail_after(60):
            while True:  # the channel may still be backing off from the refused connects
                try:
                    await m.s.users.list_threads()
                    break
                except errors.Unavailable:
                    await trio.sleep(0.5)
        seen = m.vfs.watchers.events
        for attempt in range(50):
            await m.s.threads.save(db, "c", [{"_id": "b", "v": 100 + attempt}])
            await trio.sleep(0.2)
            if m.vfs.watchers.events > seen:
                break
        assert m.vfs.watchers.events > seen
        assert m.vfs.status()["threads"]["listening"] == 1  # type: ignore[index]

    run(config, tmp_path, body)


def test_semantics_doc_threads_section() -> None:
    """Every row of the threads/ table in docs/SEMANTICS.md names existing tests that mention
    each errno of the row (by name or by the error class the errno table maps to it)."""
    import ast
    import errno as errno_mod
    import re

    from bucketfs.fuse.errno_table import ERRNO

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "SEMANTICS.md").read_text()
    section = doc.split("## threads/\n", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("|")][2:]
    assert len(rows) >= 8
    functions: dict[str, dict[str, str]] = {}
    for path in (
        "tests/vfs/test_threads.py",
        "tests/vfs/test_threads_races.py",
        "tests/fuse/test_threads.py",
    ):
        text = (root / path).read_text()
        functions[path] = {
            n.name: ast.get_source_segment(text, n) or ""
            for n in ast.parse(text).body
            if isinstance(n, ast.FunctionDef)
        }
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        sources = []
        for ref in re.findall(r"`(tests/[^`]+::\w+)`", cells[3]):
            path, name = ref.split("::")
            assert name in functions.get(path, {}), f"{ref} does not exist"
            sources.append(functions[path][name])
        assert sources, row
        for name in re.findall(r"\bE[A-Z]{2,}\b", cells[2]):
            code = getattr(errno_mod, name)
            ways = {name} | {cls.__name__ for cls, c in ERRNO.items() if c == code}
            assert any(w in src for w in ways for src in sources), (name, row)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_rendered_size_is_the_rendered_length(value: dict[str, Any]) -> None:
    assert rendered_size(value) == len(render(value))
    assert render(value) == pretty_any(value)


@given(st.text(max_size=300))
def test_file_names_map_back_to_ids(id_: str) -> None:
    name = file_name(id_)
    if name is not None:
        assert instance_id(name) == id_ and len(name.encode()) <= 255
    else:
        assert not id_ or id_.startswith(".") or "/" in id_ or "\0" in id_ or len(id_) > 61


def pretty_any(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def test_transient_failures_keep_staged_bytes_and_listen_recovers(
    config: HubConfig, tmp_path: Path
) -> None:
    async def main() -> None:
        async with await HubSession.connect(config) as session:
            faulty = FaultySession(session)
            vfs = Vfs(faulty, cache_dir=tmp_path / "cache", cache_max_bytes=1 << 26)
            await vfs.start()
            m = Mount(vfs, session)
            try:
                faulty.fail("threads.listen", errors.Unavailable, after_items=1)
                await m.mkdir("faults")
                await m.mkdir("faults/c")
                db = await m.db("faults")
                await subscribed(vfs, db)
                await m.write("faults/c/a.json", b'{"v": 1}')
                await wait_for(lambda: vfs.watchers.reconnects >= 1)  # broke after one event
                faulty.fail("threads.save", errors.Unavailable, count=2)
                with pytest.raises(errors.Unavailable):  # close() and the last release fail
                    await m.write("faults/c/a.json", b'{"v": 2}')
                assert (await session.threads.find_by_id(db, "c", "a"))["v"] == 1
                assert json.loads(await m.read("faults/c/a.json"))["v"] == 2  # still staged
                assert await vfs.flush_all(10)  # unmount pushes it
                assert (await session.threads.find_by_id(db, "c", "a"))["v"] == 2
                await subscribed(vfs, db)  # the stream was opened again
                assert faulty.calls["threads.listen"] == 2
                seen = vfs.watchers.events
                await session.threads.save(db, "c", [{"_id": "a", "v": 3}])
                await wait_for(lambda: vfs.watchers.events > seen)  # listening again
            finally:
                await vfs.close()

    trio.run(main)
