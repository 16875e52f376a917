"""The write side of the ``threads/`` namespace: DBs, collections, instances, local files.

Writes to ``<_id>.json`` and ``.schema.json`` go to a staging copy and are committed when a
handle is flushed (every ``close()``) or fsynced: Create for a new ``_id``, Save for a stored one,
UpdateCollection for the schema. Bytes that are not one valid JSON object, or that the hub's
schema refuses, fail that ``close()``/``fsync()`` with ``InvalidArgument`` (EINVAL) and change
nothing in the hub. Other names are local temporary files (editors' swap and backup files,
``sed -i`` and ``rsync`` temporaries) and become instances only by ``rename`` onto
``<_id>.json``, which validates the same way. See docs/SEMANTICS.md, "threads/".
"""

from __future__ import annotations

import json
import logging
import os
import time

from bucketfs.errors import (
    AlreadyExists,
    BucketfsError,
    CrossDevice,
    InvalidArgument,
    NotEmpty,
    NotFound,
    PermissionDenied,
    Unsupported,
)
from bucketfs.vfs.nodes import THREADS_INO, Attr, Kind, Node
from bucketfs.vfs.threadfiles import Role, TMeta
from bucketfs.vfs.threadjson import (
    BUCKETS_COLLECTION,
    PERMISSIVE_SCHEMA,
    SCHEMA_FILE,
    instance_id,
    instance_to_store,
    parse_schema,
    render,
    valid_name,
)
from bucketfs.vfs.threads import ThreadsCore

log = logging.getLogger("bucketfs.vfs.threads")

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


class ThreadsNamespace(ThreadsCore):
    """All operations of the namespace; the module docstring has the rules."""

    def record(self, op: str, exc: BucketfsError) -> None:
        """Keep a refused commit for ``status()`` (the fuse layer logs it, and records it once)."""
        self.errors.append(f"{time.strftime('%H:%M:%S')} {op}: {exc}")
        exc.recorded = True  # type: ignore[attr-defined]

    # -- DBs and collections ------------------------------------------------------------

    async def mkdir(self, parent_ino: int, name: str) -> Node:
        self.check_writable()
        if not valid_name(name):
            raise InvalidArgument(f"{name!r} is not a valid name")
        parent = self.inodes.get(parent_ino)
        try:
            await self.child(parent, name)
        except NotFound:
            pass
        else:
            raise AlreadyExists(f"{name!r} exists")
        if parent_ino == THREADS_INO:
            await self.api.new_db(name)
            self.forget_dbs()
        else:
            pm = self.m(parent_ino)
            if pm.role is not Role.DB:
                raise Unsupported("collections hold only files")
            await self.api.new_collection(pm.db, name, PERMISSIVE_SCHEMA)
            self.collections.pop(pm.db, None)
        node = await self.child(parent, name)
        node.mtime = time.time_ns()
        node.lookups += 1
        return node

    async def rmdir(self, parent_ino: int, name: str) -> None:
        self.check_writable()
        node = await self.child(self.inodes.get(parent_ino), name)
        meta = self.m(node.ino)
        if meta.role is Role.DB:
            if await self.collection_names(meta.db):
                raise NotEmpty(f"thread DB {name!r} has collections")
            await self.api.delete_db(meta.db)
            self.forget_dbs()
            self.invalidate_db(meta.db)
        elif meta.role is Role.COLL:
            if meta.coll == BUCKETS_COLLECTION:
                raise PermissionDenied("the buckets collection cannot be removed here")
            local = any(
                self.meta[c].file is not None for c in node.children.values() if c in self.meta
            )
            query = {"sort": {"fieldPath": "_id"}, "limit": 1}
            if local or await self.api.find(meta.db, meta.coll, query):
                raise NotEmpty(f"collection {name!r} is not empty")
            await self.api.delete_collection(meta.db, meta.coll)
            self.collections.pop(meta.db, None)
            self.invalidate_collection(meta.db, meta.coll)
        else:
            raise Unsupported(f"{name!r} is not a directory")
        self.detach(node)

    # -- files --------------------------------------------------------------------------

    async def create(self, parent_ino: int, name: str, mode: int, flags: int) -> tuple[int, Node]:
        parent = self.inodes.get(parent_ino)
        pm = self.m(parent_ino)
        if pm.role is not Role.COLL:
            raise PermissionDenied("files live in collections: threads/<db>/<collection>/")
        self.check_writable(pm)
        if not valid_name(name) or len(name.encode()) > 255:
            raise InvalidArgument(f"{name!r} is not a valid name")
        try:
            existing = await self.child(parent, name)
        except NotFound:
            pass
        else:
            if flags & os.O_EXCL:
                raise AlreadyExists(name)
            existing.lookups += 1
            return await self.open(existing.ino, flags | os.O_TRUNC), existing
        id_ = instance_id(name)
        role = Role.INSTANCE if id_ is not None else Role.TEMP
        meta = TMeta(role, pm.db, pm.coll, id_ or "", exists=False)
        node = self.node(parent_ino, name, Kind.FILE, meta)
        meta.file, meta.refs, meta.dirty = meta.file or self.local_file(), meta.refs + 1, False
        node.size, node.mtime, node.checked = 0, time.time_ns(), time.monotonic()
        node.perm = mode & 0o777 or 0o644
        node.lookups += 1
        return self.new_handle(node.ino, True, None), node

    async def open(self, ino: int, flags: int) -> int:
        node = self.inodes.get(ino)
        self.not_a_file(node)
        meta = self.m(ino)
        writable = flags & (os.O_WRONLY | os.O_RDWR) != 0
        trunc = bool(flags & os.O_TRUNC)
        if writable or trunc:
            self.check_writable(meta)
            if meta.file is None:
                data = b"" if trunc or not meta.exists else await self.stored_bytes(node, meta)
                meta.file = self.local_file(data)
            elif trunc:
                meta.file.truncate(0)
            if trunc and (meta.exists or meta.role is Role.TEMP):
                meta.dirty = True
        elif meta.file is None:
            return self.new_handle(ino, False, await self.stored_bytes(node, meta))
        meta.refs += 1
        return self.new_handle(ino, writable, None)

    async def write(self, fh: int, off: int, data: bytes) -> int:
        h = self.handles[fh]
        meta = self.m(h.ino)
        if meta.file is None or not h.writable:
            raise PermissionDenied("not open for writing")
        n = meta.file.write(off, data)
        meta.dirty, meta.failed = True, False
        return n

    async def flush(self, fh: int) -> None:
        h = self.handles.get(fh)
        meta = self.meta.get(h.ino) if h is not None else None
        node = self.live(h.ino) if h is not None else None
        if node is None or meta is None or meta.orphan:
            return  # replaced by a rename or removed here: its bytes are nobody's
        if meta.dirty and meta.role is not Role.TEMP:
            await self.commit(node, meta)

    async def release(self, fh: int) -> None:
        h = self.handles.pop(fh, None)
        if h is None or h.snapshot is not None:
            return
        meta = self.meta.get(h.ino)
        if meta is None:
            return
        meta.refs -= 1
        if meta.refs > 0:
            return
        node = self.live(h.ino)
        if node is None or node.unlinked:
            meta.drop_file()
            return
        if meta.role is Role.TEMP:
            return
        try:
            if meta.dirty and not meta.failed:
                await self.commit(node, meta)
        finally:
            # a refused document is dropped (a refused new instance is gone); bytes the hub
            # could not take for another reason stay staged for the next close or unmount
            if meta.failed or (meta.exists and not meta.dirty):
                meta.drop_file()
                if not meta.exists:
                    self.detach(node)

    async def commit(self, node: Node, meta: TMeta) -> None:
        """Store the staged bytes of ``node`` (see the module docstring)."""
        assert meta.file is not None
        what = self.path(node)
        with self.change(node):
            try:
                await self._store(meta, meta.file.data(), meta.id, what)
            except InvalidArgument as exc:
                meta.failed = True
                msg = exc.message if exc.message.startswith(what) else f"{what}: {exc}"
                err = InvalidArgument(msg)
                self.record("close", err)
                raise err from None
            meta.exists, meta.dirty, meta.failed = True, False, False
            await self.stored_bytes(node, meta)

    async def _store(self, meta: TMeta, data: bytes, id_: str, what: str) -> None:
        if meta.role is Role.SCHEMA:
            schema = parse_schema(data, what)
            info = await self.api.get_collection(meta.db, meta.coll)
            await self.api.update_collection(  # the rest of the config stays as it is
                meta.db,
                meta.coll,
                schema,
                info["indexes"],
                write_validator=info.get("write_validator", ""),
                read_filter=info.get("read_filter", ""),
            )
            self.invalidate_collection(meta.db, meta.coll)
            return
        instance = instance_to_store(data, id_, what, await self.schema(meta.db, meta.coll))
        self.invalidate_collection(meta.db, meta.coll)
        if meta.exists:
            await self.api.save(meta.db, meta.coll, [instance])
            return
        try:
            await self.api.create(meta.db, meta.coll, [instance])
        except AlreadyExists:
            await self.api.save(meta.db, meta.coll, [instance])

    async def setattr(self, ino: int, fh: int | None, size: int | None, mtime: int | None) -> Attr:
        node = self.inodes.get(ino)
        meta = self.meta.get(ino)
        if meta is None or node.kind.is_dir:
            return node.attr()
        if size is not None:
            self.check_writable(meta)
            if meta.file is None:
                data = await self.stored_bytes(node, meta) if meta.exists else b""
                meta.file = self.local_file(data)
            meta.file.truncate(size)
            meta.dirty = True
            if meta.refs == 0 and meta.role is not Role.TEMP:
                try:
                    await self.commit(node, meta)  # truncate(1) of a closed file
                finally:
                    meta.drop_file()
        if mtime is not None and meta.role is Role.TEMP:
            node.mtime = mtime
        return self.attr(node)

    async def unlink(self, parent_ino: int, name: str) -> None:
        node = await self.child(self.inodes.get(parent_ino), name)
        self.not_a_file(node)
        meta = self.m(node.ino)
        self.check_writable(meta)
        if meta.role is Role.SCHEMA:
            raise PermissionDenied("the schema of a collection cannot be removed")
        if meta.role is Role.INSTANCE and meta.exists:
            with self.change(node):
                await self.api.delete(meta.db, meta.coll, [meta.id])
            self.invalidate_collection(meta.db, meta.coll)
        meta.orphan = True
        self.detach(node)

    # -- rename -------------------------------------------------------------------------

    async def rename(
        self, old_parent: int, old_name: str, new_parent: int, new_name: str, flags: int
    ) -> None:
        if flags & RENAME_EXCHANGE:
            raise InvalidArgument("RENAME_EXCHANGE is not supported")
        src_dir, dst_dir = self.inodes.get(old_parent), self.inodes.get(new_parent)
        node = await self.child(src_dir, old_name)
        meta = self.m(node.ino)
        if meta.role in (Role.DB, Role.COLL):
            raise Unsupported("thread DBs and collections cannot be renamed")
        if old_parent != new_parent:
            raise CrossDevice("rename across collections")
        self.check_writable(meta)
        if not valid_name(new_name):
            raise InvalidArgument(f"{new_name!r} is not a valid name")
        try:
            target: Node | None = await self.child(dst_dir, new_name)
        except NotFound:
            target = None
        if target is node:
            return
        if target is not None and flags & RENAME_NOREPLACE:
            raise AlreadyExists(new_name)
        if meta.role is Role.SCHEMA:
            raise PermissionDenied("the schema file cannot be renamed")
        with self.change(node, target):
            dst = await self._moved(node, meta, target, new_name)
            self.invalidate_collection(meta.db, meta.coll)
        self._move(node, meta, target, dst, new_parent, new_name)

    async def _moved(self, node: Node, meta: TMeta, target: Node | None, new_name: str) -> TMeta:
        """The hub's part of a rename: store the content under the new name when it is an
        instance or the schema, delete the old instance; what the node stands for after it."""
        data = meta.file.data() if meta.file is not None else await self.stored_bytes(node, meta)
        tm = self.meta.get(target.ino) if target is not None else None
        new_id = instance_id(new_name)
        if meta.role is Role.INSTANCE and new_id is not None:
            data = _with_id(data, meta.id, new_id)
        if new_name == SCHEMA_FILE or new_id is not None:
            role = Role.SCHEMA if new_name == SCHEMA_FILE else Role.INSTANCE
            dst = TMeta(role, meta.db, meta.coll, new_id or "", exists=tm is not None and tm.exists)
            dst_dir = self.inodes.get(node.parent)
            await self._store(dst, data, new_id or "", f"{self.path(dst_dir)}/{new_name}")
            dst.exists = True
        else:
            dst = TMeta(Role.TEMP, meta.db, meta.coll, exists=False)
        if meta.role is Role.INSTANCE and meta.exists and meta.id != new_id:
            await self.api.delete(meta.db, meta.coll, [meta.id])
        if dst.role is Role.TEMP and meta.file is None:
            dst.file = self.local_file(data)  # (with a local file, ``_move`` hands it over)
        return dst

    def _move(
        self, node: Node, meta: TMeta, target: Node | None, dst: TMeta, parent: int, name: str
    ) -> None:
        """The local part of a rename: ``node`` takes the name and stands for ``dst``."""
        if target is not None:
            tm = self.meta.get(target.ino)
            if tm is not None:
                tm.orphan = True
            self.detach(target)
        if meta.file is not None and (meta.refs > 0 or dst.role is Role.TEMP):
            # a local file keeps its bytes; open descriptors keep reading what they wrote
            dst.file, dst.refs = meta.file, meta.refs
        else:
            meta.drop_file()
        self.inodes.move(node, parent, name)
        node.unlinked = False
        self.meta[node.ino] = dst
        node.checked = 0.0  # attributes come from the hub on the next getattr

    # -- lifecycle ----------------------------------------------------------------------

    async def flush_all(self) -> None:
        for ino, meta in list(self.meta.items()):
            node = self.live(ino)
            if node is None or meta.orphan:
                continue
            if meta.dirty and not meta.failed and meta.role is not Role.TEMP:
                try:
                    await self.commit(node, meta)
                except BucketfsError as exc:
                    log.warning("unmount: %s was not stored: %s", node.name, exc)

    def close(self) -> None:
        for meta in self.meta.values():
            meta.drop_file()
        self.handles.clear()


def _with_id(data: bytes, old_id: str, new_id: str) -> bytes:
    """An instance moved to another file name takes that name as its ``_id``."""
    try:
        value = json.loads(data)
    except ValueError:
        return data  # refused by the commit with the parse error
    if isinstance(value, dict) and value.get("_id", old_id) == old_id:
        value["_id"] = new_id
        return render(value)
    return data
