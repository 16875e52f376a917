"""The vfs's file operations: open, create, read-modify-write, push, truncate, chmod/utimens.

Close-to-open: written bytes are pushed when a handle is flushed (every ``close()``), fsynced or
released; a push that returns means the hub has the data. Pushes carry the last known bucket root
(``root`` check) and, on a hub with the ``path_check`` extension, the CID the handle started from
(the hub then decides atomically, whatever else changed in the bucket). The conflict rule, when
the hub refuses: if the path still has the content this handle started from (or is still absent
for a new file), push again on the new root (for up to ``CONFLICT_PATIENCE`` seconds of lost
races); if it holds exactly the staged bytes, an earlier attempt was stored before the hub could
answer; otherwise someone else changed that file, so ours is written beside it as
``<name>.conflict-<UTC yyyymmddThhmmss>`` and the event is logged and kept in ``status()``.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import trio

from bucketfs.errors import (
    AlreadyExists,
    Conflict,
    FileTooLarge,
    InvalidArgument,
    IsADirectory,
    NotADirectory,
    NotFound,
    PermissionDenied,
    Unsupported,
)
from bucketfs.vfs.backend import PushResultLike, RootLike
from bucketfs.vfs.cids import file_cid
from bucketfs.vfs.core import MAX_FILE_SIZE, SEED, VfsCore, check_name_length
from bucketfs.vfs.files import OpenFile, held
from bucketfs.vfs.ledger import conflict_name
from bucketfs.vfs.nodes import Attr, Kind, Node

log = logging.getLogger("bucketfs.vfs")
T = TypeVar("T")


@dataclass(frozen=True)
class StoredEarlier:
    """A push found already done (``PushResultLike``): the CID at the path and the root."""

    cid: str
    root: RootLike


CONFLICT_RETRIES = 5  # write-back: rounds refused by a moved root before the round is retried
#: seconds a push keeps retrying on new roots while other changes of the bucket win the race
CONFLICT_PATIENCE = 60.0
CONFLICT_PAUSE = 0.01  # first (jittered) pause between those retries, doubled up to 1 s
#: background pushes of closed files the hub did not take: first pause, doubled up to the last
RETRY_FIRST = 0.5
RETRY_MAX = 30.0


class WriteOps(VfsCore):
    """File content and attribute changes (see module docstring)."""

    # -- open / create / write ----------------------------------------------------------

    def _writable_dir(self, parent: Node) -> None:
        self.check_writable()
        if parent.kind is Kind.ROOT:
            raise PermissionDenied(f"{parent.name or '/'} holds only what the hub provides")
        if not parent.kind.is_dir:
            raise NotADirectory(parent.name)

    @staticmethod
    def _check_name(name: str) -> None:
        check_name_length(name)
        if SEED in name:
            raise InvalidArgument("paths containing .textileseed are not allowed")

    def staging_dir(self) -> Path:
        """Where staging files of files open for writing are made."""
        return self.cache.staging

    def local_content(self, node: Node) -> tuple[Path, str, object] | None:
        """(file, base CID, the change it belongs to) of content this mount holds for ``node``
        but the hub may not (write-back mode); None when the hub's content (``node.cid``) is
        current."""
        return None

    def _open_file(self, node: Node, truncate: bool) -> OpenFile:
        of = self.open_files.get(node.ino)
        if of is None:
            local = self.local_content(node)
            if local is not None:
                src = None if truncate else local[0]  # copied in, or nothing left (files.py)
                of = OpenFile.new(self.staging_dir(), node.ino, local[1], loaded=True, src=src)
                of.origin = local[2]
            else:
                of = OpenFile.new(self.staging_dir(), node.ino, node.cid, loaded=not node.cid)
            self.open_files[node.ino] = of
        # O_TRUNC empties the file's current content: what the hub has (not loaded), what
        # this staging copy holds, or what a pending write-back change holds (``node.size``:
        # the new staging copy starts empty and must still be recorded)
        if truncate and (of.size() or not of.loaded or node.size):
            if of.journaled:
                of.detach(self.staging_dir())
            of.truncate(0)
            of.loaded = True
        of.refs += 1
        return of

    async def open(self, ino: int, flags: int) -> int:
        node = self.inodes.get(ino)
        if node.kind.is_dir:
            raise IsADirectory(node.name)
        writable = flags & (os.O_WRONLY | os.O_RDWR) != 0
        if writable or flags & os.O_TRUNC:
            self.check_writable()
            self._open_file(node, truncate=bool(flags & os.O_TRUNC))
        elif node.ino in self.open_files:
            self.open_files[node.ino].refs += 1  # read what the writers staged
        else:
            self.fetcher.acquire(node.cid)
            return self.new_handle(ino, False, node.cid, staged=False)
        return self.new_handle(ino, writable, node.cid, staged=True)

    async def create(self, parent_ino: int, name: str, mode: int, flags: int) -> tuple[int, Attr]:
        parent = self.inodes.get(parent_ino)
        self._writable_dir(parent)
        self._check_name(name)
        try:
            existing: Node | None = await self.child(parent, name)
        except NotFound:
            existing = None
        if existing is not None:
            if flags & os.O_EXCL:
                raise AlreadyExists(name)
            fh = await self.open(existing.ino, flags)  # O_TRUNC only if asked for
            existing.lookups += 1
            return fh, self.attr(existing)
        node = self.inodes.upsert(parent_ino, name, Kind.FILE, parent.bucket)
        node.cid, node.size, node.perm, node.mtime = "", 0, mode & 0o7777, time.time_ns()
        node.ctime = node.mtime
        parent.entries_changed()
        node.checked, node.unlinked = time.monotonic(), False
        of = self._open_file(node, truncate=False)
        of.touch()  # a new file is pushed even if nothing is written
        if self.caps.path_attrs:
            of.pending_mode = mode & 0o7777
        node.lookups += 1
        return self.new_handle(node.ino, True, "", staged=True), self.attr(node)

    async def _loaded(self, node: Node, of: OpenFile) -> OpenFile:
        if of.loaded:
            return of
        async with held(of.load_lock):
            if not of.loaded:
                of.load_from(await of.fetching(self.whole_file(node, of.base_cid)))
        return of

    async def _changeable(self, node: Node, of: OpenFile) -> OpenFile:
        await self._loaded(node, of)
        if of.journaled:
            of.detach(self.staging_dir())
        return of

    async def write(self, fh: int, off: int, data: bytes) -> int:
        ino = self.handles[fh].ino
        of = self.open_files[ino]
        node = self.inodes.get(ino)
        if not of.loaded:
            await self._loaded(node, of)
        if of.journaled:  # recorded by the write-back journal: continue in a copy
            of.detach(self.staging_dir())
        if off + len(data) > MAX_FILE_SIZE:
            raise FileTooLarge(f"{node.name}: files are at most {MAX_FILE_SIZE} bytes")
        n = of.write(off, data)
        of.pending_mtime = None
        node.changed(data=True)
        return n

    async def flush(self, fh: int) -> None:
        h = self.handles.get(fh)
        if h is not None and h.writable:
            await self.push(h.ino)

    async def fsync(self, fh: int) -> None:
        await self.flush(fh)

    async def release(self, fh: int) -> None:
        h = self.handles.pop(fh, None)
        if h is None:
            return
        of = self.open_files.get(h.ino)
        if not h.staged:
            self.fetcher.release(h.cid)
            return
        if of is None:
            return
        try:
            if of.dirty and not of.unlinked and h.writable:
                await self.push(h.ino)
        finally:
            await self._unref(of)

    async def _unref(self, of: OpenFile) -> None:
        """Drop one reference; the last one closes the file once a push in progress ended."""
        of.refs -= 1
        if of.refs > 0:
            return
        if of.lock.locked():  # a push in progress: wait for it
            async with of.lock:
                pass
        if of.refs <= 0 and self.open_files.get(of.ino) is of:
            if of.dirty and not of.unlinked and not self.giving_up:
                self._keep_for_retry(of)
            else:
                await self._close_file(of)

    def _keep_for_retry(self, of: OpenFile) -> None:
        """The last handle closed but the hub does not have the data: keep the staged file
        (listed as dirty/pending) and push it again in the background until it is taken."""
        if of.ino not in self.retrying:
            name = self._describe(of)
            log.warning("hub %s: %s is not in the hub yet; retrying", self.hub_address, name)
        self.retrying.add(of.ino)
        if self.retry_scope is None:
            self.retry_scope = trio.CancelScope()
            trio.lowlevel.spawn_system_task(
                self._retry_pushes, self.retry_scope, name="bucketfs push retries"
            )

    def _describe(self, of: OpenFile) -> str:
        try:
            return f"{self.inodes.get(of.ino).name!r} (inode {of.ino})"
        except NotFound:
            return f"inode {of.ino}"

    async def _retry_pushes(self, scope: trio.CancelScope) -> None:
        """Push the files in ``retrying`` with exponential backoff until none is left."""
        delay = RETRY_FIRST
        try:
            with scope:
                while self.retrying:
                    await trio.sleep(delay)
                    failed = False
                    for ino in sorted(self.retrying):
                        failed |= not await self._retry_one(ino)
                    delay = min(delay * 2, RETRY_MAX) if failed else RETRY_FIRST
        finally:
            if self.retry_scope is scope:
                self.retry_scope = None

    async def _retry_one(self, ino: int) -> bool:
        """One background attempt for ``ino``; False if the hub still did not take it."""
        of = self.open_files.get(ino)
        if of is None or of.refs > 0:  # gone, or open again: its handles push it on close
            self.retrying.discard(ino)
            return True
        try:
            await self.push(ino)
        except Exception as exc:  # whatever happened, the data stays staged
            self.record_error("push retry", exc)
            log.warning("hub %s: pushing %s failed: %s", self.hub_address, self._describe(of), exc)
            return False
        await self.settle(of)
        return True

    async def settle(self, of: OpenFile) -> None:
        """Close a file no handle holds any more once its data is in the hub (or it was removed)."""
        if of.refs <= 0 and self.open_files.get(of.ino) is of and (of.unlinked or not of.dirty):
            self.retrying.discard(of.ino)
            await self._close_file(of)

    async def _close_file(self, of: OpenFile, *, admit: bool = True) -> None:
        self.open_files.pop(of.ino, None)
        if of.dirty and not of.unlinked:
            msg = f"changes to {self._describe(of)} were not saved"
            self.errors.append(msg)
            log.error("hub %s: %s", self.hub_address, msg)
        if admit and of.cacheable_cid():
            self.cache.store(of.pushed_cid, of.path)  # the bytes the hub imported: no re-hash
        of.close()

    # -- pushing ------------------------------------------------------------------------

    async def push(self, ino: int) -> None:
        """Send the staged content of ``ino`` to the hub if it changed (see module docstring)."""
        of = self.open_files.get(ino)
        if of is None:
            return
        of.check()  # a write of it failed (no space): never pushed, close fails (files.py)
        async with held(of.lock):
            if not of.dirty or of.unlinked:
                return
            node = await self._loaded_node(ino, of)
            generation = of.generation
            thread, key, path = self.where(node)
            mode, mtime = of.pending_mode or 0, of.pending_mtime or 0
            size = of.size()

            def send(root: str, expect: str | None, to: str = path) -> Awaitable[PushResultLike]:
                def chunks() -> AsyncIterator[bytes]:
                    return self.transfers.counted(tids[0], of.chunks(size))

                return self.api.push_path(
                    thread,
                    key,
                    to,
                    chunks,
                    root=root,
                    mode=mode,
                    mtime=mtime,
                    size=size,
                    path_cid=expect,
                )

            with self.transfers.uploading([(f"{key}/{path}", size, None)]) as tids:
                res = await self.path_checked(thread, key, path, of.base_cid, send, precise=True)
                if res is None:
                    res = await self._already_there(thread, key, path, of)
                if res is None:  # someone else changed the file meanwhile
                    res = await self._beside(node, path, send)
            of.pushed_generation, of.pushed_cid, of.base_cid = generation, res.cid, res.cid
            self.learn_length(res.cid, size)
            self.ledger.stored(key, path, res.cid, res.root.path)
            if self.inodes.bucket_path(node) == path:
                node.cid, node.checked = res.cid, time.monotonic()
                node.size, node.size_exact = of.size(), True
                node.mtime = mtime or time.time_ns()
                self.note(node)

    async def root_checked(
        self, key: str, change: Callable[[str], Awaitable[RootLike | None]]
    ) -> None:
        """Make a namespace change (``SetPath``, ``MovePath``) with the root check, so that the
        root it returns is known to be ours and our caches of the bucket stay valid. A refused
        check (someone else changed the bucket) repeats the change without it; that, or a hub
        that returns no root, leaves the root unknown, and the caches are revalidated as after
        any other client's change."""
        try:
            done = await change(await self.root_of(key))
        except Conflict:
            await change("")
            done = None
        if done is None:
            self.ledger.forget(key)
        else:
            self.ledger.learn(key, done.path)

    async def _loaded_node(self, ino: int, of: OpenFile) -> Node:
        node = self.inodes.get(ino)
        await self._loaded(node, of)
        return node

    async def path_checked(
        self,
        thread: str,
        key: str,
        path: str,
        base: str,
        change: Callable[[str, str | None], Awaitable[T]],
        *,
        precise: bool = False,
    ) -> T | None:
        """``change(root, expect)`` made as the conflict rule wants (module docstring). With
        ``precise`` (the change can carry a per-path precondition) and a hub that has the
        ``path_check`` extension, the hub applies it when the root check fails if ``path``
        holds ``base`` ("" = absent): one call, no race. Otherwise, when the bucket moved on, it
        is made again on the new root for as long as ``path``
        still holds ``base`` and other changes keep winning the race (``CONFLICT_PATIENCE``,
        jittered backoff). None when the path holds something else."""
        checked = precise and self.caps.path_check
        root = await self.root_of(key)
        deadline = time.monotonic() + CONFLICT_PATIENCE
        pause = CONFLICT_PAUSE
        while True:
            try:
                return await change(root, base if checked else None)
            except Conflict:
                if time.monotonic() > deadline:
                    raise
            if pause > CONFLICT_PAUSE:
                await trio.sleep(random.uniform(0, pause))
            pause = min(pause * 2, 1.0)
            root = (await self.api.root(thread, key)).path
            self.ledger.learn(key, root)
            try:
                current = (await self.api.list_path(thread, key, path)).item.cid
            except NotFound:
                current = ""
            if current != base:
                return None

    async def _already_there(
        self, thread: str, key: str, path: str, of: OpenFile
    ) -> PushResultLike | None:
        """The path holds exactly the staged bytes: an earlier attempt of this push was stored
        before the hub could answer (it was killed, the connection broke). Not a conflict."""
        try:
            listing = await self.api.list_path(thread, key, path)
        except NotFound:
            return None
        mine = await trio.to_thread.run_sync(file_cid, of.path)
        if listing.item.cid != mine:
            return None
        log.info("hub %s: %s/%s was stored before the hub answered", self.hub_address, key, path)
        return StoredEarlier(mine, listing.root)

    async def _beside(
        self, node: Node, path: str, send: Callable[[str, None, str], Awaitable[PushResultLike]]
    ) -> PushResultLike:
        """Our version of a file someone else changed meanwhile goes beside it."""
        key = node.bucket
        other = conflict_name(path)
        msg = f"{key}/{path} changed on the hub meanwhile; our version saved as {other}"
        log.warning("hub %s: %s", self.hub_address, msg)
        self.conflicts.append(msg)
        result = await send("", None, other)
        self.invalidate(self.inodes.get(node.parent))
        return result

    # -- attributes ---------------------------------------------------------------------

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
        node = self.inodes.get(ino)
        self.check_writable()
        if (uid is not None and uid != self.uid) or (gid is not None and gid != self.gid):
            raise Unsupported("files are owned by the mounting user; chown is not supported")
        if node.kind is Kind.ROOT or (node.kind is Kind.BUCKET and size is not None):
            raise PermissionDenied(f"cannot change attributes of {node.name or '/'}")
        if size is not None:
            await self._truncate(node, fh, size)
        if mode is not None or mtime is not None:
            await self._set_attrs(node, mode, mtime)
        if mtime is not None:
            node.touched = 0  # a time set explicitly (tar, rsync) wins over our entry changes
        if atime is not None:  # kept by the mount only (the hub stores no access time)
            node.atime = atime
            node.changed()
        return self.attr(node)

    async def _truncate(self, node: Node, fh: int | None, size: int) -> None:
        if node.kind.is_dir:
            raise IsADirectory(node.name)
        if size > MAX_FILE_SIZE:
            raise FileTooLarge(f"{node.name}: files are at most {MAX_FILE_SIZE} bytes")
        node.changed(data=True)
        of = self.open_files.get(node.ino)
        if of is not None and fh is not None:
            (await self._changeable(node, of)).truncate(size)
            return
        of = self._open_file(node, truncate=size == 0)
        try:
            (await self._changeable(node, of)).truncate(size)
            await self.push(node.ino)
        finally:
            await self._unref(of)

    async def _set_attrs(self, node: Node, mode: int | None, mtime: int | None) -> None:
        if not self.caps.path_attrs:
            raise Unsupported(f"hub {self.hub_address} cannot store modes or times (no extension)")
        node.changed()
        of = self.open_files.get(node.ino)
        if of is not None and of.dirty:
            if mode is not None:
                of.pending_mode = node.perm = mode & 0o7777
            if mtime is not None:
                of.pending_mtime = node.mtime = mtime
            return
        thread, key, path = self.where(node)
        root = await self.api.set_path_attrs(
            thread, key, path, mode=None if mode is None else mode & 0o7777, mtime=mtime
        )
        self.ledger.learn(key, root.path)
        if mode is not None:
            node.perm = mode & 0o7777
        if mtime is not None:
            node.mtime = mtime
        if node.kind is not Kind.BUCKET:
            self.note(node)
