"""Write-back mode of the buckets vfs: closes are recorded in an on-disk journal and uploaded by
a background task (``vfs.writeback_upload``); ``docs/SEMANTICS.md`` ("Write-back mode") has the
promises.

``WriteBackOps.enable_write_back(dir)`` turns it on (before ``start()``); without it every
method here behaves as the synchronous ``WriteOps``. What changes:

- flush/release of a written file appends a ``put`` record naming its staging file (made in the
  journal's ``data/`` directory) instead of pushing; ``fsync`` also makes the record and the data
  durable; chmod/utimens of a file not yet uploaded rewrites its record;
- the overlay: listings (and so lookups, stat and readdir) show pending creations, changes and
  removals, and a pending file is read from its journal copy;
- mkdir/unlink/rmdir of something that exists only in the journal are settled locally, others
  are queued (``vfs.tree`` calls ``queue_mkdir``/``queue_remove``);
- ``flush_all`` waits for the queue (``wait_uploaded``); ``give_up_pending`` leaves the journal
  for the next mount (``wb_give_up``); ``close`` records files still open (``wb_before_close``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import trio

from bucketfs.errors import NotFound, TimedOut, Unavailable
from bucketfs.vfs.backend import EntryLike
from bucketfs.vfs.core import CachedListing
from bucketfs.vfs.files import held
from bucketfs.vfs.nodes import Kind, Node
from bucketfs.vfs.writeback_journal import Journal, Op
from bucketfs.vfs.writeback_upload import Uploads, op_entry

log = logging.getLogger("bucketfs.vfs.writeback")


class WriteBackOps(Uploads):
    """See the module docstring."""

    wb_fds: dict[int, int]

    def enable_write_back(self, journal_dir: Path) -> int:
        """Use the journal in ``journal_dir`` (replaying what a previous mount left there);
        returns the number of changes found pending."""
        journal = Journal(journal_dir)
        found = journal.replay()
        self._wb_init(journal)
        self.wb_fds = {}
        if found:
            log.info("write-back journal %s: %d change(s) to upload", journal_dir, found)
        return found

    async def start(self) -> None:
        await super().start()
        if self.wb is not None and self.wb.pending.ops:
            self.wb_kick()

    # -- overlay ------------------------------------------------------------------------

    def staging_dir(self) -> Path:
        return self.wb.data if self.wb is not None else super().staging_dir()

    def _op_of(self, node: Node) -> Op | None:
        if self.wb is None or node.kind in (Kind.ROOT, Kind.BUCKET):
            return None
        return self.wb.pending.latest(node.bucket, self.inodes.bucket_path(node))

    def local_content(self, node: Node) -> tuple[Path, str, object] | None:
        op = self._op_of(node)
        if op is None or op.kind != "put" or self.wb is None:
            return None
        return self.wb.data_path(op.data), self.wb.pending.base_after(op), op

    async def listing(self, node: Node) -> dict[str, EntryLike]:
        """The cached or fetched listing: fetched ones get the overlay (``_fetch``), cached ones
        follow our own changes (``note``/``drop_entry``); a directory made here and not sent
        yet is not asked for, one the hub does not have yet shows its pending entries; while the
        hub is unreachable the last cached listing is used."""
        if self.wb is None:
            return await super().listing(node)
        _, key, path = self.where(node)
        own = self._op_of(node)
        unsent = own is not None and own.seq in self.wb.pending.ops and not own.sending
        if own is not None and own.kind == "mkdir" and not own.replayed and unsent:
            cached = self.listings.get((key, path))
            if cached is None:
                cached = CachedListing(self._overlay(key, path, {}), time.monotonic())
                self.listings[(key, path)] = cached
            return cached.entries
        try:
            return await super().listing(node)
        except NotFound:
            if own is None and not self.wb.pending.names.get((key, path)):
                raise
            return self._overlay(key, path, {})
        except (Unavailable, TimedOut):
            stale = self.listings.get((key, path))
            if stale is None:
                raise
            return stale.entries  # hub unreachable: changes still go to the journal

    async def _fetch(self, node: Node, key: str, path: str) -> tuple[dict[str, EntryLike], str]:
        """The hub's listing with the pending changes laid over it, so that whatever caches or
        compares listings (the Listen watcher) never mistakes a pending entry for a removal."""
        entries, root = await super()._fetch(node, key, path)
        return self._overlay(key, path, entries), root

    def _overlay(self, key: str, path: str, base: dict[str, EntryLike]) -> dict[str, EntryLike]:
        mine = self.wb.pending.names.get((key, path)) if self.wb is not None else None
        if not mine or self.wb is None:
            return base
        entries = dict(base)
        prefix = f"{path}/" if path else ""
        for name in mine:
            op = self.wb.pending.latest(key, prefix + name)
            if op is None:
                continue
            if op.kind == "rm":
                entries.pop(name, None)
            else:
                entries[name] = op_entry(name, op, base.get(name))
        return entries

    # -- reading a pending file ---------------------------------------------------------

    async def open(self, ino: int, flags: int) -> int:
        node = self.inodes.get(ino)
        if self.wb is None or node.kind is not Kind.FILE or node.ino in self.open_files:
            return await super().open(ino, flags)
        local = self.local_content(node)
        if local is None and not node.cid and node.size:
            node = await self.child(self.inodes.get(node.parent), node.name)  # uploaded since
        if local is None or flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
            return await super().open(node.ino, flags)
        fd = os.open(local[0], os.O_RDONLY)
        fh = self.new_handle(node.ino, False, "", staged=False)
        self.wb_fds[fh] = fd
        return fh

    async def read(self, fh: int, off: int, size: int) -> bytes:
        fd = self.wb_fds.get(fh) if self.wb is not None else None
        if fd is None:
            return await super().read(fh, off, size)
        return os.pread(fd, size, off)

    async def release(self, fh: int) -> None:
        fd = self.wb_fds.pop(fh, None) if self.wb is not None else None
        if fd is None:
            await super().release(fh)
            return
        os.close(fd)
        self.handles.pop(fh, None)

    # -- closing: record instead of pushing -----------------------------------------------

    async def push(self, ino: int) -> None:
        if self.wb is None:
            await super().push(ino)
            return
        await self._commit(ino)

    async def _commit(self, ino: int) -> Op | None:
        """Record the staged content of ``ino`` in the journal if it changed."""
        of = self.open_files.get(ino)
        journal = self.wb
        if of is None or journal is None:
            return None
        of.check()  # a write of it failed (no space): never journaled, close fails (files.py)
        async with held(of.lock):
            if not of.dirty or of.unlinked:
                return None
            node = await self._loaded_node(ino, of)
            if of.journaled:  # changed attributes only: record the same content again
                of.detach(self.staging_dir())
            thread, key, path = self.where(node)
            size = of.size()
            # the base is decided now, not at open: a change of ours the copy started from may
            # have been uploaded meanwhile (then the hub holds our content, its CID is the base)
            prior = journal.pending.latest(key, path)
            if prior is None or prior.kind != "put":
                prior = of.origin if isinstance(of.origin, Op) else None
            base = of.base_cid if prior is None else journal.pending.base_after(prior)
            op = of.recording(journal.new_op)(
                "put",
                thread,
                key,
                path,
                data=of.path.name,
                size=size,
                mode=of.pending_mode or 0,
                mtime=of.pending_mtime or 0,
                base=base,
            )
            of.journaled = True
            of.pushed_generation = of.generation
            node.cid, node.size, node.size_exact, node.checked = "", size, True, time.monotonic()
            node.mtime = of.pending_mtime or op.made  # as the overlay shows it
            if of.pending_mode:
                node.perm = of.pending_mode
            self.note(node)
            self.wb_kick()
            return op

    async def fsync(self, fh: int) -> None:
        if self.wb is None:
            await super().fsync(fh)
            return
        h = self.handles.get(fh)
        if h is None or not h.writable:
            return
        await self._commit(h.ino)
        of = self.open_files.get(h.ino)
        name = of.path.name if of is not None and of.journaled else ""
        await trio.to_thread.run_sync(self.wb.sync, name)  # the disk flush, off the event loop

    async def _set_attrs(self, node: Node, mode: int | None, mtime: int | None) -> None:
        if self.wb is None or not self.caps.path_attrs:
            await super()._set_attrs(node, mode, mtime)  # (raises Unsupported without caps)
            return
        op = self._op_of(node)
        while op is not None and op.sending:  # its upload decides: wait for it
            progress = self.wb_progress
            await progress.wait()
        of = self.open_files.get(node.ino)
        pending = self.wb.pending.ops
        if op is None or op.kind == "rm" or op.seq not in pending or (of is not None and of.dirty):
            await super()._set_attrs(node, mode, mtime)
            if op is not None and op.kind != "rm" and op.seq not in pending:
                # uploaded, still shown by the overlay for a moment: show the new values
                op.mode = op.mode if mode is None else mode & 0o7777
                op.mtime = op.mtime if mtime is None else mtime
            return
        new_mode = op.mode if mode is None else mode & 0o7777
        new_mtime = op.mtime if mtime is None else mtime
        self.wb.append({"op": "attrs", "seq": op.seq, "mode": new_mode, "mtime": new_mtime})
        if mode is not None:
            node.perm = mode & 0o7777
        if mtime is not None:
            node.mtime = mtime
        self.note(node)
        self.wb_kick()

    # -- namespace changes (called by vfs.tree in write-back mode) -----------------------

    def queue_mkdir(self, parent: Node, name: str, mode: int) -> int:
        """Queue a directory creation; returns its time (ns) as the overlay shows it."""
        thread, key, path = self.where(parent)
        full = f"{path}/{name}".lstrip("/")
        op = self._journal().new_op("mkdir", thread, key, full, mode=mode & 0o7777)
        self.wb_kick()
        return op.made

    def queue_remove(self, node: Node) -> None:
        """unlink/rmdir: settled here if only the journal has ``node``, else queued (a
        directory's removal subsumes the pending removals below it)."""
        thread, key, path = self.where(node)
        journal = self._journal()
        if journal.pending.only_here(key, path):
            journal.append({"op": "drop", "key": key, "path": path, "dir": node.kind.is_dir})
            return
        journal.new_op("rm", thread, key, path, is_dir=node.kind.is_dir)
        self.wb_kick()

    # -- lifecycle ----------------------------------------------------------------------

    def wb_give_up(self) -> bool:
        """``umount --force`` in write-back mode: nothing is dropped, the journal stays for the
        next mount (logged); False in synchronous mode."""
        if self.wb is None:
            return False
        self.giving_up = True  # the unmount's last flush_all does not wait for the queue
        n = len(self.wb.pending.ops)
        if n:
            log.warning(
                "unmounting with %d change(s) not uploaded; they stay in the write-back journal "
                "%s and are uploaded by the next mount",
                n,
                self.wb.root,
            )
        return True

    async def wb_before_close(self) -> None:
        """Stop uploading; files still open with changes are recorded for the next mount."""
        if self.wb is None:
            return
        self.stop_uploader()
        for ino, of in list(self.open_files.items()):
            if of.dirty and not of.unlinked:
                await self._commit(ino)
        for fd in self.wb_fds.values():
            os.close(fd)
        self.wb_fds.clear()

    def status(self) -> dict[str, object]:
        out = super().status()
        if self.wb is not None:
            pending = self.wb.pending
            out["write_back"] = {
                "journal": str(self.wb.root),
                "pending_changes": len(pending.ops),
                "pending_files": pending.files(),
                "pending_bytes": pending.bytes,
                "uploaded_changes": self.wb_sent,
            }
        return out

    def pending_paths(self) -> list[str]:
        """Bucket key/path of the changes not uploaded yet."""
        if self.wb is None:
            return []
        return [f"{op.key}/{op.path} ({op.kind})" for op in self.wb.pending.ops.values()]
