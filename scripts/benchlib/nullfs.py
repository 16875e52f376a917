"""An in-memory pyfuse3 filesystem that does nothing else: the ceiling of a Python FUSE daemon.

``scripts/bench`` mounts it beside bucketfs (target ``pyfuse3``) so that every table shows, in
the same run on the same machine, how fast pyfuse3 + trio can answer the kernel when a handler
does no work at all. The gap between this target and bucketfs is bucketfs's own cost; the gap
between this target and the local disk is the cost of the language and of the FUSE round trips.
It has the same mount options and timeouts as the bucketfs mount and keeps everything in memory
(nothing is durable: ``fsync`` is a no-op). Run, with ``scripts/`` on ``PYTHONPATH``:
``python -m benchlib.nullfs MOUNTPOINT``. It lives beside the bench, outside the installed
package; ``scripts/check_layers.py`` lets this one file import pyfuse3 besides ``bucketfs/fuse/``.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from collections.abc import Sequence

import pyfuse3
import trio

from bucketfs.fuse.ops import TIMEOUT


class _Node:
    __slots__ = ("children", "data", "ino", "mode", "mtime", "parent")

    def __init__(self, ino: int, mode: int, parent: int) -> None:
        self.ino, self.mode, self.parent = ino, mode, parent
        self.data = bytearray()
        self.children: dict[bytes, int] = {}
        self.mtime = time.time_ns()


class NullFs(pyfuse3.Operations):
    """Files and directories in dictionaries; every handler answers at once."""

    enable_writeback_cache = False

    def __init__(self) -> None:
        super().__init__()
        root = _Node(pyfuse3.ROOT_INODE, stat.S_IFDIR | 0o755, pyfuse3.ROOT_INODE)
        self.nodes: dict[int, _Node] = {root.ino: root}
        self.next_ino = root.ino + 1
        self.uid, self.gid = os.getuid(), os.getgid()

    def _node(self, ino: int) -> _Node:
        node = self.nodes.get(ino)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return node

    def _entry(self, n: _Node) -> pyfuse3.EntryAttributes:
        e = pyfuse3.EntryAttributes()
        e.st_ino, e.st_mode, e.st_nlink = n.ino, n.mode, 1
        e.st_size = len(n.data)
        e.st_uid, e.st_gid = self.uid, self.gid
        e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = n.mtime
        e.entry_timeout = e.attr_timeout = TIMEOUT
        e.st_blksize, e.st_blocks = 65536, (len(n.data) + 511) // 512
        return e

    def _child(self, parent: int, name: bytes) -> _Node:
        ino = self._node(parent).children.get(name)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._node(ino)

    def _new(self, parent: int, name: bytes, mode: int) -> _Node:
        folder = self._node(parent)
        if name in folder.children:
            raise pyfuse3.FUSEError(errno.EEXIST)
        node = _Node(self.next_ino, mode, parent)
        self.next_ino += 1
        self.nodes[node.ino] = node
        folder.children[name] = node.ino
        return node

    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return self._entry(self._child(parent_inode, name))

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return self._entry(self._node(inode))

    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        n = self._node(inode)
        if fields.update_size:
            del n.data[attr.st_size :]
            n.data.extend(bytes(max(0, attr.st_size - len(n.data))))
        if fields.update_mode:
            n.mode = (n.mode & ~0o7777) | (attr.st_mode & 0o7777)
        if fields.update_mtime:
            n.mtime = attr.st_mtime_ns
        return self._entry(n)

    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        return self._entry(self._new(parent_inode, name, stat.S_IFDIR | (mode & 0o7777)))

    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        n = self._new(parent_inode, name, stat.S_IFREG | (mode & 0o7777))
        return pyfuse3.FileInfo(fh=n.ino), self._entry(n)

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        if flags & os.O_TRUNC:
            del self._node(inode).data[:]
        return pyfuse3.FileInfo(fh=inode)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        return bytes(self._node(fh).data[off : off + size])

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        data = self._node(fh).data
        if off > len(data):
            data.extend(bytes(off - len(data)))
        data[off : off + len(buf)] = buf
        return len(buf)

    async def flush(self, fh: int) -> None:
        pass

    async def release(self, fh: int) -> None:
        pass

    async def fsync(self, fh: int, datasync: bool) -> None:
        pass

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        return inode

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        items = sorted(self._node(fh).children.items())
        for i in range(start_id, len(items)):
            name, ino = items[i]
            if not pyfuse3.readdir_reply(token, name, self._entry(self._node(ino)), i + 1):
                return

    async def releasedir(self, fh: int) -> None:
        pass

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        node = self._child(parent_inode, name)
        if stat.S_ISDIR(node.mode):
            raise pyfuse3.FUSEError(errno.EISDIR)
        del self._node(parent_inode).children[name]
        del self.nodes[node.ino]

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        node = self._child(parent_inode, name)
        if node.children:
            raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        del self._node(parent_inode).children[name]
        del self.nodes[node.ino]

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        pass

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_blocks = s.f_bfree = s.f_bavail = 1 << 30
        s.f_files = s.f_ffree = s.f_favail = 1 << 20
        s.f_namemax = 255
        return s


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchlib.nullfs MOUNTPOINT", file=sys.stderr)
        return 2
    options = set(pyfuse3.default_options) | {"fsname=nullfs", "subtype=nullfs"}
    pyfuse3.init(NullFs(), argv[0], options)
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
