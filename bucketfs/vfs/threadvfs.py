"""``MountVfs``: the buckets ``Vfs`` plus the ``threads/`` namespace, dispatched by inode.

Operations on ``threads/`` and below (inode 3 and the inodes ``ThreadsNamespace`` owns) and on
its file handles (numbers from ``threads.FH_BASE`` up) go to ``ThreadsNamespace``; everything
else goes to the buckets ``Vfs`` unchanged. ``bucketfs.vfs.Vfs`` is this class. The fuse layer
installs a ``KernelNotifier`` with ``set_kernel_notifier`` so that ``Listen`` events drop the
kernel's caches (of ``threads/`` through ``vfs.threadwatch``, of buckets through
``vfs.bucketwatch``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bucketfs.errors import CrossDevice, Unsupported
from bucketfs.vfs.backend import SessionLike
from bucketfs.vfs.bucketwatch import BucketWatcher
from bucketfs.vfs.nodes import THREADS_INO, Attr
from bucketfs.vfs.threadfiles import KernelNotifier
from bucketfs.vfs.threads import FH_BASE
from bucketfs.vfs.threadwatch import Watchers
from bucketfs.vfs.threadwrites import ThreadsNamespace
from bucketfs.vfs.tree import Vfs as BucketsVfs


class MountVfs(BucketsVfs):
    """See the module docstring; construct like ``bucketfs.vfs.tree.Vfs``."""

    def __init__(self, session_like: SessionLike, *, cache_dir: Path, **kw: Any) -> None:
        super().__init__(session_like, cache_dir=cache_dir, **kw)
        self.inodes.pinned = self._pinned
        self.threads = ThreadsNamespace(
            session_like, self.inodes, Path(cache_dir) / "threads", self.read_only
        )
        self.watchers = Watchers(self.threads)
        self.threads.on_db_seen = self.watchers.ensure
        self.threads.errors = self.errors
        self.inodes.get(THREADS_INO).perm = 0o555 if self.read_only else 0o755
        self.bucket_watch = BucketWatcher(self, session_like.threads)

    def set_kernel_notifier(self, notifier: KernelNotifier) -> None:
        self.threads.notifier = notifier
        self.bucket_watch.notifier = notifier

    def _mine(self, ino: int) -> bool:
        return self.threads.owns(ino)

    def record_error(self, op: str, exc: BaseException) -> None:
        if not getattr(exc, "recorded", False):
            super().record_error(op, exc)

    def status(self) -> dict[str, object]:
        out = super().status()
        out["threads"] = {
            "dbs": sorted(self.threads.dbs),
            "listening": len(self.watchers.scopes),
            "events": self.watchers.events,
            "reconnects": self.watchers.reconnects,
            "local_files": sum(1 for m in self.threads.meta.values() if m.file is not None),
        }
        out["buckets_watch"] = self.bucket_watch.status()
        return out

    # -- names and attributes -----------------------------------------------------------

    async def lookup(self, parent_ino: int, name: str) -> Attr:
        if not self._mine(parent_ino):
            return await super().lookup(parent_ino, name)
        return self.threads.attr(await self.threads.lookup(parent_ino, name))

    def _pinned(self, ino: int) -> bool:
        """Inodes that stay although the kernel forgot them: files with staged content (open,
        or kept for a retried push) and thread files with local content or handles."""
        return ino in self.open_files or self.threads.holds(ino)

    def forget(self, ino: int, count: int) -> None:
        super().forget(ino, count)
        self.threads.forget_dropped(ino)

    async def getattr(self, ino: int) -> Attr:
        if ino == THREADS_INO or not self._mine(ino):
            return await super().getattr(ino)
        return await self.threads.getattr(ino)

    async def readdir(self, ino: int) -> list[tuple[str, Attr]]:
        if not self._mine(ino):
            return await super().readdir(ino)
        return await self.threads.readdir(ino)

    async def setattr(
        self,
        ino: int,
        *,
        fh: int | None = None,
        size: int | None = None,
        mode: int | None = None,
        mtime: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        atime: int | None = None,
    ) -> Attr:
        if not self._mine(ino) or ino == THREADS_INO:
            return await super().setattr(
                ino, fh=fh, size=size, mode=mode, mtime=mtime, uid=uid, gid=gid, atime=atime
            )
        return await self.threads.setattr(ino, fh, size, mtime)

    # -- directories --------------------------------------------------------------------

    async def mkdir(self, parent_ino: int, name: str, mode: int) -> Attr:
        if not self._mine(parent_ino):
            return await super().mkdir(parent_ino, name, mode)
        return self.threads.attr(await self.threads.mkdir(parent_ino, name))

    async def rmdir(self, parent_ino: int, name: str) -> None:
        if not self._mine(parent_ino):
            return await super().rmdir(parent_ino, name)
        await self.threads.rmdir(parent_ino, name)

    async def unlink(self, parent_ino: int, name: str) -> None:
        if not self._mine(parent_ino):
            return await super().unlink(parent_ino, name)
        await self.threads.unlink(parent_ino, name)

    async def rename(
        self, old_parent: int, old_name: str, new_parent: int, new_name: str, flags: int = 0
    ) -> None:
        mine = self._mine(old_parent), self._mine(new_parent)
        if mine == (False, False):
            return await super().rename(old_parent, old_name, new_parent, new_name, flags)
        if mine != (True, True):
            raise CrossDevice("rename between buckets/ and threads/")
        await self.threads.rename(old_parent, old_name, new_parent, new_name, flags)

    async def symlink(self, parent_ino: int, name: str, target: str) -> Attr:
        if not self._mine(parent_ino):
            return await super().symlink(parent_ino, name, target)
        raise Unsupported("collections hold only files")

    # -- files --------------------------------------------------------------------------

    async def open(self, ino: int, flags: int) -> int:
        if not self._mine(ino):
            return await super().open(ino, flags)
        return await self.threads.open(ino, flags)

    async def create(self, parent_ino: int, name: str, mode: int, flags: int) -> tuple[int, Attr]:
        if not self._mine(parent_ino):
            return await super().create(parent_ino, name, mode, flags)
        fh, node = await self.threads.create(parent_ino, name, mode, flags)
        return fh, self.threads.attr(node)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        if fh < FH_BASE:
            return await super().read(fh, off, size)
        return await self.threads.read(fh, off, size)

    async def write(self, fh: int, off: int, data: bytes) -> int:
        if fh < FH_BASE:
            return await super().write(fh, off, data)
        return await self.threads.write(fh, off, data)

    async def flush(self, fh: int) -> None:
        if fh < FH_BASE:
            return await super().flush(fh)
        await self.threads.flush(fh)

    async def fsync(self, fh: int) -> None:
        if fh < FH_BASE:
            return await super().fsync(fh)
        await self.threads.flush(fh)

    async def release(self, fh: int) -> None:
        if fh < FH_BASE:
            return await super().release(fh)
        await self.threads.release(fh)

    # -- extended attributes ------------------------------------------------------------

    def listxattr(self, ino: int) -> list[str]:
        return [] if self._mine(ino) else super().listxattr(ino)

    async def getxattr(self, ino: int, name: str) -> bytes | None:
        return None if self._mine(ino) else await super().getxattr(ino, name)

    # -- lifecycle ----------------------------------------------------------------------

    async def flush_all(self, timeout: float) -> bool:
        await self.threads.flush_all()
        return await super().flush_all(timeout)

    async def close(self) -> None:
        self.watchers.close()
        self.bucket_watch.close()
        self.threads.close()
        await super().close()
