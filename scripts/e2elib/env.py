"""A hub subprocess with one account key, the mounts of that identity over it (each a
``MountProcess``: its own cache directory, synchronous or write-back), and a view of the hub
through the Buckets API for checking what reached it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import trio

from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess
from bucketfs.testing.mountproc import MountProcess

CONFLICT = ".conflict-"
T = TypeVar("T")


class Env:
    """``with Env(workdir) as env:`` a running hub; ``env.mount(name, write_back)`` a mount."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="bucketfs-e2e-")
        self.workdir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self.hub = HubProcess()
        self.key = ("", "")
        self.mounts: list[MountProcess] = []

    def __enter__(self) -> Env:
        self.hub.start()
        self.key = self.hub.create_key(type="account")
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        for m in self.mounts:
            m.stop()
        self.hub.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def mount(self, name: str, *, write_back: bool = False, start: bool = True) -> MountProcess:
        """A mount at workdir/NAME with cache workdir/NAME-cache (the same cache dir on every
        call with this name: a remount replays its journal)."""
        m = MountProcess(
            self.workdir / name,
            self.workdir / f"{name}-cache",
            write_back=write_back,
            hub=(self.hub.address, *self.key),
            log_path=self.workdir / f"{name}-mount.log",
        )
        self.mounts.append(m)
        return m.start() if start else m

    # -- the hub through the Buckets API --------------------------------------------------

    def _call(self, fn: Callable[[HubSession], Awaitable[T]]) -> T:
        config = HubConfig(self.hub.address, self.key[0], self.key[1], None)

        async def main() -> T:
            session = await HubSession.connect(config)
            try:
                return await fn(session)
            finally:
                await session.aclose()

        return trio.run(main)

    def hub_files(self, bucket: str) -> dict[str, bytes]:
        """Every file of bucket NAME on the hub (path below the bucket root -> bytes)."""

        async def run(s: HubSession) -> dict[str, bytes]:
            found = await s.users.get_thread("buckets")
            assert found is not None
            roots = [r for r in await s.buckets.list(found[0]) if r.name == bucket]
            assert len(roots) == 1, roots
            thread, key = found[0], roots[0].key
            out: dict[str, bytes] = {}

            async def walk(path: str) -> None:
                listing = await s.buckets.list_path(thread, key, path)
                for c in listing.children:
                    sub = f"{path}/{c.name}" if path else c.name
                    if c.name == ".textileseed":
                        continue
                    if c.is_dir:
                        await walk(sub)
                    else:
                        data = [b async for b in s.buckets.pull_path(thread, key, sub)]
                        out[sub] = b"".join(data)

            await walk("")
            return out

        return self._call(run)


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` through a mount (relative path -> bytes)."""
    out: dict[str, bytes] = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if p.is_symlink():
                continue
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def conflicts(names: Iterable[str]) -> list[str]:
    return sorted(n for n in names if CONFLICT in n)


def log_problems(log: str) -> list[str]:
    """Mount log lines that show a conflict taken, an error or a traceback."""
    return [
        line
        for line in log.splitlines()
        if "conflict" in line or " ERROR " in line or line.startswith("Traceback")
    ]
