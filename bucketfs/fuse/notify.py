"""The kernel-cache invalidation the vfs asks for when other clients change things.

``PyfuseNotifier`` implements ``bucketfs.vfs.threadfiles.KernelNotifier`` with pyfuse3:
``invalidate_inode`` runs in a worker thread (the kernel may wait for pages locked by a request
this process is serving), ``invalidate_entry`` uses pyfuse3's own queue. An inode or entry the
kernel does not know is not an error.
"""

from __future__ import annotations

import logging

import pyfuse3
import trio

log = logging.getLogger("bucketfs.fuse")


def _inval_inode(ino: int) -> None:
    try:
        pyfuse3.invalidate_inode(ino)
    except Exception as exc:  # ENOENT: forgotten already; or the mount is going away
        log.debug("invalidate_inode(%d): %r", ino, exc)


class PyfuseNotifier:
    async def invalidate_inode(self, ino: int) -> None:
        await trio.to_thread.run_sync(_inval_inode, ino)

    def invalidate_entry(self, parent: int, name: str) -> None:
        try:
            pyfuse3.invalidate_entry_async(parent, name.encode(), ignore_enoent=True)
        except Exception as exc:
            log.debug("invalidate_entry(%d, %r): %r", parent, name, exc)
