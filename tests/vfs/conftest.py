"""Fixtures for vfs tests: a ``Vfs`` over a ``FakeHub``, driven with ``trio.run``."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import trio

from bucketfs.remote.types import Capabilities
from bucketfs.testing.fakehub import ALL_EXTENSIONS, FakeHub, FakeSession
from bucketfs.vfs import Attr, Vfs
from bucketfs.vfs.nodes import BUCKETS_INO

T = TypeVar("T")


class Env:
    """A hub, a vfs over it, and helpers that speak in paths below ``buckets/``."""

    def __init__(self, tmp: Path, caps: Capabilities = ALL_EXTENSIONS) -> None:
        self.tmp = tmp
        self.hub = FakeHub(caps)
        self.vfs = self.new_vfs()

    def new_vfs(self, *, cache_max_bytes: int = 1 << 30, read_only: bool = False) -> Vfs:
        """Another mount (own cache) over the same hub; call ``await vfs.start()``."""
        n = len(list(self.tmp.glob("cache*")))
        return Vfs(
            FakeSession(self.hub),
            cache_dir=self.tmp / f"cache{n}",
            cache_max_bytes=cache_max_bytes,
            read_only=read_only,
        )

    def run(self, body: Callable[[], Awaitable[T]]) -> T:
        """Start the vfs, run ``body`` in trio, return its result."""

        async def main() -> T:
            await self.vfs.start()
            return await body()

        return trio.run(main)

    async def resolve(self, path: str, vfs: Vfs | None = None) -> Attr:
        vfs = vfs or self.vfs
        ino = BUCKETS_INO
        attr = await vfs.getattr(ino)
        for part in [p for p in path.split("/") if p]:
            attr = await vfs.lookup(ino, part)
            ino = attr.ino
        return attr

    async def parent(self, path: str, vfs: Vfs | None = None) -> tuple[int, str]:
        head, _, name = path.rstrip("/").rpartition("/")
        return (await self.resolve(head, vfs)).ino, name

    async def write(self, path: str, data: bytes, vfs: Vfs | None = None) -> None:
        vfs = vfs or self.vfs
        parent, name = await self.parent(path, vfs)
        fh, _ = await vfs.create(parent, name, 0o644, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        if data:
            await vfs.write(fh, 0, data)
        await vfs.flush(fh)
        await vfs.release(fh)

    async def read(self, path: str, vfs: Vfs | None = None) -> bytes:
        vfs = vfs or self.vfs
        attr = await self.resolve(path, vfs)
        fh = await vfs.open(attr.ino, os.O_RDONLY)
        out = bytearray()
        while chunk := await vfs.read(fh, len(out), 1 << 17):
            out += chunk
        await vfs.release(fh)
        return bytes(out)

    async def ls(self, path: str, vfs: Vfs | None = None) -> list[str]:
        vfs = vfs or self.vfs
        return [n for n, _ in await vfs.readdir((await self.resolve(path, vfs)).ino)]

    async def mkdir(self, path: str, vfs: Vfs | None = None) -> Attr:
        vfs = vfs or self.vfs
        parent, name = await self.parent(path, vfs)
        return await vfs.mkdir(parent, name, 0o755)

    def api_file(self, bucket: str, path: str) -> bytes:
        """A file's bytes as the hub stores them (not through the vfs)."""
        b = next(b for b in self.hub.buckets.values() if b.root.name == bucket)
        node = self.hub.resolve(b, path)
        return node.data  # type: ignore[union-attr]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)
