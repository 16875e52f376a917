"""The hub unreachable, at the vfs level (fake hub offline): what was listed keeps serving.

A random part of a tree is walked (listed, looked up, stat'ed), the hub goes offline and the
listing TTL passes; then every directory walked before lists the same and every name in it
looks up with the same attributes, in synchronous and write-back mode, with and without a
Listen stream (whose break sets listings aside); what was never listed fails with
``Unavailable``; a synchronous create fails, a write-back create is accepted; once the hub is
back everything answers from the hub again, without a new vfs.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest
import trio

from bucketfs import errors
from bucketfs.testing.fakehub import seed_bucket
from bucketfs.vfs.core import LIST_TTL

from .conftest import Env
from .test_listcache_watch import WatchEnv

TREE = [
    (f"d{i}/e{j}/f{k}", b"x" * (i + j + k)) for i in range(3) for j in range(3) for k in range(2)
]
DIRS = ["t"] + [f"t/d{i}" for i in range(3)] + [f"t/d{i}/e{j}" for i in range(3) for j in range(3)]


def make_env(tmp: Path, kind: str) -> Env:
    env: Env = WatchEnv(tmp) if kind == "watched" else Env(tmp)
    if kind == "write-back":
        env.vfs = env.new_vfs()
        env.vfs.enable_write_back(tmp / "journal")
    return env


async def snapshot(env: Env, dirs: list[str]) -> dict[str, object]:
    """Each directory's names, and each name's (kind, size, mode)."""
    out: dict[str, object] = {}
    for d in dirs:
        out[d] = await env.ls(d)
        for name in out[d]:  # type: ignore[attr-defined]
            a = await env.resolve(f"{d}/{name}")
            out[f"{d}/{name}"] = (a.mode, a.size)
    return out


@pytest.mark.parametrize("kind", ["sync", "write-back", "watched"])
@pytest.mark.parametrize("seed", range(4))
def test_known_names_serve_while_the_hub_is_offline(tmp_path: Path, kind: str, seed: int) -> None:
    rnd = random.Random(seed)
    env = make_env(tmp_path, kind)
    seed_bucket(env.hub, "t", TREE)
    walked = sorted(["t", *rnd.sample(DIRS[1:], rnd.randint(1, len(DIRS) - 1))])

    async def body() -> None:
        if isinstance(env, WatchEnv):
            await env.subscribed()
        before = await snapshot(env, walked)
        env.hub.offline = True
        if isinstance(env, WatchEnv):
            env.hub.break_streams()
        await trio.sleep(LIST_TTL + 0.1)  # every cached listing is due for a check
        assert await snapshot(env, walked) == before
        for d in DIRS:
            if d in walked:
                continue
            with contextlib.suppress(errors.Unavailable):  # never listed: needs the hub
                await env.ls(d)  # (unless prefetched)
        if kind == "write-back":
            await env.write("t/new", b"n")  # accepted into the journal
            assert "new" in await env.ls("t")
        else:
            with pytest.raises(errors.Unavailable):
                await env.write("t/new", b"n")
        env.hub.offline = False
        await trio.sleep(LIST_TTL + 0.1)
        await env.write("t/later", b"l")
        assert await env.read("t/later") == b"l"
        names = await env.ls("t")
        assert {"d0", "d1", "d2", "later"} <= set(names)
        if kind == "write-back":
            assert await env.vfs.flush_all(30)
            assert env.api_file("t", "new") == b"n"  # the journal's create reached the hub
        assert env.api_file("t", "later") == b"l"

    env.run(body)


def test_never_listed_fails_while_offline(env: Env) -> None:
    seed_bucket(env.hub, "t", TREE)

    async def body() -> None:
        await env.ls("")
        env.hub.offline = True
        with pytest.raises(errors.Unavailable):
            await env.ls("t")

    env.run(body)
