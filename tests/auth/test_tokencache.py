"""The on-disk token cache: keys, modes, two instances, concurrent processes, corrupt files."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bucketfs.auth.identity import Identity
from bucketfs.auth.tokencache import TokenCache

ALICE = Identity.from_seed(bytes(32)).public_key
BOB = Identity.from_seed(bytes([1]) * 32).public_key
HUB = "127.0.0.1:3006"


def test_put_get_forget_keyed_by_hub_key_and_identity(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "tokens.json")
    assert cache.get(HUB, "bkey", ALICE) is None
    cache.put(HUB, "bkey", ALICE, "token-a")
    cache.put(HUB, "bkey", BOB, "token-b")
    cache.put(HUB, "bother", ALICE, "token-c")
    cache.put("unix:/run/hub.sock", "bkey", ALICE, "token-d")
    assert cache.get(HUB, "bkey", ALICE) == "token-a"
    assert cache.get(HUB, "bkey", BOB) == "token-b"
    assert cache.get(HUB, "bother", ALICE) == "token-c"
    assert cache.get("unix:/run/hub.sock", "bkey", ALICE) == "token-d"
    assert cache.get(HUB, "bother", BOB) is None
    cache.put(HUB, "bkey", ALICE, "token-a2")
    assert cache.get(HUB, "bkey", ALICE) == "token-a2"
    cache.forget(HUB, "bkey", ALICE)
    cache.forget(HUB, "bkey", ALICE)
    assert cache.get(HUB, "bkey", ALICE) is None
    assert cache.get(HUB, "bkey", BOB) == "token-b"
    assert len(json.loads((tmp_path / "tokens.json").read_text())["tokens"]) == 3


def test_file_and_directory_modes(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "bucketfs" / "tokens.json"
    TokenCache(path).put(HUB, "bkey", ALICE, "secret-token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    lock = path.with_name("tokens.json.lock")
    assert stat.S_IMODE(lock.stat().st_mode) & 0o077 == 0
    path.chmod(0o644)
    TokenCache(path).put(HUB, "bkey", BOB, "other")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_two_instances_see_each_others_entries(tmp_path: Path) -> None:
    first, second = TokenCache(tmp_path / "t.json"), TokenCache(tmp_path / "t.json")
    first.put(HUB, "bkey", ALICE, "from-first")
    second.put(HUB, "bkey", BOB, "from-second")
    assert first.get(HUB, "bkey", BOB) == "from-second"
    assert second.get(HUB, "bkey", ALICE) == "from-first"
    second.forget(HUB, "bkey", ALICE)
    assert first.get(HUB, "bkey", ALICE) is None


def test_concurrent_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.json"

    def writer(n: int) -> None:
        cache = TokenCache(path)
        for i in range(15):
            cache.put(f"hub{n}", f"key{i}", ALICE, f"tok-{n}-{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cache = TokenCache(path)
    for n in range(4):
        for i in range(15):
            assert cache.get(f"hub{n}", f"key{i}", ALICE) == f"tok-{n}-{i}"


WRITER = """
import sys
from bucketfs.auth.identity import Identity
from bucketfs.auth.tokencache import TokenCache
cache = TokenCache(sys.argv[1])
me = Identity.from_seed(bytes([int(sys.argv[2])]) * 32).public_key
for i in range(20):
    cache.put("hub", "key%d" % i, me, "tok-%s-%d" % (sys.argv[2], i))
"""


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n)]) for n in range(1, 5)
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0, 0, 0]
    cache = TokenCache(path)
    for n in range(1, 5):
        who = Identity.from_seed(bytes([n]) * 32).public_key
        for i in range(20):
            assert cache.get("hub", f"key{i}", who) == f"tok-{n}-{i}"
    assert len(json.loads(path.read_text())["tokens"]) == 80


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        b'{"version": 2, "tokens": []}',
        b'{"version": 1}',
        b'{"version": 1, "tokens": {}}',
        b'{"version": 1, "tokens": [{"hub": "h"}]}',
        b'{"version": 1, "tokens": [{"hub": 1, "api_key": "k", "identity": "i", "token": "t"}]}',
    ],
)
def test_corrupt_cache_is_logged_and_treated_as_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(content)
    cache = TokenCache(path)
    with caplog.at_level(logging.WARNING, logger="bucketfs.auth.tokencache"):
        assert cache.get(HUB, "bkey", ALICE) is None
        cache.put(HUB, "bkey", ALICE, "fresh")
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert all("fresh" not in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert cache.get(HUB, "bkey", ALICE) == "fresh"
    assert not caplog.records


def test_unreadable_cache_is_logged_and_treated_as_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.json"
    path.mkdir()  # reading a directory fails with an OSError other than "not found"
    with caplog.at_level(logging.WARNING, logger="bucketfs.auth.tokencache"):
        assert TokenCache(path).get(HUB, "bkey", ALICE) is None
    assert any("cannot be read" in r.getMessage() for r in caplog.records)


def test_identity_is_keyed_by_its_public_key_never_by_its_redacted_string(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "t.json")
    alice, bob = Identity.from_seed(bytes(32)), Identity.from_seed(bytes([1]) * 32)
    cache.put(HUB, "bkey", alice, "alice-token")
    assert cache.get(HUB, "bkey", bob) is None
    assert cache.get(HUB, "bkey", alice.public_key) == "alice-token"
    assert "<redacted>" not in (tmp_path / "t.json").read_text()
    cache.forget(HUB, "bkey", alice)
    assert cache.get(HUB, "bkey", ALICE) is None
    with pytest.raises(TypeError):
        cache.get(HUB, "bkey", str(ALICE))  # type: ignore[arg-type]
