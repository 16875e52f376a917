"""The vfs's namespace operations and the public ``Vfs`` class.

mkdir/rmdir (buckets under ``buckets/``, empty directories inside a bucket as links to the empty
UnixFS directory), unlink, rename (MovePath within a bucket; EXDEV across buckets so that ``mv``
copies), symlinks (extension), hard links (refused), read-only extended attributes, statfs, and
the lifecycle calls ``flush_all`` and ``close``. In write-back mode (``vfs.writeback``) mkdir,
rmdir and unlink go to the journal, and a rename or symlink first waits for the bucket's pending
uploads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import trio

from bucketfs.errors import (
    AlreadyExists,
    BucketfsError,
    CrossDevice,
    InvalidArgument,
    IsADirectory,
    NotADirectory,
    NotEmpty,
    NotFound,
    PermissionDenied,
    TimedOut,
    Unsupported,
)
from bucketfs.vfs.cids import EMPTY_DIR_CID
from bucketfs.vfs.core import CachedListing
from bucketfs.vfs.namespace import check_bucket_name
from bucketfs.vfs.nodes import BUCKETS_INO, Attr, Kind, Node
from bucketfs.vfs.writeback import WriteBackOps

log = logging.getLogger("bucketfs.vfs")

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
#: write-back mode: seconds a rename waits for the bucket's pending uploads
RENAME_WAIT = 120.0
XATTRS = (
    "user.ipfs.cid",
    "user.bucketfs.key",
    "user.bucketfs.thread",
    "user.bucketfs.url",
    "user.bucketfs.ipns",
    "user.bucketfs.www",
)


class XattrUnsupported(Unsupported):
    """Only bucketfs's own extended attributes exist, and they are read-only."""


@dataclass(frozen=True)
class StatFs:
    block_size: int = 4096
    blocks: int = (1 << 40) // 4096  # the hub's capacity is unknown: advertise 1 TiB free
    blocks_free: int = (1 << 40) // 4096
    files: int = 1 << 24
    files_free: int = 1 << 24
    name_max: int = 255


class Vfs(WriteBackOps):
    """The filesystem meaning of a bucketfs mount over a hub session.

    ``Vfs(session_like, cache_dir=..., cache_max_bytes=..., thread_name="buckets",
    read_only=False)``; call ``await start()`` first and ``await close()`` last. Operations take
    and return inode numbers and ``Attr``; failures are ``bucketfs.errors`` exceptions.
    """

    async def _absent(self, parent: Node, name: str) -> None:
        try:
            await self.child(parent, name)
        except NotFound:
            return
        raise AlreadyExists(f"{name!r} exists")

    async def mkdir(self, parent_ino: int, name: str, mode: int) -> Attr:
        parent = self.inodes.get(parent_ino)
        if parent.ino == BUCKETS_INO:
            self.check_writable()
            check_bucket_name(name)
            await self._absent(parent, name)
            thread = await self.index.thread_id(create=True)
            assert thread is not None
            root = await self.api.create(thread, name)
            self.index.invalidate()
            node = (await self.bucket_nodes()).get(name)
            if node is None:
                raise AlreadyExists(f"bucket {name!r} was created but shows under another name")
            self.ledger.learn(root.key, root.path)
        else:
            self._writable_dir(parent)
            self._check_name(name)
            await self._absent(parent, name)
            thread, key, path = self.where(parent)
            full = f"{path}/{name}".lstrip("/")
            perm = mode & 0o7777
            made = time.time_ns()
            if self.wb is not None:
                made = self.queue_mkdir(parent, name, perm)
            else:
                await self.root_checked(
                    key,
                    lambda root: self.api.set_path(thread, key, full, EMPTY_DIR_CID, root=root),
                )
                if self.caps.path_attrs and perm not in (0, 0o755):  # mkdir -m, a umask of 077
                    root = await self.api.set_path_attrs(thread, key, full, mode=perm)
                    self.ledger.learn(key, root.path)
            node = self.inodes.upsert(parent_ino, name, Kind.DIR, parent.bucket)
            node.cid, node.size, node.mtime = EMPTY_DIR_CID, 0, made
            node.perm, node.checked, node.unlinked = perm, time.monotonic(), False
            node.ctime = made
            parent.entries_changed()
            self.note(node)
            self.listings[(key, self.inodes.bucket_path(node))] = CachedListing(
                {}, time.monotonic()
            )
        node.lookups += 1
        return self.attr(node)

    async def _is_empty(self, node: Node) -> bool:
        if any(
            c in self.open_files and not self.open_files[c].unlinked for c in node.children.values()
        ):
            return False
        return not await self.listing(node)

    async def rmdir(self, parent_ino: int, name: str) -> None:
        self.check_writable()
        parent = self.inodes.get(parent_ino)
        node = await self.child(parent, name)
        if not node.kind.is_dir:
            raise NotADirectory(name)
        if node.kind is Kind.ROOT or (parent.kind is Kind.ROOT and parent.ino != BUCKETS_INO):
            raise PermissionDenied(f"{name} cannot be removed")
        if not await self._is_empty(node):
            raise NotEmpty(f"{name!r} is not empty")
        thread, key, path = self.where(node)
        if node.kind is Kind.BUCKET:
            await self._uploaded(key)
            await self.api.remove(thread, key)
            self.ledger.forget(key)
            self.index.invalidate()
        elif self.wb is not None:
            self.queue_remove(node)
            self.drop_entry(parent, name)
        else:
            await self.root_checked(
                key, lambda root: self.api.remove_path(thread, key, path, root=root)
            )
            self.drop_entry(parent, name)
        self.listings.pop((key, path), None)
        parent.entries_changed()
        self.inodes.detach(node)

    async def unlink(self, parent_ino: int, name: str) -> None:
        self.check_writable()
        parent = self.inodes.get(parent_ino)
        node = await self.child(parent, name)
        if node.kind.is_dir:
            raise IsADirectory(name)
        of = self.open_files.get(node.ino)
        if of is not None:
            await self._loaded(node, of)  # open descriptors keep their content
            of.unlinked = True
        if self.wb is not None:
            self.queue_remove(node)
        elif of is None or node.cid:  # a file created here has no CID until it is pushed
            thread, key, path = self.where(node)
            try:
                await self.root_checked(
                    key, lambda root: self.api.remove_path(thread, key, path, root=root)
                )
            except NotFound:
                if of is None:
                    raise
        self.drop_entry(parent, name)
        node.changed()  # open descriptors see nlink 0 and the new ctime
        parent.entries_changed()
        self.inodes.detach(node)

    async def rename(
        self, old_parent: int, old_name: str, new_parent: int, new_name: str, flags: int = 0
    ) -> None:
        self.check_writable()
        if flags & RENAME_EXCHANGE:
            raise InvalidArgument("RENAME_EXCHANGE is not supported")
        src_dir, dst_dir = self.inodes.get(old_parent), self.inodes.get(new_parent)
        node = await self.child(src_dir, old_name)
        if Kind.ROOT in (src_dir.kind, dst_dir.kind, node.kind) or node.kind is Kind.BUCKET:
            raise Unsupported("buckets and top-level directories cannot be renamed")
        if dst_dir.bucket != node.bucket:
            raise CrossDevice("rename across buckets")
        self._check_name(new_name)
        try:
            target: Node | None = await self.child(dst_dir, new_name)
        except NotFound:
            target = None
        if target is node:
            return
        thread, key, path = self.where(node)
        dst_path = f"{self.inodes.bucket_path(dst_dir)}/{new_name}".lstrip("/")
        if target is not None:
            if flags & RENAME_NOREPLACE:
                raise AlreadyExists(new_name)
            await self._clear_target(node, target, dst_dir)
        if node.ino in self.open_files:
            await self.push(node.ino)
        await self._uploaded(key)  # write-back: the hub must have both paths as we see them
        if self.wb is not None:
            self.wb.pending.forget_recent(key, path)
            self.wb.pending.forget_recent(key, dst_path)
        await self.root_checked(
            key, lambda root: self.api.move_path(thread, key, path, dst_path, root=root)
        )
        self.ledger.moved(key, path, dst_path, node.kind.is_dir)
        if node.kind is Kind.DIR:
            self.invalidate(node)  # listings below it are cached under the old path
        self.drop_entry(src_dir, old_name)
        self.inodes.move(node, new_parent, new_name)
        node.changed()
        src_dir.entries_changed()
        dst_dir.entries_changed()
        self.note(node)

    async def _uploaded(self, key: str) -> None:
        """Write-back mode: wait until the bucket's pending changes are in the hub."""
        if not await self.wait_uploaded(RENAME_WAIT, key):
            raise TimedOut(f"hub {self.hub_address}: pending uploads of this bucket did not finish")

    async def _clear_target(self, node: Node, target: Node, dst_dir: Node) -> None:
        """POSIX rename replaces the target; MovePath would move *into* a directory."""
        if target.kind.is_dir:
            if not node.kind.is_dir:
                raise IsADirectory(target.name)
            if not await self._is_empty(target):
                raise NotEmpty(target.name)
            await self.rmdir(dst_dir.ino, target.name)
        elif node.kind.is_dir:
            raise NotADirectory(target.name)
        elif target.ino in self.open_files:
            self.open_files[target.ino].unlinked = True

    async def symlink(self, parent_ino: int, name: str, target: str) -> Attr:
        parent = self.inodes.get(parent_ino)
        self._writable_dir(parent)
        self._check_name(name)
        if not self.caps.symlinks:
            raise Unsupported(f"hub {self.hub_address} cannot store symbolic links (no extension)")
        await self._absent(parent, name)
        thread, key, path = self.where(parent)
        full = f"{path}/{name}".lstrip("/")
        await self._uploaded(key)  # write-back: its directory must be in the hub first
        root = await self.path_checked(
            thread, key, full, "", lambda r, _: self.api.symlink(thread, key, full, target, root=r)
        )
        if root is None:
            raise AlreadyExists(f"{name!r} was just made by another client")
        self.ledger.learn(key, root.path)
        node = self.inodes.upsert(parent_ino, name, Kind.LINK, parent.bucket)
        node.cid, node.target, node.mtime, node.unlinked = "", target, time.time_ns(), False
        node.checked, node.ctime = time.monotonic(), node.mtime
        parent.entries_changed()
        self.note(node)
        node.lookups += 1
        return self.attr(node)

    async def link(self, ino: int, new_parent: int, new_name: str) -> Attr:
        self.check_writable()
        raise Unsupported("hard links are not supported")

    # -- extended attributes, statfs ----------------------------------------------------

    def listxattr(self, ino: int) -> list[str]:
        node = self.inodes.get(ino)
        return [] if node.kind is Kind.ROOT else list(XATTRS)

    async def getxattr(self, ino: int, name: str) -> bytes | None:
        """The value of a bucketfs attribute, or None when the node has no such attribute."""
        node = self.inodes.get(ino)
        if node.kind is Kind.ROOT or name not in XATTRS:
            return None
        thread, key, path = self.where(node)
        if name == "user.ipfs.cid":
            if node.kind is Kind.BUCKET:
                return (await self.root_of(key)).removeprefix("/ipfs/").encode()
            return node.cid.encode() if node.cid else None
        if name == "user.bucketfs.key":
            return key.encode()
        if name == "user.bucketfs.thread":
            return thread.encode()
        links = await self.api.links(thread, key, path)
        value = links.get(name.rsplit(".", 1)[1], "")
        return value.encode() if value else None

    def setxattr(self, ino: int, name: str) -> None:
        self.check_writable()
        raise XattrUnsupported(f"extended attribute {name} cannot be set")

    def statfs(self) -> StatFs:
        return StatFs()

    # -- lifecycle ----------------------------------------------------------------------

    async def flush_all(self, timeout: float) -> bool:
        """Push every dirty file, including closed ones whose push is being retried (waiting for
        a retry in progress); True if all were pushed within ``timeout`` seconds."""
        deadline = trio.current_time() + timeout
        with trio.move_on_after(timeout):
            for ino, of in list(self.open_files.items()):
                if of.dirty and not of.unlinked:
                    try:
                        await self.push(ino)
                    except BucketfsError as exc:
                        self.record_error("flush_all", exc)
                        log.error(
                            "hub %s: flushing inode %d failed: %s", self.hub_address, ino, exc
                        )
                        continue
                await self.settle(of)
        if self.wb is not None and not self.giving_up:  # write-back: the journal's changes too
            left = max(0.0, deadline - trio.current_time())
            if not await self.wait_uploaded(left):
                return False
        return not any(of.dirty and not of.unlinked for of in self.open_files.values())

    async def give_up_pending(self) -> None:
        """Drop the closed files whose push keeps failing (``umount --force``), each logged and
        recorded by name; files some handle still holds are kept, but from now on a failed push
        on their last close drops them too (the mount is going away)."""
        if self.wb_give_up():
            return
        self.giving_up = True
        for ino in sorted(self.retrying):
            of = self.open_files.get(ino)
            self.retrying.discard(ino)
            if of is not None and of.refs <= 0:
                await self._close_file(of, admit=False)

    async def close(self) -> None:
        """Drop every open file (after ``flush_all``) and the staging area; changes still not in
        the hub are given up, each logged and recorded by name (write-back mode: recorded in
        the journal for the next mount)."""
        await self.wb_before_close()
        if self.retry_scope is not None:
            self.retry_scope.cancel()
            self.retry_scope = None
        self.retrying.clear()
        for of in list(self.open_files.values()):
            await self._close_file(of, admit=False)  # no hashing on the way out
        self.handles.clear()
        if self.wb is not None:
            self.wb.close()
        await trio.lowlevel.checkpoint()
