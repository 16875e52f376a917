"""Kernel caching of a real mount over a real hub: with the buckets DB's Listen stream, other
clients' changes to a bucket (new, changed, removed files; a name the kernel had found absent)
show through the mount within a second although entries are cached for longer."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bucketfs.remote.session import HubSession
from bucketfs.testing.hubproc import HubProcess
from bucketfs.testing.mountproc import MountProcess

from .test_realhub import Api


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MountProcess, Api]]:
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        base = tmp_path_factory.mktemp("meta")
        with MountProcess(base / "mnt", base / "cache", hub=(hub.address, key, secret)) as m:
            yield m, Api(hub.address, key, secret)
            log = m.log()
        assert "Traceback" not in log, log


def within_a_second(check: Callable[[], bool]) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() < start + 1.0, "the mount did not show the change in 1 s"
        time.sleep(0.02)
    return time.monotonic() - start


def exists(path: Path) -> bool:
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    return True


def read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def test_other_clients_bucket_changes_show_within_a_second(
    real: tuple[MountProcess, Api],
) -> None:
    mount, api = real
    b = mount.mountpoint / "buckets" / "watched"
    (b / "d").mkdir(parents=True)
    (b / "d" / "f").write_bytes(b"one")
    assert sorted(os.listdir(b / "d")) == ["f"]
    assert not exists(b / "d" / "new")  # the kernel may now cache that "new" is absent
    time.sleep(1.0)  # the stream is subscribed by now

    async def push(s: HubSession, path: str, data: bytes) -> None:
        thread, key = await api.bucket(s, "watched")

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await s.buckets.push_path(thread, key, path, chunks)

    async def remove(s: HubSession, path: str) -> None:
        thread, key = await api.bucket(s, "watched")
        await s.buckets.remove_path(thread, key, path)

    api.call(lambda s: push(s, "d/new", b"theirs"))
    assert within_a_second(lambda: read(b / "d" / "new") == b"theirs") < 1.0
    assert sorted(os.listdir(b / "d")) == ["f", "new"]
    api.call(lambda s: push(s, "d/f", b"changed by them"))
    within_a_second(lambda: os.stat(b / "d" / "f").st_size == 15)
    assert read(b / "d" / "f") == b"changed by them"
    api.call(lambda s: remove(s, "d/f"))
    within_a_second(lambda: not exists(b / "d" / "f"))
    assert os.listdir(b / "d") == ["new"]
