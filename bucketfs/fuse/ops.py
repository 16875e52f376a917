"""The pyfuse3 ``Operations`` of a bucketfs mount: convert arguments, call the vfs, build replies.

Every handler runs through ``_call``, which turns ``bucketfs.errors`` into ``FUSEError`` via the
errno table. Entry and attribute timeouts are those the vfs gives with each ``Attr`` (short
unless the vfs is told of other clients' changes and invalidates the kernel's caches itself),
and a lookup that finds no such name is cached by the kernel for ``vfs.negative_ttl`` (an entry
with inode 0). Directory listings are snapshotted at ``opendir`` and paged to the kernel from
that snapshot, with attributes, so ``ls -l`` needs no round trip per entry.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import pyfuse3

from bucketfs.errors import BucketfsError
from bucketfs.fuse.errno_table import report
from bucketfs.fuse.notify import PyfuseNotifier
from bucketfs.vfs import Attr, Vfs
from bucketfs.vfs.nodes import ROOT_INO

TIMEOUT = 1.0  # the short entry/attribute timeout (vfs.core.KERNEL_TTL)
T = TypeVar("T")


class BucketOperations(pyfuse3.Operations):
    supports_dot_lookup = False
    enable_writeback_cache = False
    enable_acl = False

    def __init__(self, vfs: Vfs) -> None:
        super().__init__()
        self.vfs = vfs
        vfs.set_kernel_notifier(PyfuseNotifier())
        self._dirs: dict[int, list[tuple[str, Attr]]] = {}
        self._next_dir = 1

    async def _call(self, op: str, aw: Awaitable[T]) -> T:
        try:
            return await aw
        except BucketfsError as exc:
            self.vfs.record_error(op, exc)
            raise pyfuse3.FUSEError(report(op, exc, self.vfs.hub_address)) from None
        except pyfuse3.FUSEError:
            raise
        except Exception as exc:
            self.vfs.record_error(op, exc)
            raise pyfuse3.FUSEError(report(op, exc, self.vfs.hub_address)) from None

    def _entry(self, a: Attr) -> pyfuse3.EntryAttributes:
        e = pyfuse3.EntryAttributes()
        e.st_ino = a.ino
        e.generation = 0
        e.entry_timeout = e.attr_timeout = a.ttl
        e.st_mode = a.mode
        e.st_nlink = a.nlink
        e.st_uid, e.st_gid = self.vfs.uid, self.vfs.gid
        e.st_rdev = 0
        e.st_size = a.size
        e.st_blksize = 65536
        e.st_blocks = (a.size + 511) // 512
        e.st_mtime_ns = a.mtime
        e.st_atime_ns = a.atime or a.mtime
        e.st_ctime_ns = a.ctime or a.mtime
        return e

    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        try:
            a = await self._call("lookup", self.vfs.lookup(parent_inode, os.fsdecode(name)))
        except pyfuse3.FUSEError as exc:
            ttl = self.vfs.negative_ttl(parent_inode) if exc.errno == errno.ENOENT else 0.0
            if not ttl:
                raise
            e = pyfuse3.EntryAttributes()
            e.st_ino = 0  # the kernel remembers the name is absent for entry_timeout
            e.entry_timeout = ttl
            return e
        return self._entry(a)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        for ino, count in inode_list:
            self.vfs.forget(ino, count)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return self._entry(await self._call("getattr", self.vfs.getattr(inode)))

    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        a = await self._call(
            "setattr",
            self.vfs.setattr(
                inode,
                fh=fh,
                size=attr.st_size if fields.update_size else None,
                mode=attr.st_mode if fields.update_mode else None,
                mtime=attr.st_mtime_ns if fields.update_mtime else None,
                uid=attr.st_uid if fields.update_uid else None,
                gid=attr.st_gid if fields.update_gid else None,
                atime=attr.st_atime_ns if fields.update_atime else None,
            ),
        )
        return self._entry(a)

    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        return os.fsencode(await self._call("readlink", self.vfs.readlink(inode)))

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        listing = await self._call("readdir", self.vfs.readdir(inode))
        fh = self._next_dir
        self._next_dir += 1
        self._dirs[fh] = listing
        return fh

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        listing = self._dirs.get(fh, [])
        for i in range(start_id, len(listing)):
            name, a = listing[i]
            if not pyfuse3.readdir_reply(token, os.fsencode(name), self._entry(a), i + 1):
                return
            self.vfs.remember(a.ino)

    async def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)

    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return self._entry(
            await self._call("mkdir", self.vfs.mkdir(parent_inode, os.fsdecode(name), mode))
        )

    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise pyfuse3.FUSEError(errno.EPERM)  # device nodes and fifos cannot be stored

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self._call("rmdir", self.vfs.rmdir(parent_inode, os.fsdecode(name)))

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self._call("unlink", self.vfs.unlink(parent_inode, os.fsdecode(name)))

    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        a = await self._call(
            "symlink", self.vfs.symlink(parent_inode, os.fsdecode(name), os.fsdecode(target))
        )
        return self._entry(a)

    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        await self._call(
            "rename",
            self.vfs.rename(
                parent_inode_old,
                os.fsdecode(name_old),
                parent_inode_new,
                os.fsdecode(name_new),
                flags,
            ),
        )

    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return self._entry(
            await self._call("link", self.vfs.link(inode, new_parent_inode, os.fsdecode(new_name)))
        )

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        fh = await self._call("open", self.vfs.open(inode, flags))
        # content fixed by a CID keeps the kernel's pages across opens while the CID is the same
        h = self.vfs.handles.get(fh)
        cid = h.cid if h is not None and not h.staged else ""
        fetcher = self.vfs.fetcher
        fetcher.kernel_store = pyfuse3.notify_store  # cached files read at random go there
        keep = fetcher.keep_pages(inode, cid)
        await fetcher.quiesce(inode)  # no store of other content lands after this open
        return pyfuse3.FileInfo(fh=fh, keep_cache=keep)

    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        fh, a = await self._call(
            "create", self.vfs.create(parent_inode, os.fsdecode(name), mode, flags)
        )
        self.vfs.fetcher.keep_pages(a.ino, "")  # staged content: the next read open drops pages
        await self.vfs.fetcher.quiesce(a.ino)
        return pyfuse3.FileInfo(fh=fh, keep_cache=False), self._entry(a)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        return await self._call("read", self.vfs.read(fh, off, size))

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return await self._call("write", self.vfs.write(fh, off, buf))

    async def flush(self, fh: int) -> None:
        await self._call("flush", self.vfs.flush(fh))

    async def fsync(self, fh: int, datasync: bool) -> None:
        await self._call("fsync", self.vfs.fsync(fh))

    async def fsyncdir(self, fh: int, datasync: bool) -> None:
        pass  # directory changes reach the hub before their call returns

    async def release(self, fh: int) -> None:
        # an error was logged and recorded; close() already returned flush's result
        with contextlib.suppress(pyfuse3.FUSEError):
            await self._call("release", self.vfs.release(fh))

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        s = self.vfs.statfs()
        d = pyfuse3.StatvfsData()
        d.f_bsize = d.f_frsize = s.block_size
        d.f_blocks, d.f_bfree, d.f_bavail = s.blocks, s.blocks_free, s.blocks_free
        d.f_files, d.f_ffree, d.f_favail = s.files, s.files_free, s.files_free
        d.f_namemax = s.name_max
        return d

    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        if not name.startswith(b"user."):  # ls -l asks for ACLs and labels of every file
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        value = await self._call("getxattr", self.vfs.getxattr(inode, os.fsdecode(name)))
        if value is None:
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        return value

    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> list[bytes]:
        return [os.fsencode(n) for n in self.vfs.listxattr(inode)]

    async def setxattr(
        self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext
    ) -> None:
        await self._call("setxattr", _sync(self.vfs.setxattr, inode, os.fsdecode(name)))

    async def removexattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self._call("removexattr", _sync(self.vfs.setxattr, inode, os.fsdecode(name)))


async def _sync(fn: object, *args: object) -> None:
    assert callable(fn)
    fn(*args)


__all__ = ["ROOT_INO", "BucketOperations"]
