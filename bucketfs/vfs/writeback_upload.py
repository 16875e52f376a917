"""The write-back uploader: one background trio task that sends the journal's changes to the hub.

It waits until the queue has been idle for ``IDLE`` seconds (or holds ``BATCH_FILES`` files /
``BATCH_BYTES`` bytes, or someone waits for it), then sends one round: the directory creations
and removals that may go first (no pending change before them touches their path), then up to
``BATCH_FILES`` files of one bucket in one PushPaths stream with the root (fast-forward) check,
with the files' modes and mtimes in its header (a hub without that extension gets a SetPathAttrs
per file whose mode or mtime the program set); a round of one file is one PushPath. A new directory that the round's files
are pushed into is made by their push (no SetPath); only its attributes are set after them.
Records are marked done only when the hub answered; on any failure the data stays in the journal
and the round is retried with backoff (one file at a time after a failed batch, so one bad path
cannot hold the others back). Removals carry the root check too (retried once on a new root).

Conflicts follow the synchronous rule (``vfs.writes``): on ``update is non-fast-forward`` each
file's current CID on the hub is compared with the CID the change started from; a file someone
else changed is written beside it as ``<name>.conflict-<stamp>``; a file that already has our
content (a batch sent before a crash, not yet marked done) is not sent again. Changes replayed
from a previous mount are checked the same way before their first send.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import trio

from bucketfs.errors import BucketfsError, Conflict, NoSpace, NotFound
from bucketfs.vfs.backend import EntryLike
from bucketfs.vfs.cids import EMPTY_DIR_CID, file_cid
from bucketfs.vfs.core import LocalEntry
from bucketfs.vfs.ledger import conflict_name
from bucketfs.vfs.writeback_journal import Journal, Op, below, parent_of, related
from bucketfs.vfs.writes import CONFLICT_RETRIES, RETRY_FIRST, RETRY_MAX, WriteOps

log = logging.getLogger("bucketfs.vfs.writeback")

BATCH_FILES = 500
BATCH_BYTES = 64 << 20
IDLE = 0.1
#: directory creations/removals sent per round before the files
OTHERS_PER_ROUND = 64
CHUNK = 1 << 20


async def file_chunks(path: Path, size: int) -> AsyncIterator[bytes]:
    """The first ``size`` bytes of ``path`` in pieces of at most 1 MiB."""
    fd = os.open(path, os.O_RDONLY)
    try:
        off = 0
        while off < size:
            data = os.pread(fd, min(CHUNK, size - off), off)
            if not data:
                return
            off += len(data)
            yield data
            await trio.lowlevel.checkpoint()
    finally:
        os.close(fd)


def needs_attrs(op: Op) -> bool:
    """Whether the hub must be told the op's mode or mtime (PushPaths carries neither)."""
    return bool(op.mtime) or bool(op.mode and not (op.base == "" and op.mode == 0o644))


def op_entry(name: str, op: Op, old: EntryLike | None) -> LocalEntry:
    """The listing entry of a pending (or just finished) change, as the overlay shows it."""
    mtime = op.mtime or op.made
    if op.kind == "mkdir":
        return LocalEntry(name, EMPTY_DIR_CID, True, 0, 0, op.mode or 0o755, mtime)
    mode = op.mode or (old.mode & 0o7777 if old is not None else 0) or 0o644
    return LocalEntry(name, op.cid, False, op.size, op.size, mode, mtime)


class Uploads(WriteOps):
    """The uploader half of write-back mode (see module docstring)."""

    wb: Journal | None = None
    wb_scope: trio.CancelScope | None = None
    wb_solo = False  # one file per round (after a failed batch)
    wb_waiters = 0  # tasks waiting for the queue: send without the idle pause
    wb_sent = 0  # changes the hub confirmed

    def _wb_init(self, journal: Journal) -> None:
        self.wb = journal
        self.wb_wake = trio.Event()
        self.wb_progress = trio.Event()
        self.wb_last = time.monotonic()

    def wb_kick(self) -> None:
        """A change was queued (or someone waits): wake the uploader."""
        self.wb_last = time.monotonic()
        self.wb_wake.set()
        if self.wb_scope is None and self.wb is not None:
            self.wb_scope = trio.CancelScope()
            trio.lowlevel.spawn_system_task(
                self._upload_loop, self.wb_scope, name="bucketfs write-back uploader"
            )

    def _journal(self) -> Journal:
        assert self.wb is not None
        return self.wb

    async def _upload_loop(self, scope: trio.CancelScope) -> None:
        delay = RETRY_FIRST
        try:
            with scope:
                while True:
                    await self._wait_for_work()
                    try:
                        await self._upload_round()
                    except Exception as exc:  # the data stays in the journal
                        self.record_error("write-back upload", exc)
                        log.warning(
                            "hub %s: write-back upload failed (retrying in %.1f s): %s",
                            self.hub_address,
                            delay,
                            exc,
                        )
                        self.wb_solo = True
                        await self._notify()
                        await trio.sleep(delay)
                        delay = min(delay * 2, RETRY_MAX)
                    else:
                        delay = RETRY_FIRST
        finally:
            if self.wb_scope is scope:
                self.wb_scope = None

    async def _wait_for_work(self) -> None:
        pending = self._journal().pending
        while True:
            self._expire()
            if any(not op.sending for op in pending.ops.values()):
                break
            self.wb_wake = trio.Event()
            with trio.move_on_after(0.5 if pending.recent else 3600):
                await self.wb_wake.wait()
        while not self.wb_waiters:  # idle pause: let a burst of closes accumulate
            if pending.files() >= BATCH_FILES or pending.bytes >= BATCH_BYTES:
                break
            wait = self.wb_last + IDLE - time.monotonic()
            if wait <= 0:
                break
            self.wb_wake = trio.Event()
            with trio.move_on_after(wait):
                await self.wb_wake.wait()

    def _expire(self) -> None:
        """Finished changes leave the overlay; the listings they covered are fetched again."""
        for key, path in self._journal().pending.expire(time.monotonic()):
            self.listings.pop((key, path), None)

    async def _notify(self) -> None:
        self.wb_progress.set()
        self.wb_progress = trio.Event()
        await trio.lowlevel.checkpoint()

    def _plan(self) -> tuple[list[Op], list[Op]]:
        """(directory ops to send first, files for one stream), all of one bucket."""
        ops = [op for op in self._journal().pending.ops.values() if not op.sending]
        if not ops:  # settled meanwhile (mkdir d; rmdir d during the idle pause)
            return [], []
        key = ops[0].key
        others: list[Op] = []
        files: list[Op] = []
        blocked: list[str] = []
        size = 0
        limit = 1 if self.wb_solo else BATCH_FILES
        for op in ops:
            if op.key != key:
                continue
            if any(related(op.path, b) for b in blocked):
                blocked.append(op.path)
            elif op.kind == "put":
                if len(files) >= limit or (files and size + op.size > BATCH_BYTES):
                    break
                files.append(op)
                size += op.size
            elif len(others) < OTHERS_PER_ROUND and not any(
                related(op.path, f.path) for f in files
            ):
                others.append(op)
            else:
                blocked.append(op.path)
            if self.wb_solo and (others or files):
                break
        return others, files

    async def _upload_round(self) -> None:
        others, files = self._plan()
        absorbed = self._absorbed(others, files)
        for op in others + files:
            op.sending = True
        try:
            for op in others:
                if op not in absorbed:
                    await self._send_other(op)
                    self._finish([op])
            if files:
                await self._send_files(files)
            for op in absorbed:  # made by the files' push: only its attributes are left
                await self._dir_attrs(op)
                self._finish([op])
        finally:
            for op in others + files:
                op.sending = False
        if others or files:
            self.wb_solo = False
        await self._notify()

    def _finish(self, ops: list[Op]) -> None:
        done = [op for op in ops if op.seq in self._journal().pending.ops]
        if done:
            cids = {str(op.seq): op.cid for op in done if op.kind == "put" and op.cid}
            rec = {"op": "done", "seqs": [op.seq for op in done], "cids": cids}
            try:
                self._journal().append(rec)
            except NoSpace as exc:  # the hub has them: a replay finds them there (``_ours``)
                log.warning("write-back journal: uploads not recorded as done (%s)", exc)
                self._journal().apply(rec)
            self.wb_sent += len(done)

    # -- directories and removals -------------------------------------------------------

    async def _send_other(self, op: Op) -> None:
        if op.kind == "rm":
            with contextlib.suppress(NotFound):  # already gone (or never arrived)
                try:
                    root = await self.root_of(op.key)
                    done = await self.api.remove_path(op.thread, op.key, op.path, root=root)
                except Conflict:
                    root = (await self.api.root(op.thread, op.key)).path
                    done = await self.api.remove_path(op.thread, op.key, op.path, root=root)
                self.ledger.learn(op.key, done.path)
            return
        if not (op.replayed and await self._exists(op)):
            await self.root_checked(
                op.key,
                lambda root: self.api.set_path(
                    op.thread, op.key, op.path, EMPTY_DIR_CID, root=root
                ),
            )
        await self._dir_attrs(op)

    @staticmethod
    def _absorbed(others: list[Op], files: list[Op]) -> list[Op]:
        """Directory creations the round's files make anyway (a push creates the parents): no
        SetPath for them (nothing below them is sent before the files)."""
        return [
            d
            for d in others
            if d.kind == "mkdir"
            and not d.replayed
            and any(f.path.startswith(d.path + "/") for f in files)
            and not any(x is not d and below(x.path, d.path) for x in others)
        ]

    async def _dir_attrs(self, op: Op) -> None:
        mode = op.mode if op.mode not in (0, 0o755) else None
        if self.caps.path_attrs and (mode is not None or op.mtime):
            root = await self.api.set_path_attrs(
                op.thread, op.key, op.path, mode=mode, mtime=op.mtime or None
            )
            self.ledger.learn(op.key, root.path)

    async def _exists(self, op: Op) -> bool:
        try:
            await self.api.list_path(op.thread, op.key, op.path, limit=1)
        except NotFound:
            return False
        return True

    # -- files --------------------------------------------------------------------------

    async def _send_files(self, files: list[Op]) -> None:
        thread, key = files[0].thread, files[0].key
        targets = [(op, op.path) for op in files]
        if any(op.replayed for op in files):
            self.ledger.learn(key, (await self.api.root(thread, key)).path)
            targets = await self._check_bases(thread, key, files)
        attempt = 0
        while targets:
            try:
                await self._push(thread, key, targets)
                break
            except Conflict:
                attempt += 1
                if attempt > CONFLICT_RETRIES:
                    raise
                self.ledger.learn(key, (await self.api.root(thread, key)).path)
                left = [op for op in files if op.seq in self._journal().pending.ops]
                targets = await self._check_bases(thread, key, left)
                await trio.sleep(0.05 * attempt)
        self._finish(files)  # those the checks found in the hub already

    async def _push(self, thread: str, key: str, targets: list[tuple[Op, str]]) -> None:
        """One file: PushPath; several: one PushPaths stream. Both carry the modes and mtimes (on
        a hub without ``push_paths_attrs``, SetPathAttrs follows for those that have any: one
        save each, as a PushPath per file would cost, but a unary call is much cheaper)."""
        queued = [(f"{key}/{path}", op.size, op.made / 1e9) for op, path in targets]
        with self.transfers.uploading(queued) as tids:
            await self._push_counted(thread, key, targets, tids)

    async def _push_counted(
        self, thread: str, key: str, targets: list[tuple[Op, str]], tids: list[int]
    ) -> None:
        journal = self._journal()
        attrs = self.caps.path_attrs

        def chunks(i: int) -> AsyncIterator[bytes]:
            op = targets[i][0]
            return self.transfers.counted(tids[i], file_chunks(journal.data_path(op.data), op.size))

        if len(targets) == 1:
            op, path = targets[0]
            res = await self.api.push_path(
                thread,
                key,
                path,
                functools.partial(chunks, 0),
                root=await self.root_of(key),
                mode=op.mode if attrs and needs_attrs(op) else 0,
                mtime=(op.mtime or op.made) if attrs else 0,
                size=op.size,
            )
            self.ledger.stored(key, path, res.cid, res.root.path)
            self._uploaded_as(op, path, res.cid)
            return
        files = [(path, chunks(i)) for i, (_, path) in enumerate(targets)]
        root = await self.root_of(key)
        along = attrs and self.caps.push_paths_attrs  # the hub takes them in the same save
        sent = [(op.mode if needs_attrs(op) else 0, op.mtime or op.made) for op, _ in targets]
        cids: dict[str, str] = {}
        done = await self.api.push_paths(
            thread,
            key,
            files,
            root=root,
            attrs=sent if along else None,
            on_file=lambda p, cid: cids.__setitem__(p.strip("/"), cid),
        )
        self.ledger.learn(key, done.path)
        for op, path in targets:
            self.ledger.stored(key, path, cids.get(path, ""))
            self._uploaded_as(op, path, cids.get(path, ""))
        for op, path in targets if attrs and not along else []:
            if needs_attrs(op):
                mode = op.mode if op.mode else None
                done = await self.api.set_path_attrs(
                    thread, key, path, mode=mode, mtime=op.mtime or None
                )
                self.ledger.learn(key, done.path)

    def _uploaded_as(self, op: Op, path: str, cid: str) -> None:
        """The hub stored ``op``'s file at ``path`` as ``cid``: the cached listing and node get
        the CID (no ListPath to learn it), and the content cache a hard link to the journal's
        copy, which holds exactly the bytes the hub imported (reading it back downloads
        nothing). Without a CID (an older hub) the listing is fetched again when the change
        leaves the overlay."""
        if not cid or path != op.path:
            return
        op.cid = cid
        self.learn_length(cid, op.size)
        link = self.cache.partial / f"wb-{op.seq}"
        try:
            link.unlink(missing_ok=True)
            os.link(self._journal().data_path(op.data), link)
            self.cache.store(cid, link)
        except OSError as exc:  # another filesystem, or the file is gone: it is only a cache
            log.debug("write-back: %s not cached: %r", path, exc)
        if self._journal().pending.latest(op.key, path) is not op:
            return  # changed again meanwhile: what is shown is the newer change
        parent, name = parent_of(path), path.rpartition("/")[2]
        cached = self.listings.get((op.key, parent))
        if cached is not None and name in cached.entries:
            cached.entries[name] = op_entry(name, op, cached.entries[name])
        node = self.inodes.find(op.key, path)
        if node is not None:  # (an open file reads its staged copy, not this)
            node.cid = cid

    async def _check_bases(self, thread: str, key: str, files: list[Op]) -> list[tuple[Op, str]]:
        """Where each file goes after someone else changed the bucket (module docstring)."""
        current: dict[str, str] = {}
        for d in sorted({parent_of(op.path) for op in files}):
            try:
                listing = await self.api.list_path(thread, key, d)
            except NotFound:
                continue
            for child in listing.children:
                current[f"{d}/{child.name}".lstrip("/")] = child.cid
        targets: list[tuple[Op, str]] = []
        for op in files:
            now = current.get(op.path, "")
            if now == op.base:
                targets.append((op, op.path))
                continue
            if now and await self._ours(op, now):
                if op.cid == now:  # the hub has this very content: as if we had sent it
                    self._uploaded_as(op, op.path, now)
                continue  # (or a later change of ours, which supersedes this one)
            other = conflict_name(op.path)
            msg = f"{key}/{op.path} changed on the hub meanwhile; our version saved as {other}"
            log.warning("hub %s: %s", self.hub_address, msg)
            self.conflicts.append(msg)
            self.listings.pop((key, parent_of(op.path)), None)
            targets.append((op, other))
        for op in files:
            op.replayed = False
        return targets

    async def _ours(self, op: Op, now: str) -> bool:
        """Whether ``now``, the CID the hub has at ``op``'s path, is ``op``'s content or that of
        a later change of ours to the path (an upload made before a crash and not yet marked
        done): then ``op`` needs no upload. ``op`` learns the CID it would have, so that
        marking it done makes that CID the base of the later changes."""
        journal = self._journal()
        for change in journal.pending.at.get((op.key, op.path), []):
            if change.kind != "put" or change.seq < op.seq:
                continue
            if not change.cid:
                data = journal.data_path(change.data)
                change.cid = await trio.to_thread.run_sync(file_cid, data)
            if change.cid == now:
                if change is op:
                    return True
                op.cid = ""  # superseded: the later change's CID is the base after it
                return True
        return False

    # -- waiting ------------------------------------------------------------------------

    async def wait_uploaded(self, timeout: float, key: str | None = None) -> bool:
        """Wait until no change (of bucket ``key``, or none at all) is pending; False on
        timeout."""
        if self.wb is None:
            return True
        pending = self.wb.pending
        self.wb_waiters += 1
        try:
            with trio.move_on_after(timeout):
                while any(key is None or op.key == key for op in pending.ops.values()):
                    progress = self.wb_progress
                    self.wb_kick()
                    await progress.wait()
        finally:
            self.wb_waiters -= 1
        return not any(key is None or op.key == key for op in pending.ops.values())

    def stop_uploader(self) -> None:
        if self.wb_scope is not None:
            self.wb_scope.cancel()
            self.wb_scope = None

    def wb_error(self, exc: BucketfsError) -> None:
        self.record_error("write-back", exc)
