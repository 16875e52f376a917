"""A Hypothesis state machine: the same random operations on the mount and on a local directory
must give the same results and the same errors (DESIGN §7)."""

from __future__ import annotations

import itertools
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from bucketfs.testing.hubproc import HubProcess
from bucketfs.testing.mountproc import MountProcess

NAMES = ["a", "b", "c"]
PATHS = st.sampled_from([*NAMES, *(f"{d}/{n}" for d in NAMES for n in NAMES)])
DATA = st.binary(max_size=300).map(lambda b: b * 3) | st.sampled_from([b"", b"x" * 70_000])
OFFSETS = st.integers(min_value=0, max_value=100_000)
_counter = itertools.count()


def outcome(fn: Callable[[Path], object], root: Path) -> object:
    try:
        return ("ok", fn(root))
    except OSError as exc:
        return ("error", exc.errno)


def _write_at(path: Path, off: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, off)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _kind_and_size(path: Path) -> tuple[bool, int]:
    st = os.stat(path)
    is_dir = stat.S_ISDIR(st.st_mode)
    return is_dir, 0 if is_dir else st.st_size


def _list(path: Path) -> list[str]:
    return sorted(os.listdir(path))


class MountVersusLocal(RuleBasedStateMachine):
    bucket: Path  # set by the test before running

    @initialize()
    def fresh_dirs(self) -> None:
        n = next(_counter)
        self.mnt = self.bucket / f"ex{n}"
        self.local = Path(tempfile.mkdtemp(prefix="bfs-diff-"))
        self.mnt.mkdir()

    def teardown(self) -> None:
        if hasattr(self, "local"):
            shutil.rmtree(self.local, ignore_errors=True)

    def both(self, fn: Callable[[Path], object]) -> None:
        want = outcome(fn, self.local)
        got = outcome(fn, self.mnt)
        assert got == want, f"mount gave {got}, local gave {want}"

    @rule(path=PATHS, data=DATA)
    def create(self, path: str, data: bytes) -> None:
        self.both(lambda r: (r / path).write_bytes(data))

    @rule(path=PATHS, off=OFFSETS, data=DATA)
    def write_at(self, path: str, off: int, data: bytes) -> None:
        self.both(lambda r: _write_at(r / path, off, data))

    @rule(path=PATHS, size=OFFSETS)
    def truncate(self, path: str, size: int) -> None:
        self.both(lambda r: os.truncate(r / path, size))

    @rule(src=PATHS, dst=PATHS)
    def rename(self, src: str, dst: str) -> None:
        self.both(lambda r: os.rename(r / src, r / dst))

    @rule(path=PATHS)
    def unlink(self, path: str) -> None:
        self.both(lambda r: os.unlink(r / path))

    @rule(path=PATHS)
    def mkdir(self, path: str) -> None:
        self.both(lambda r: os.mkdir(r / path))

    @rule(path=PATHS)
    def rmdir(self, path: str) -> None:
        self.both(lambda r: os.rmdir(r / path))

    @rule(path=PATHS)
    def read(self, path: str) -> None:
        self.both(lambda r: _read(r / path))

    @invariant()
    def same_tree(self) -> None:
        if not hasattr(self, "local"):
            return
        for d in ["", *NAMES]:
            self.both(lambda r, d=d: _list(r / d))  # type: ignore[misc]
            for n in NAMES:
                self.both(lambda r, d=d, n=n: _kind_and_size(r / d / n))  # type: ignore[misc]


def compare(bucket: Path, examples: int, steps: int) -> None:
    """Run the state machine in ``bucket`` of a mount against a local directory."""
    MountVersusLocal.bucket = bucket
    run_state_machine_as_test(
        MountVersusLocal,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.mark.timeout(600)
def test_mount_behaves_like_a_local_directory(bucket: Path, mount: MountProcess) -> None:
    compare(bucket, examples=150, steps=30)


@pytest.mark.timeout(600)
def test_mount_over_a_real_hub_behaves_like_a_local_directory(tmp_path: Path) -> None:
    """The same machine over a hub subprocess (fewer examples: each step costs round trips)."""
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        cred = (hub.address, key, secret)
        with MountProcess(tmp_path / "mnt", tmp_path / "cache", hub=cred) as m:
            bucket = m.mountpoint / "buckets" / "diff"
            bucket.mkdir()
            compare(bucket, examples=25, steps=20)
