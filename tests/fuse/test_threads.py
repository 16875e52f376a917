"""``threads/`` in a real FUSE mount over a real hub subprocess: shell writes and reads, vim,
``sed -i``, jq, python json.dump, cp, rsync, EINVAL on bad input with nothing changed, another
client's changes showing within a second without remount, and a 10k-instance collection."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess

from .conftest import sh

T = TypeVar("T")

# the mount daemon of these tests: the package's Vfs over a HubSession, served by run_mount
RUNNER = """
import logging, signal, sys
from pathlib import Path
import trio
from bucketfs.fuse.mount import run_mount
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.vfs import Vfs

async def main(mnt, cache, address, key, secret):
    async with await HubSession.connect(HubConfig(address, key, secret, None)) as session:
        vfs = Vfs(session, cache_dir=Path(cache), cache_max_bytes=1 << 28)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                async def watch():
                    async for _ in signals:
                        nursery.cancel_scope.cancel()
                nursery.start_soon(watch)
                await run_mount(Path(mnt), vfs, read_only=False, allow_other=False, debug=False,
                                ready=lambda: print("ready", flush=True))
                nursery.cancel_scope.cancel()

logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
trio.run(main, *sys.argv[1:])
"""


class HubMount:
    def __init__(self, base: Path, hub: HubProcess) -> None:
        key, secret = hub.create_key(type="account")
        self.config = HubConfig(hub.address, key, secret, None)
        self.mnt = base / "mnt"
        self.mnt.mkdir()
        self.log_path = base / "mount.log"
        self._log = self.log_path.open("w")
        args = [str(self.mnt), str(base / "cache"), hub.address, key, secret]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", self.log()
        self.threads = self.mnt / "threads"

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], check=False)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._log.close()

    def api(self, body: Callable[[HubSession], Awaitable[T]]) -> T:
        """Run ``body`` with a second client's session (direct gRPC, not through the mount)."""

        async def main() -> T:
            async with await HubSession.connect(self.config) as session:
                return await body(session)

        return trio.run(main)

    def db(self, name: str) -> str:
        async def body(s: HubSession) -> str:
            found = await s.users.get_thread(name)
            assert found is not None
            return found[0]

        return self.api(body)


@pytest.fixture(scope="module")
def hm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubMount]:
    base = tmp_path_factory.mktemp("threads")
    with HubProcess() as hub:
        m = HubMount(base, hub)
        try:
            yield m
        finally:
            m.stop()
        log = m.log()
    bad = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    assert not bad, log


@pytest.fixture
def coll(hm: HubMount, request: pytest.FixtureRequest) -> Path:
    """A fresh DB (named after the test) with a collection ``c``."""
    name = request.node.name.replace("_", "-").removeprefix("test-")[:40]
    path = hm.threads / name / "c"
    path.mkdir(parents=True)
    return path


def instance(hm: HubMount, coll: Path, id_: str) -> dict[str, Any]:
    db = hm.db(coll.parent.name)
    return hm.api(lambda s: s.threads.find_by_id(db, coll.name, id_))


def test_shell_write_read_ls_rm(hm: HubMount, coll: Path) -> None:
    sh('echo \'{"title": "milk"}\' > first.json', coll)
    stored = instance(hm, coll, "first")
    text = (coll / "first.json").read_text()
    assert json.loads(text) == stored and text == (coll / "first.json").read_text()
    assert text == json.dumps(stored, sort_keys=True, indent=2) + "\n"
    st = os.stat(coll / "first.json")
    assert st.st_size == len(text.encode()) and st.st_mtime_ns == stored["_mod"]
    assert sh("ls -l first.json", coll).split()[4] == str(len(text.encode()))
    assert sorted(os.listdir(coll)) == [".schema.json", "first.json"]
    sh("rm first.json", coll)
    assert sorted(os.listdir(coll)) == [".schema.json"]
    sh("cd .. && rmdir c && cd .. && rmdir " + coll.parent.name, coll)
    assert coll.parent.name not in os.listdir(hm.threads)


def test_editors_and_tools(hm: HubMount, coll: Path, tmp_path: Path) -> None:
    sh('echo \'{"title": "milk", "n": 1}\' > a.json', coll)
    # vim: swap files (.a.json.swp), then a write in place
    sh("vim -u NONE -N -i NONE -es -c '%s/milk/oat/' -c 'wq' a.json", coll)
    assert instance(hm, coll, "a")["title"] == "oat"
    # vim with a backup: the 4913 write test, a.json renamed to a.json~, a new a.json written
    vim = "vim -u NONE -N -i NONE -es -c 'set backup backupcopy=auto backupskip='"
    sh(f"{vim} -c '%s/oat/oat milk/' -c 'wq' a.json", coll)
    assert instance(hm, coll, "a")["title"] == "oat milk"
    assert json.loads((coll / "a.json~").read_text())["title"] == "oat"  # a local file
    db = hm.db(coll.parent.name)
    assert [i["_id"] for i in hm.api(lambda s: s.threads.find(db, "c"))] == ["a"]
    sh("rm a.json~", coll)
    sh("sed -i 's/oat milk/soy/' a.json", coll)
    assert instance(hm, coll, "a")["title"] == "soy"
    sh("jq '.n = 2' a.json > tmp && mv tmp a.json", coll)
    assert instance(hm, coll, "a")["n"] == 2
    code = "import json; json.dump({'title': 'py'}, open('b.json', 'w'))"
    sh(f'{sys.executable} -c "{code}"', coll)
    assert instance(hm, coll, "b")["title"] == "py"
    (tmp_path / "c.json").write_text('{"title": "copied"}')
    (tmp_path / "d.json").write_text('{"title": "synced"}')
    sh(f"cp {tmp_path}/c.json . && rsync {tmp_path}/d.json .", coll)
    assert instance(hm, coll, "c")["title"] == "copied"
    assert instance(hm, coll, "d")["title"] == "synced"
    sh(f"rsync {tmp_path}/c.json d.json", coll)  # replaces d via .d.json.XXXXXX + rename
    assert instance(hm, coll, "d") | {"_mod": 0} == {"_id": "d", "title": "copied", "_mod": 0}
    assert sorted(os.listdir(coll)) == [".schema.json", "a.json", "b.json", "c.json", "d.json"]


def test_bad_input_is_einval_and_changes_nothing(hm: HubMount, coll: Path, tmp_path: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"_id": {"type": "string"}, "title": {"type": "string"}},
        "required": ["title"],
    }
    (coll / ".schema.json").write_text(json.dumps(schema))
    assert json.loads((coll / ".schema.json").read_text())["required"] == ["title"]
    sh('echo \'{"title": "kept"}\' > a.json', coll)
    before = (coll / "a.json").read_bytes()
    for bad in ("{bad json", "[1]", '{"title": 3}', '{"_id": "zz", "title": "x"}'):
        with pytest.raises(OSError) as exc, open(coll / "a.json", "w") as f:  # close() fails
            f.write(bad)
        assert exc.value.errno == errno.EINVAL, bad
        assert (coll / "a.json").read_bytes() == before
    with pytest.raises(OSError) as exc, open(coll / "a.json", "w") as f:  # fsync: the same
        f.write('{"no": "title"}')
        f.flush()
        os.fsync(f.fileno())
    assert exc.value.errno == errno.EINVAL
    assert (coll / "a.json").read_bytes() == before
    (tmp_path / "new.json").write_text("nope")
    res = subprocess.run(
        ["cp", tmp_path / "new.json", "."], cwd=coll, capture_output=True, text=True
    )
    assert res.returncode != 0 and "Invalid argument" in res.stderr
    assert sorted(os.listdir(coll)) == [".schema.json", "a.json"]
    assert "correspond to schema" in hm.log()


def test_other_clients_changes_show_within_a_second(hm: HubMount, coll: Path) -> None:
    db = hm.db(coll.parent.name)
    sh("echo '{\"v\": 0}' > x.json", coll)
    assert os.listdir(coll)  # the DB is looked up: its Listen stream runs
    time.sleep(1.0)  # and is subscribed by now

    def within_a_second(check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 1.0
        while not check():
            assert time.monotonic() < deadline, "the mount did not show the change in 1 s"
            time.sleep(0.02)

    def read(name: str) -> dict[str, Any] | None:
        try:
            return json.loads((coll / name).read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None

    assert read("x.json") == {"_id": "x", "v": 0, "_mod": read("x.json")["_mod"]}  # type: ignore[index]
    hm.api(lambda s: s.threads.create(db, "c", [{"_id": "y", "v": 1}]))
    within_a_second(lambda: "y.json" in os.listdir(coll) and (read("y.json") or {}).get("v") == 1)
    hm.api(lambda s: s.threads.save(db, "c", [{"_id": "x", "v": 22}]))
    within_a_second(lambda: (read("x.json") or {}).get("v") == 22)
    assert os.stat(coll / "x.json").st_size == len((coll / "x.json").read_bytes())
    hm.api(lambda s: s.threads.delete(db, "c", ["y"]))
    within_a_second(lambda: "y.json" not in os.listdir(coll) and read("y.json") is None)


def test_ten_thousand_instances_listed(hm: HubMount, coll: Path) -> None:
    db = hm.db(coll.parent.name)

    async def fill(s: HubSession) -> None:
        for start in range(0, 10_000, 1000):
            await s.threads.create(
                db, "c", [{"_id": f"{k:05d}"} for k in range(start, start + 1000)]
            )

    hm.api(fill)
    names = sorted(os.listdir(coll))
    assert len(names) == 10_001 and names[1] == "00000.json" and names[-1] == "09999.json"
    sizes = {line.split()[-1]: int(line.split()[4]) for line in sh("ls -l", coll).splitlines()[1:]}
    assert sizes["00042.json"] == len((coll / "00042.json").read_bytes())


def test_vim_is_installed() -> None:
    assert shutil.which("vim") and shutil.which("jq") and shutil.which("rsync")


def test_instance_renamed_away_stays_a_local_file(hm: HubMount, coll: Path) -> None:
    """``mv x.json x.json~`` right after writing and reading x.json (vim's backup), at random
    pauses: the instance is deleted in the hub, the renamed file stays readable and listed
    (the hub's Delete event arrives while the rename still waits for the Delete answer)."""
    rng = random.Random(12)
    db = hm.db(coll.parent.name)
    for i in range(12):
        sh(f"echo '{{\"v\": {i}}}' > x{i}.json && cat x{i}.json >/dev/null", coll)
        os.rename(coll / f"x{i}.json", coll / f"x{i}.json~")
        deadline = time.monotonic() + rng.uniform(0.5, 1.5)
        while time.monotonic() < deadline:  # reads open and release it; ls lists it
            assert json.loads((coll / f"x{i}.json~").read_text())["v"] == i
            assert f"x{i}.json~" in os.listdir(coll)
            time.sleep(rng.uniform(0, 0.1))
    backups = sorted(f"x{i}.json~" for i in range(12))
    assert sorted(os.listdir(coll)) == [".schema.json", *backups]
    assert hm.api(lambda s: s.threads.find(db, "c")) == []
    sh("rm x*.json~", coll)
    assert os.listdir(coll) == [".schema.json"]


def test_editor_save_patterns_never_lose_bytes(hm: HubMount, coll: Path) -> None:
    """Random saves of one instance the ways editors and tools save (in place; a temporary
    file renamed over it; vim's ``mv x.json x.json~`` and a new ``x.json``) at random pauses:
    after each, the hub and the mount have the newest bytes and the backup the previous."""
    rng = random.Random(13)
    db = hm.db(coll.parent.name)
    x, tmp, backup = coll / "x.json", coll / "x.json.tmp", coll / "x.json~"
    x.write_text('{"v": 0}')
    kept: int | None = None
    for v in range(1, 31):
        pattern = rng.choice(["inplace", "atomic", "backup"])
        text = json.dumps({"v": v, "pattern": pattern})
        if pattern == "inplace":
            x.write_text(text)
        elif pattern == "atomic":
            tmp.write_text(text)
            os.replace(tmp, x)
        else:
            os.replace(x, backup)
            kept = v - 1
            time.sleep(rng.uniform(0, 0.05))
            x.write_text(text)
        time.sleep(rng.uniform(0, 0.2))
        assert instance(hm, coll, "x")["v"] == v
        assert json.loads(x.read_text())["v"] == v
        if kept is not None:
            assert json.loads(backup.read_text())["v"] == kept
    time.sleep(0.5)
    assert json.loads(x.read_text())["v"] == 30
    assert [i["_id"] for i in hm.api(lambda s: s.threads.find(db, "c"))] == ["x"]


def test_refused_schema_is_einval_and_shows_the_schema(hm: HubMount, coll: Path) -> None:
    """A schema that is not a valid JSON Schema (refused before the hub is asked) or that the
    hub refuses: close() fails with EINVAL, the file shows the collection's schema again, the
    validator's message is in the log."""
    db = hm.db(coll.parent.name)
    path = coll / ".schema.json"
    before = path.read_bytes()
    refused = [
        ({"type": "nonsense"}, "invalid collection schema: 'nonsense' is not valid"),
        ({"properties": {"_id": {"type": "integer"}}}, "_id property must be a string"),
    ]
    for schema, message in refused:
        with pytest.raises(OSError) as exc, open(path, "w") as f:  # close() fails
            f.write(json.dumps(schema))
        assert exc.value.errno == errno.EINVAL
        assert path.read_bytes() == before and os.stat(path).st_size == len(before)
        assert message in hm.log()
        assert hm.api(lambda s: s.threads.get_collection(db, "c"))["schema"] == json.loads(before)


def test_large_instances_are_listed_and_read(hm: HubMount, coll: Path) -> None:
    """Two 50 MB instances do not fit one Find answer (64 MiB): the listing pages by size."""
    db = hm.db(coll.parent.name)
    big = 50_000_000
    for k in range(2):
        hm.api(lambda s, k=k: s.threads.create(db, "c", [{"_id": f"big{k}", "blob": str(k) * big}]))
    hm.api(lambda s: s.threads.create(db, "c", [{"_id": "small", "v": 1}]))
    assert sorted(os.listdir(coll)) == [".schema.json", "big0.json", "big1.json", "small.json"]
    sizes = {line.split()[-1]: int(line.split()[4]) for line in sh("ls -l", coll).splitlines()[1:]}
    data = (coll / "big1.json").read_bytes()
    assert sizes["big1.json"] == len(data) > big
    assert json.loads(data)["blob"] == "1" * big
    assert json.loads((coll / "small.json").read_text())["v"] == 1
