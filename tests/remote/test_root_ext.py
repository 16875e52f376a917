"""BucketsClient's root-returning ``set_path``/``move_path`` and ``push_paths(attrs=...)``, against
the real hub, against a plain Textile hub (the proxy that strips extensions) and against the
fake hub the mount tests use: the same answers from all three where the hub supports them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trio

from bucketfs import errors
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.fakehub import PLAIN_TEXTILE, FakeHub, FakeSession

EMPTY_DIR = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


Body = Callable[[Any, str, Any], Awaitable[None]]


def on_hub(config: HubConfig, body: Body) -> None:
    async def main() -> None:
        async with await HubSession.connect(config) as s:
            thread = await s.threads.new_db()
            await body(s, thread, await s.buckets.create(thread, "b"))

    trio.run(main)


def on_fake(hub: FakeHub, body: Body) -> None:
    async def main() -> None:
        s = FakeSession(hub)
        thread = await s.threads.new_db("t")
        await body(s, thread, await s.buckets.create(thread, "b"))

    trio.run(main)


async def roots_returned_and_checked(s: Any, thread: str, bucket: Any) -> None:
    key = bucket.key
    assert (await s.buckets.capabilities()).push_paths_attrs
    made = await s.buckets.set_path(thread, key, "d", EMPTY_DIR, root=bucket.path)
    assert made is not None and made.path != bucket.path
    assert made == await s.buckets.root(thread, key)
    with pytest.raises(errors.Conflict, match="non-fast-forward"):
        await s.buckets.set_path(thread, key, "e", EMPTY_DIR, root=bucket.path)
    assert [c.name for c in (await s.buckets.list_path(thread, key, "")).children] == [
        ".textileseed",
        "d",
    ]
    await s.buckets.push_path(thread, key, "f", chunks(b"data"))
    current = await s.buckets.root(thread, key)
    with pytest.raises(errors.Conflict):
        await s.buckets.move_path(thread, key, "f", "d", root=made.path)
    moved = await s.buckets.move_path(thread, key, "f", "d", root=current.path)
    assert moved is not None and moved == await s.buckets.root(thread, key)
    assert [c.name for c in (await s.buckets.list_path(thread, key, "d")).children] == ["f"]
    # without a root: no check, still the new root
    again = await s.buckets.move_path(thread, key, "d/f", "g")
    assert again is not None and again.path == (await s.buckets.root(thread, key)).path


async def attrs_pushed(s: Any, thread: str, bucket: Any) -> None:
    key = bucket.key
    files = [(f"dir/{n}", chunks(n.encode())) for n in ("a", "b", "c")]
    attrs = [(0o100600, 7), (0, 8), (0o100750, 0)]
    root = await s.buckets.push_paths(thread, key, files, root=bucket.path, attrs=attrs)
    assert root.path == (await s.buckets.root(thread, key)).path
    got = {c.name: c for c in (await s.buckets.list_path(thread, key, "dir")).children}
    assert (got["a"].mode, got["a"].mtime) == (0o100600, 7)
    assert (got["b"].mode, got["b"].mtime) == (0o100644, 8)
    assert got["c"].mode == 0o100750 and got["c"].mtime > 10**18
    with pytest.raises(errors.InvalidArgument):
        await s.buckets.push_paths(thread, key, files[:2], attrs=attrs)


def test_real_hub_returns_and_checks_roots(account_config: HubConfig) -> None:
    on_hub(account_config, roots_returned_and_checked)


def test_fake_hub_returns_and_checks_roots() -> None:
    on_fake(FakeHub(), roots_returned_and_checked)


def test_real_hub_stores_push_paths_attrs(account_config: HubConfig) -> None:
    on_hub(account_config, attrs_pushed)


def test_fake_hub_stores_push_paths_attrs() -> None:
    on_fake(FakeHub(), attrs_pushed)


async def older_hub(s: Any, thread: str, bucket: Any) -> None:
    """No roots returned, ``root`` not checked, attributes ignored (as an upstream hub)."""
    key = bucket.key
    assert not (await s.buckets.capabilities()).push_paths_attrs
    assert await s.buckets.set_path(thread, key, "d", EMPTY_DIR, root=bucket.path) is None
    assert await s.buckets.set_path(thread, key, "e", EMPTY_DIR, root=bucket.path) is None
    assert await s.buckets.move_path(thread, key, "e", "d", root=bucket.path) is None
    files = [("f", chunks(b"x"))]
    await s.buckets.push_paths(thread, key, files, attrs=[(0o100600, 7)])
    names = [c.name for c in (await s.buckets.list_path(thread, key, "d")).children]
    assert names == ["e"]
    entry = next(c for c in (await s.buckets.list_path(thread, key, "")).children if c.name == "f")
    assert entry.mtime != 7 and entry.mode != 0o100600


def test_plain_hub_ignores_the_extensions(plain_config: HubConfig) -> None:
    on_hub(plain_config, older_hub)


def test_fake_plain_hub_ignores_the_extensions() -> None:
    on_fake(FakeHub(PLAIN_TEXTILE), older_hub)
