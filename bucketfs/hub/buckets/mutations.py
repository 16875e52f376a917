"""Bucket mutations: Create, PushPath(s), SetPath, MovePath, RemovePath, Remove, roles, attrs.

:class:`Buckets` is the complete bucket API (reads from :class:`BucketService` plus the writes
here). Each write, in :meth:`BucketService.changing`: take the bucket lock → load the instance and
check the role → check ``root`` (where the method has one) → write blocks inside a block-store
batch (one shared barrier at its end) → commit the new root with one ``Engine.save`` → update
the attribute store → release the lock → wait for the shared commit barrier → answer.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from bucketfs.auth.identity import PublicKey
from bucketfs.errors import InvalidArgument, NotADirectory, NotFound, PermissionDenied, Unsupported
from bucketfs.ipfs import unixfs
from bucketfs.ipfs.cid import CID, Block

from . import content, dcrypto
from . import paths as bpaths
from .attrs import PathAttrs
from .model import Bucket, new_bucket_key
from .prefetch import Prefetch
from .pushgroup import PushQueues, QueuedPush, link_queued
from .recrypt import Recrypt
from .roles import DENIED_TEXT, EVERYONE, Access, Role, check
from .service import BucketService, Ctx, Links, now_ns
from .tree import Entry

PROGRESS_EVERY = 1 << 20
#: PushPaths links at most this many completed files into the tree per batch
PUSH_BATCH = 4096
#: files one PushPaths stream may have open at once (each holds up to one 256 KiB chunk)
MAX_OPEN_FILES = 256


@dataclass
class Created:
    bucket: Bucket
    links: Links
    seed: bytes
    seed_cid: str
    pinned: int


@dataclass
class Progress:
    bytes: int


@dataclass
class Pushed:
    """A file that was pushed: its bucket path, file CID, DAG size and the (new) bucket."""

    path: str
    cid: CID
    size: int
    file_size: int
    bucket: Bucket
    pinned: int
    rebased: bool = False  # the path check let it in on a root other than the one sent


class Buckets(BucketService):
    """The bucket API used by the servicers and the gateway."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._push_queues = PushQueues()

    # -- create / remove --------------------------------------------------------------------

    def create(
        self, ctx: Ctx, name: str, *, bootstrap_cid: str = "", private: bool = False
    ) -> Created:
        now = now_ns()
        seed = os.urandom(32)
        link_key = dcrypto.new_key() if private else b""
        file_key = dcrypto.new_key() if private else b""
        seed_block = Block.of(dcrypto.encrypt(file_key, seed) if private else seed)
        bucket = Bucket(
            key=new_bucket_key(),
            name=name,
            owner=ctx.who,
            thread=ctx.thread,
            path="",
            created_at=now,
            updated_at=now,
            link_key=base64.b64encode(link_key).decode() if private else "",
        )
        roles = {ctx.who: int(Role.ADMIN)} if ctx.who else {}
        if not private:
            roles[EVERYONE] = int(Role.READER)
        root_meta: dict[str, object] = {"roles": roles, "updated_at": now}
        if private:
            root_meta["key"] = base64.b64encode(file_key).decode()
        bucket.metadata = {"": root_meta, bpaths.SEED_NAME: {"roles": {}, "updated_at": now}}
        tree = self.tree(bucket)
        with self.changing(ctx.thread, bucket.key):
            with self.blocks.batch():
                self.blocks.put(seed_block)
                start = (
                    self._bootstrap(bucket, bootstrap_cid) if bootstrap_cid else tree.codec.empty()
                )
                seed_entry = Entry(bpaths.SEED_NAME, seed_block.cid, len(seed_block.data))
                root = tree.codec.set(start.cid, bpaths.SEED_NAME, seed_entry)
            bucket.path = f"/ipfs/{root.cid}"
            self.attrs.register_bucket(bucket.key, bucket.thread)
            self.records.create(bucket, ctx.who)
        links = self.make_links(bucket, "", ctx.token)
        return Created(bucket, links, seed, str(seed_block.cid), root.tsize)

    def _bootstrap(self, bucket: Bucket, text: str) -> Entry:
        try:
            cid = CID.parse(text)
        except InvalidArgument as exc:
            raise InvalidArgument(
                f"invalid bootstrap cid: {exc.message}", wire_code="UNKNOWN"
            ) from exc
        if not self.blocks.has(cid) or not self.public_dirs.is_dir(cid):
            raise InvalidArgument(
                f"invalid bootstrap cid: {cid} is not a directory on this hub", wire_code="UNKNOWN"
            )
        entry = Entry("", cid, content.dag_size(self.blocks, cid))
        if bucket.private:
            return self._recrypt(bucket).public_to_private(entry, "")
        return entry

    def _recrypt(self, bucket: Bucket) -> Recrypt:
        return Recrypt(self.blocks, self.public_dirs, self.tree(bucket).codec, bucket)

    def remove(self, ctx: Ctx, key: str) -> int:
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, "", Access.OWNER)
            size = content.dag_size(self.blocks, self.root_cid(bucket))
            self.records.delete(bucket, ctx.who)
            self.attrs.remove_tree(bucket.thread, bucket.key, "")
            self.attrs.forget_bucket(bucket.key)
        return -size

    # -- pushes -----------------------------------------------------------------------------

    def push_path(
        self,
        ctx: Ctx,
        key: str,
        path: str,
        chunks: Iterable[bytes],
        *,
        root: str = "",
        mode: int = 0,
        mtime: int = 0,
        path_cid: str | None = None,
    ) -> Iterator[Progress | Pushed]:
        """Stream one file into ``path``; yields progress events, then one :class:`Pushed`.
        ``path_cid`` (extension ``path_check``): instead of the root check, the change is applied
        if ``path`` holds that CID ("" = nothing) when it is linked in, whatever else changed.

        Public buckets: the file is imported before the bucket lock and linked in with the other
        pushes queued meanwhile (``pushgroup.py``: one block barrier and one commit per group).
        """
        path = bpaths.clean(path, write=True)
        if not path:
            raise InvalidArgument("a file cannot replace the bucket root")
        bucket = self.load(ctx, key, path, Access.WRITE)
        if bucket.private:
            yield from self._push_path_locked(ctx, key, path, chunks, root, mode, mtime, path_cid)
            return
        if path_cid is None:
            self.check_root(bucket, root)  # early; the check that counts is made when linked
        with self.gate():
            with self.blocks.deferred() as written:
                imp = content.Importer(self.blocks, None)
                yield from _import(imp, chunks)
                entry, plain = imp.finish()
            push = QueuedPush(ctx, path, root, mode, mtime, entry, plain, written, path_cid)
            self._push_queues.add(ctx.thread, key, push)
            with self.changing(ctx.thread, key, gate=False):
                if not push.done:
                    link_queued(self, self._push_queues, ctx.thread, key)
        if push.error is not None:
            raise push.error
        assert push.bucket is not None
        yield Pushed(path, entry.cid, entry.tsize, plain, push.bucket, push.pinned, push.rebased)

    def _push_path_locked(
        self,
        ctx: Ctx,
        key: str,
        path: str,
        chunks: Iterable[bytes],
        root: str,
        mode: int,
        mtime: int,
        path_cid: str | None,
    ) -> Iterator[Progress | Pushed]:
        """PushPath with the whole import under the bucket lock (private buckets)."""
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, path, Access.WRITE)
            rebased = self.check_base(bucket, root, path, path_cid)
            old_size = content.dag_size(self.blocks, self.root_cid(bucket))
            tree = self.tree(bucket)
            with self.blocks.batch():
                imp = content.Importer(self.blocks, self.file_key(bucket, path))
                yield from _import(imp, chunks)
                entry, plain = imp.finish()
                new_root = tree.update(self.root_cid(bucket), path, entry)
            self._after_write(bucket, [path], ctx)
            self.commit(bucket, new_root.cid, ctx)
            self._set_attrs(bucket, [(path, mode, mtime)], replace_tree=True)
            content.remember_files(self.attrs, [(entry.cid, plain)], bucket.private)
            pinned = new_root.tsize - old_size
        yield Pushed(path, entry.cid, entry.tsize, plain, bucket, pinned, rebased)

    def push_paths(
        self,
        ctx: Ctx,
        key: str,
        messages: Iterable[tuple[str, bytes]],
        *,
        root: str = "",
        paths: Sequence[str] = (),
        modes: Sequence[int] = (),
        mtimes: Sequence[int] = (),
    ) -> Iterator[Pushed]:
        """Several files with interleaved chunks; an empty chunk closes a file. The bucket is
        saved once, at the end (or, after an error, with the files completed so far).

        Completed files are linked into the tree in batches (each directory rewritten once per
        batch): a batch is applied whenever the client has nothing more queued, or every
        :data:`PUSH_BATCH` files; each file's response carries the root after its batch.
        ``modes``/``mtimes`` (extension) run parallel to ``paths``: each is empty or exactly as
        long; 0 = not given. They are stored with the files, after the one save.
        """
        given = header_attrs(paths, modes, mtimes)
        with self.changing(ctx.thread, key):
            bucket = self.records.get(ctx.thread, key)
            self.check_root(bucket, root)
            for p in paths:
                self._check_push(bucket, ctx, bpaths.clean(p, write=True), header=True)
            run = _PushPathsRun(self, bucket, ctx, given)
            reader: Prefetch[tuple[str, bytes]] = Prefetch(messages, maxsize=8)
            last: list[Pushed] = []
            try:
                with self.blocks.batch():
                    try:
                        yield from run.consume(reader)
                    finally:  # no yield in here: this also runs when the stream is cancelled
                        reader.close()
                        last = run.apply()
            finally:
                run.save()
            yield from last

    def _check_push(self, bucket: Bucket, ctx: Ctx, path: str, *, header: bool) -> None:
        if not path:
            raise InvalidArgument("a file cannot replace the bucket root")
        try:
            check(bucket.owner, bucket.metadata, path, ctx.who, Access.WRITE)
        except PermissionDenied:
            if header:
                raise PermissionDenied(f"verifying bucket update: {DENIED_TEXT}") from None
            raise

    def _after_write(self, bucket: Bucket, written: list[str], ctx: Ctx) -> None:
        """Metadata upkeep of a push: ``updated_at`` of existing entries, drop entries below."""
        now = now_ns()
        for path in written:
            if path in bucket.metadata:
                bucket.metadata[path]["updated_at"] = now
            for other in [p for p in bucket.metadata if p.startswith(path + "/")]:
                del bucket.metadata[other]

    def _set_attrs(
        self, bucket: Bucket, items: list[tuple[str, int, int]], *, replace_tree: bool
    ) -> None:
        """Record mode/mtime of written paths (mode 0 keeps the previous mode, mtime 0 = now)."""
        now = now_ns()
        rows = []
        for path, mode, mtime in items:
            if not mode:
                old = self.attrs.get(bucket.thread, bucket.key, path)
                mode = old.mode if old else 0
            rows.append((path, PathAttrs(mode, mtime or now)))
        self.attrs.set_many(bucket.thread, bucket.key, rows, clear_below=replace_tree)

    # -- links, moves, removals -------------------------------------------------------------

    def set_path(
        self, ctx: Ctx, key: str, path: str, cid_text: str, *, root: str = ""
    ) -> tuple[Bucket, int]:
        """Link ``cid`` at ``path`` (``""`` = the whole content); the new bucket and ``pinned``."""
        path = bpaths.clean(path, write=True)
        try:
            cid = CID.parse(cid_text)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid cid: {exc.message}", wire_code="UNKNOWN") from exc
        if not self.blocks.has(cid):
            raise NotFound(f"block {cid} not found on this hub", wire_code="UNKNOWN")
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, path, Access.WRITE)
            self.check_root(bucket, root)
            tree = self.tree(bucket)
            old_size = content.dag_size(self.blocks, self.root_cid(bucket))
            entry = Entry("", cid, content.dag_size(self.blocks, cid))
            with self.blocks.batch():
                if bucket.private:
                    entry = self._recrypt(bucket).public_to_private(entry, path)
                if path:
                    new_root = tree.update(self.root_cid(bucket), path, entry)
                else:
                    new_root = self._replace_root(bucket, entry)
            self._after_write(bucket, [path] if path else [], ctx)
            self.commit(bucket, new_root.cid, ctx)
            self.attrs.remove_tree(bucket.thread, bucket.key, path)
            return bucket, new_root.tsize - old_size

    def _replace_root(self, bucket: Bucket, entry: Entry) -> Entry:
        tree = self.tree(bucket)
        if not tree.codec.is_dir(entry.cid):
            raise NotADirectory("the bucket root must be a directory")
        seed = os.urandom(32)
        if bucket.private:
            seed = dcrypto.encrypt(bucket.file_key([""]), seed)
        block = Block.of(seed)
        self.blocks.put(block)
        seed_entry = Entry(bpaths.SEED_NAME, block.cid, len(seed))
        return tree.codec.set(entry.cid, bpaths.SEED_NAME, seed_entry)

    def move_path(self, ctx: Ctx, key: str, src: str, dst: str, *, root: str = "") -> Bucket:
        """Move ``src`` to ``dst`` (into it, if it is a directory); the bucket after the move."""
        src = bpaths.clean(src, write=True)
        dst = bpaths.clean(dst, write=True)
        if not src:
            raise InvalidArgument("source is root directory", wire_code="UNKNOWN")
        if src != dst and bpaths.is_under(dst, src):
            raise InvalidArgument("cannot move a directory into itself")
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, src, Access.WRITE)
            self.check_root(bucket, root)
            if src == dst:
                return bucket
            check(bucket.owner, bucket.metadata, dst, ctx.who, Access.WRITE)
            tree = self.tree(bucket)
            cur = self.root_cid(bucket)
            entry = tree.resolve(cur, src)
            dst = self._move_target(bucket, src, dst, entry)
            with self.blocks.batch():
                if bucket.private and self.file_key(bucket, src) != self.file_key(bucket, dst):
                    entry = self._recrypt(bucket).change_key(
                        entry, self.file_key(bucket, src), self.file_key(bucket, dst), src
                    )
                cur = tree.update(cur, dst, entry).cid
                cur = tree.update(cur, src, None).cid
            for other in [p for p in bucket.metadata if p.startswith(src + "/")]:
                del bucket.metadata[other]
            bucket.metadata.setdefault(dst, {"roles": {}, "updated_at": now_ns()})
            bucket.metadata[dst]["updated_at"] = now_ns()
            self.commit(bucket, cur, ctx)
            self.attrs.move_tree(bucket.thread, bucket.key, src, dst)
            return bucket

    def _move_target(self, bucket: Bucket, src: str, dst: str, entry: Entry) -> str:
        """Where ``src`` ends up: inside ``dst`` if that is a directory (WIRE §4.3)."""
        try:
            existing = self.resolve(bucket, dst)
        except (NotFound, NotADirectory):
            return dst
        kind_dst = content.node_info(
            self.blocks, self.attrs, self.tree(bucket).codec, existing.cid, bucket.private
        ).kind
        if kind_dst == content.DIR:
            return f"{dst}/{bpaths.name(src)}" if dst else bpaths.name(src)
        kind_src = content.node_info(
            self.blocks, self.attrs, self.tree(bucket).codec, entry.cid, bucket.private
        ).kind
        if kind_src == content.DIR:
            raise NotADirectory("not a directory", wire_code="UNKNOWN")
        return dst

    def remove_path(self, ctx: Ctx, key: str, path: str, *, root: str = "") -> tuple[Bucket, int]:
        path = bpaths.clean(path, write=True)
        if not path:
            raise InvalidArgument("the bucket root cannot be removed; use Remove")
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, path, Access.WRITE)
            self.check_root(bucket, root)
            tree = self.tree(bucket)
            old = self.root_cid(bucket)
            old_size = content.dag_size(self.blocks, old)
            with self.blocks.batch():
                new_root = tree.update(old, path, None)
            for other in [p for p in bucket.metadata if bpaths.is_under(p, path)]:
                del bucket.metadata[other]
            self.commit(bucket, new_root.cid, ctx)
            self.attrs.remove_tree(bucket.thread, bucket.key, path)
            return bucket, new_root.tsize - old_size

    # -- roles, attributes, symlinks --------------------------------------------------------

    def push_roles(self, ctx: Ctx, key: str, path: str, roles: dict[str, int]) -> int:
        path = bpaths.clean(path)
        for who, role in roles.items():
            if who != EVERYONE:
                try:
                    PublicKey.from_string(who)
                except Exception as exc:
                    raise InvalidArgument(f"invalid public key {who!r}: {exc}") from exc
            if role not in (0, 1, 2, 3):
                raise InvalidArgument(f"invalid role {role}")
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, path, Access.ADMIN)
            entry = self.resolve_or_missing(bucket, path)
            meta = bucket.metadata.setdefault(path, {"roles": {}, "updated_at": now_ns()})
            current = dict(meta.get("roles") or {})
            for who, role in roles.items():
                if role == 0:
                    current.pop(who, None)
                else:
                    current[who] = role
            meta["roles"] = current
            meta["updated_at"] = now_ns()
            root = self.root_cid(bucket)
            if bucket.private and path:
                old_key = self.file_key(bucket, path)
                new_key = dcrypto.new_key()
                meta["key"] = base64.b64encode(new_key).decode()
                with self.blocks.batch():
                    entry = self._recrypt(bucket).change_key(entry, old_key, new_key, path)
                    root = self.tree(bucket).update(root, path, entry).cid
            self.commit(bucket, root, ctx)
            return 0

    def set_path_attrs(
        self, ctx: Ctx, key: str, path: str, *, mode: int | None, mtime: int | None
    ) -> Bucket:
        path = bpaths.clean(path, write=True)
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, path, Access.WRITE)
            self.resolve(bucket, path)
            old = self.attrs.get(bucket.thread, bucket.key, path) or PathAttrs()
            new = PathAttrs(
                old.mode if mode is None else mode, old.mtime if mtime is None else mtime
            )
            if mode is not None and path in bucket.metadata:
                bucket.metadata[path]["mode"] = mode
                self.records.save(bucket, ctx.who)
            self.attrs.set_many(bucket.thread, bucket.key, [(path, new)])
            return bucket

    def symlink(self, ctx: Ctx, key: str, path: str, target: str, *, root: str = "") -> Bucket:
        path = bpaths.clean(path, write=True)
        if not path:
            raise InvalidArgument("a symlink cannot replace the bucket root")
        if not target:
            raise InvalidArgument("a symlink needs a target")
        with self.changing(ctx.thread, key):
            bucket = self.load(ctx, key, path, Access.WRITE)
            if bucket.private:
                raise Unsupported("symlinks are not supported in private buckets")
            self.check_root(bucket, root)
            block = unixfs.symlink(target)
            with self.blocks.batch():
                self.blocks.put(block)
                entry = Entry("", block.cid, len(block.data))
                new_root = self.tree(bucket).update(self.root_cid(bucket), path, entry)
            self._after_write(bucket, [path], ctx)
            self.commit(bucket, new_root.cid, ctx)
            self._set_attrs(bucket, [(path, 0, 0)], replace_tree=True)
            return bucket


def _import(imp: content.Importer, chunks: Iterable[bytes]) -> Iterator[Progress]:
    """Feed ``chunks`` to ``imp``, with a progress event every :data:`PROGRESS_EVERY` bytes."""
    reported = 0
    for chunk in chunks:
        if imp.write(chunk) - reported >= PROGRESS_EVERY:
            reported = imp.ingested
            yield Progress(reported)


class _PushPathsRun:
    """The state of one PushPaths stream: open files, completed ones not yet in the tree."""

    def __init__(
        self, buckets: Buckets, bucket: Bucket, ctx: Ctx, attrs: dict[str, tuple[int, int]]
    ) -> None:
        self.b = buckets
        self.attrs = attrs
        self.bucket = bucket
        self.ctx = ctx
        self.tree = buckets.tree(bucket)
        self.cur = buckets.root_cid(bucket)
        self.size = content.dag_size(buckets.blocks, self.cur)
        self.open: dict[str, content.Importer] = {}
        self.pending: list[tuple[str, Entry, int]] = []
        self.done: list[str] = []

    def feed(self, raw_path: str, data: bytes) -> None:
        path = bpaths.clean(raw_path, write=True)
        imp = self.open.get(path)
        if imp is None:
            if len(self.open) >= MAX_OPEN_FILES:
                raise InvalidArgument(
                    f"too many files open at once in one PushPaths stream (at most {MAX_OPEN_FILES})"
                )
            self.b._check_push(self.bucket, self.ctx, path, header=False)
            imp = content.Importer(self.b.blocks, self.b.file_key(self.bucket, path))
            self.open[path] = imp
        if data:
            imp.write(data)
            return
        del self.open[path]
        entry, plain = imp.finish()
        self.pending.append((path, entry, plain))

    def consume(self, reader: Prefetch[tuple[str, bytes]]) -> Iterator[Pushed]:
        """Read the stream to its end, yielding results batch by batch."""
        while True:
            try:
                item = reader.get(block=False)
                if item is Prefetch.EMPTY or len(self.pending) >= PUSH_BATCH:
                    yield from self.apply()
                if item is Prefetch.EMPTY:
                    item = reader.get()
            except StopIteration:
                return
            message = cast(tuple[str, bytes], item)
            self.feed(message[0], message[1])

    def apply(self) -> list[Pushed]:
        """Link the completed files into the tree; their results."""
        if not self.pending:
            return []
        batch, self.pending = self.pending, []
        new_root = self.tree.update_many(self.cur, {p: e for p, e, _ in batch})
        files = [(e.cid, plain) for _, e, plain in batch]
        content.remember_files(self.b.attrs, files, self.bucket.private)
        self.cur = new_root.cid
        pinned = new_root.tsize - self.size
        self.size = new_root.tsize
        view = replace(self.bucket, path=f"/ipfs/{self.cur}", updated_at=now_ns())
        out = []
        for i, (path, entry, plain) in enumerate(batch):
            self.done.append(path)
            out.append(Pushed(path, entry.cid, entry.tsize, plain, view, pinned if i == 0 else 0))
        return out

    def save(self) -> None:
        if not self.done:
            return
        self.b._after_write(self.bucket, self.done, self.ctx)
        self.b.commit(self.bucket, self.cur, self.ctx)
        rows = [(p, *self.attrs.get(p, (0, 0))) for p in self.done]
        self.b._set_attrs(self.bucket, rows, replace_tree=True)


def header_attrs(
    paths: Sequence[str], modes: Sequence[int], mtimes: Sequence[int]
) -> dict[str, tuple[int, int]]:
    """``(mode, mtime)`` by cleaned path from PushPaths' parallel header lists (extension)."""
    for name, values in (("modes", modes), ("mtimes", mtimes)):
        if values and len(values) != len(paths):
            raise InvalidArgument(
                f"PushPaths header: {name} has {len(values)} entries for {len(paths)} paths"
                " (give none or one per path)"
            )
    if not modes and not mtimes:
        return {}
    out = {}
    for i, path in enumerate(paths):
        mode = modes[i] if modes else 0
        mtime = mtimes[i] if mtimes else 0
        if mode or mtime:
            out[bpaths.clean(path, write=True)] = (mode, mtime)
    return out
