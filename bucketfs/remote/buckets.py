"""Typed Buckets client (``api.bucketsd.pb.APIService`` + ``bucketfs.pb.BucketsExtension``,
reference/WIRE.md §4 and DESIGN §5) over a session's ``Rpc``.

Every call sends the thread as ``x-textile-thread``. Transfers are streamed both ways
(``remote/transfer.py``). Against a plain Textile hub without the bucketfs extensions,
``capabilities()`` is all False and the client falls back: ``file_size`` is None, ``list_path``
paging is done on one full listing, ``pull_path`` with an offset reads and discards, and
``set_path_attrs``/``symlink`` raise ``Unsupported``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence
from typing import Any

import trio

from bucketfs import errors
from bucketfs.proto import bucketfs_ext_pb2 as ext
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.remote.rpc import RemoteStream, Rpc
from bucketfs.remote.transfer import ChunkSource, PullWindow, push_path, push_paths
from bucketfs.remote.types import (
    IPFS_PREFIX,
    BucketRoot,
    Capabilities,
    Listing,
    PathEntry,
    PushResult,
)

_API = "/api.bucketsd.pb.APIService/"
_EXT = "/bucketfs.pb.BucketsExtension/"
#: PullPath messages read per worker-thread hop (hubs send 32 KiB chunks: 512 KiB per hop)
PULL_BATCH = 16


def clean_path(path: str) -> str:
    """Bucket-relative path without leading or trailing ``/`` (``""`` = the bucket root)."""
    return path.strip("/")


def to_root(root: pb.Root) -> BucketRoot:
    return BucketRoot(
        key=root.key,
        name=root.name,
        path=root.path,
        thread=root.thread,
        owner=root.owner,
        created_at=root.created_at,
        updated_at=root.updated_at,
        private=bool(root.link_key),
    )


def _updated_at(root: pb.Root, rel: str) -> int:
    """``updated_at`` of the path's own metadata or of its nearest ancestor's, else the root's."""
    meta = root.path_metadata
    probe = rel
    while True:
        if probe in meta and meta[probe].updated_at:
            return int(meta[probe].updated_at)
        if not probe:
            return int(root.updated_at)
        probe = probe.rpartition("/")[0]


def to_entry(item: pb.PathItem, rel: str, root: pb.Root, exact_sizes: bool) -> PathEntry:
    """A ``PathEntry`` for ``item`` at bucket-relative path ``rel``."""
    if exact_sizes:
        file_size: int | None = 0 if item.is_dir else int(item.file_size)
    else:
        file_size = None
    mode = item.mode or item.metadata.mode
    if not mode and rel in root.path_metadata:
        mode = root.path_metadata[rel].mode
    mtime = item.mtime or item.metadata.updated_at or _updated_at(root, rel)
    return PathEntry(
        name=item.name,
        path=item.path,
        cid=item.cid,
        is_dir=item.is_dir,
        dag_size=int(item.size),
        items_count=int(item.items_count),
        file_size=file_size,
        mode=int(mode),
        mtime=int(mtime),
        symlink_target=item.symlink_target,
    )


def _page(children: list[PathEntry], limit: int, after: str) -> tuple[list[PathEntry], bool]:
    """Client-side paging of a full listing (hubs without ``list_paging``)."""
    chosen = sorted((c for c in children if c.name > after), key=lambda c: c.name)
    if limit and len(chosen) > limit:
        return chosen[:limit], True
    return chosen, False


class BucketsClient:
    """Buckets calls; ``thread`` is the thread ID string of the bucket's database."""

    def __init__(self, rpc: Rpc) -> None:
        self._rpc = rpc
        self._caps: Capabilities | None = None
        self._caps_lock = trio.Lock()

    async def _call(self, method: str, request: Any, reply_cls: Any, **kw: Any) -> Any:
        return await self._rpc.unary(method, request, reply_cls, **kw)

    async def capabilities(self) -> Capabilities:
        """Which bucketfs extensions the hub implements (asked once per session)."""
        async with self._caps_lock:
            if self._caps is None:
                try:
                    reply = await self._call(
                        _EXT + "Capabilities",
                        ext.CapabilitiesRequest(),
                        ext.CapabilitiesResponse,
                        idempotent=True,
                    )
                except errors.Unsupported:
                    self._caps = Capabilities()
                else:
                    self._caps = Capabilities(
                        exact_sizes=reply.exact_sizes,
                        range_reads=reply.range_reads,
                        path_attrs=reply.path_attrs,
                        symlinks=reply.symlinks,
                        list_paging=reply.list_paging,
                        push_paths_attrs=reply.push_paths_attrs,
                        path_check=reply.path_check,
                    )
            return self._caps

    # -- buckets --------------------------------------------------------------------------------

    async def list(self, thread: str) -> list[BucketRoot]:
        reply = await self._call(
            _API + "List", pb.ListRequest(), pb.ListResponse, thread=thread, idempotent=True
        )
        return [to_root(r) for r in reply.roots]

    async def create(self, thread: str, name: str, private: bool = False) -> BucketRoot:
        request = pb.CreateRequest(name=name, private=private)
        reply = await self._call(
            _API + "Create", request, pb.CreateResponse, thread=thread, idempotent=False
        )
        return to_root(reply.root)

    async def root(self, thread: str, key: str) -> BucketRoot:
        reply = await self._call(
            _API + "Root", pb.RootRequest(key=key), pb.RootResponse, thread=thread, idempotent=True
        )
        return to_root(reply.root)

    async def remove(self, thread: str, key: str) -> None:
        await self._call(
            _API + "Remove",
            pb.RemoveRequest(key=key),
            pb.RemoveResponse,
            thread=thread,
            idempotent=False,
        )

    async def links(self, thread: str, key: str, path: str = "") -> dict[str, str]:
        """``{"url", "www", "ipns"}`` links of the bucket or of a path in it."""
        request = pb.LinksRequest(key=key, path=clean_path(path))
        reply = await self._call(
            _API + "Links", request, pb.LinksResponse, thread=thread, idempotent=True
        )
        return {"url": reply.url, "www": reply.www, "ipns": reply.ipns}

    # -- paths ----------------------------------------------------------------------------------

    async def list_path(
        self, thread: str, key: str, path: str, *, limit: int = 0, after: str = ""
    ) -> Listing:
        """The item at ``path`` and its children (those named after ``after``, at most ``limit``;
        ``truncated`` says more follow). The root lists ``.textileseed`` like any child."""
        caps = await self.capabilities()
        rel = clean_path(path)
        server_pages = caps.list_paging and bool(limit or after)
        request = pb.ListPathRequest(key=key, path=rel)
        if server_pages:
            request.limit, request.after = limit, after
        reply = await self._call(
            _API + "ListPath", request, pb.ListPathResponse, thread=thread, idempotent=True
        )
        root = reply.root
        item = to_entry(reply.item, rel, root, caps.exact_sizes)
        prefix = f"{rel}/" if rel else ""
        children = [to_entry(c, prefix + c.name, root, caps.exact_sizes) for c in reply.item.items]
        truncated = bool(reply.truncated)
        if not server_pages and (limit or after):
            children, truncated = _page(children, limit, after)
        return Listing(item=item, children=children, root=to_root(root), truncated=truncated)

    def pull_path(
        self, thread: str, key: str, path: str, *, offset: int = 0, length: int = 0
    ) -> PullStream:
        """The file's bytes from ``offset`` (``length`` 0 = to the end), as they arrive."""
        if offset < 0 or length < 0:
            raise errors.InvalidArgument("offset and length must not be negative")
        return PullStream(self, thread, key, clean_path(path), offset, length)

    async def _open_pull(
        self, thread: str, key: str, path: str, offset: int, length: int
    ) -> RemoteStream[bytes]:
        caps = await self.capabilities()
        request = pb.PullPathRequest(key=key, path=path)
        if caps.range_reads:
            request.offset, request.length = offset, length
            window = PullWindow(0, length)
        else:
            window = PullWindow(offset, length)
        return self._rpc.stream(
            _API + "PullPath", request, pb.PullPathResponse, window, thread=thread, batch=PULL_BATCH
        )

    async def push_path(
        self,
        thread: str,
        key: str,
        path: str,
        chunks: ChunkSource,
        *,
        root: str = "",
        mode: int = 0,
        mtime: int = 0,
        size: int = 0,
        path_cid: str | None = None,
    ) -> PushResult:
        """Upload one file. ``chunks`` is an async iterable of bytes, or a zero-argument callable
        returning a fresh one (then the push is retried on temporary failures). ``root`` (a
        ``BucketRoot.path``) makes the push fail with ``Conflict`` unless the bucket is there.
        ``size`` (extension, 0 = unknown) is the exact byte count ``chunks`` yields: the hub then
        refuses to save an upload that was cut off or differs (``InvalidArgument``).
        ``path_cid`` (extension ``path_check``): when the root check fails, the hub still saves
        the file if ``path`` holds that CID ("" = nothing), and says so (``rebased``); a hub
        without the extension ignores it (then ``root`` alone decides)."""
        header = pb.PushPathRequest.Header(
            key=key, path=clean_path(path), root=_root_path(root), mode=mode, mtime=mtime, size=size
        )
        if path_cid is not None:
            header.path_check, header.path_cid = True, path_cid
        event = await push_path(self._rpc, thread, header, chunks)
        cid = event.path[len(IPFS_PREFIX) :] if event.path.startswith(IPFS_PREFIX) else event.path
        return PushResult(
            cid=cid, dag_size=int(event.size or 0), root=to_root(event.root), rebased=event.rebased
        )

    async def push_paths(
        self,
        thread: str,
        key: str,
        files: Sequence[tuple[str, AsyncIterable[bytes]]],
        *,
        root: str = "",
        attrs: Sequence[tuple[int, int]] | None = None,
        on_file: Callable[[str, str], object] | None = None,
    ) -> BucketRoot:
        """Upload several files in one stream; the bucket is saved once at the end;
        ``on_file(path, cid)`` learns the CID the hub stored each file as.

        ``attrs[i]`` = ``(mode, mtime_ns)`` of ``files[i]`` (0 = not given), sent in the header
        (extension): a hub with ``push_paths_attrs`` stores them with the same save; other hubs
        ignore them (the caller then sets them with ``set_path_attrs``)."""
        if not files:
            return await self.root(thread, key)
        paths = [clean_path(p) for p, _ in files]
        header = pb.PushPathsRequest.Header(key=key, root=_root_path(root), paths=paths)
        if attrs is not None:
            if len(attrs) != len(files):
                raise errors.InvalidArgument(
                    f"push_paths: {len(attrs)} attribute pairs for {len(files)} files"
                )
            if any(mode for mode, _ in attrs):
                header.modes.extend(mode for mode, _ in attrs)
            if any(mtime for _, mtime in attrs):
                header.mtimes.extend(mtime for _, mtime in attrs)
        last = await push_paths(
            self._rpc,
            thread,
            header,
            [(p, s) for p, (_, s) in zip(paths, files, strict=True)],
            on_file,
        )
        return to_root(last.root)

    async def set_path(
        self, thread: str, key: str, path: str, cid: str, *, root: str = ""
    ) -> BucketRoot | None:
        """Link an existing CID (file or directory, e.g. the empty directory) at ``path``.

        ``root`` (extension, "" = none): fail with ``Conflict`` unless the bucket is there. The
        bucket after the change, or None from a hub that does not return it (an upstream hub)."""
        request = pb.SetPathRequest(key=key, path=clean_path(path), cid=cid, root=_root_path(root))
        # with a root check a retry after a lost reply would see its own change as a conflict
        reply = await self._call(
            _API + "SetPath", request, pb.SetPathResponse, thread=thread, idempotent=not root
        )
        return to_root(reply.root) if reply.HasField("root") else None

    async def move_path(
        self, thread: str, key: str, from_path: str, to_path: str, *, root: str = ""
    ) -> BucketRoot | None:
        """Move a file or directory (into ``to_path`` if that is a directory); ``root`` and the
        result as for :meth:`set_path`."""
        request = pb.MovePathRequest(
            key=key,
            from_path=clean_path(from_path),
            to_path=clean_path(to_path),
            root=_root_path(root),
        )
        reply = await self._call(
            _API + "MovePath", request, pb.MovePathResponse, thread=thread, idempotent=False
        )
        return to_root(reply.root) if reply.HasField("root") else None

    async def remove_path(self, thread: str, key: str, path: str, *, root: str = "") -> BucketRoot:
        request = pb.RemovePathRequest(key=key, path=clean_path(path), root=_root_path(root))
        reply = await self._call(
            _API + "RemovePath", request, pb.RemovePathResponse, thread=thread, idempotent=False
        )
        return to_root(reply.root)

    # -- extensions -----------------------------------------------------------------------------

    async def set_path_attrs(
        self, thread: str, key: str, path: str, *, mode: int | None = None, mtime: int | None = None
    ) -> BucketRoot:
        """chmod / utimens (extension); ``Unsupported`` on hubs without ``path_attrs``."""
        if not (await self.capabilities()).path_attrs:
            raise errors.Unsupported(f"hub {self._rpc.address} cannot store modes or times")
        request = ext.SetPathAttrsRequest(
            key=key,
            path=clean_path(path),
            set_mode=mode is not None,
            mode=mode or 0,
            set_mtime=mtime is not None,
            mtime=mtime or 0,
        )
        reply = await self._call(
            _EXT + "SetPathAttrs", request, ext.SetPathAttrsResponse, thread=thread, idempotent=True
        )
        return to_root(reply.root)

    async def symlink(
        self, thread: str, key: str, path: str, target: str, *, root: str = ""
    ) -> BucketRoot:
        """Store a UnixFS symlink (extension); ``Unsupported`` on hubs without ``symlinks``."""
        if not (await self.capabilities()).symlinks:
            raise errors.Unsupported(f"hub {self._rpc.address} cannot store symbolic links")
        request = ext.SymlinkRequest(
            key=key, path=clean_path(path), target=target, root=_root_path(root)
        )
        reply = await self._call(
            _EXT + "Symlink", request, ext.SymlinkResponse, thread=thread, idempotent=False
        )
        return to_root(reply.root)


def _root_path(root: str) -> str:
    """The fast-forward token as the hub compares it: ``/ipfs/<cid>`` (a bare CID is accepted)."""
    if root and not root.startswith(IPFS_PREFIX):
        return IPFS_PREFIX + root
    return root


class PullStream:
    """Async iterator of ``BucketsClient.pull_path``; opens the call on first use and cancels
    it on ``aclose``, trio cancellation or collection. Use ``async with`` when stopping early.

    When the stream breaks with ``Unavailable``/``TimedOut`` after some bytes were delivered,
    it is reopened at the next byte (a range read, or read-and-skip on a plain hub), up to the
    session's retry policy; the consumer sees one uninterrupted byte sequence.
    """

    def __init__(
        self, client: BucketsClient, thread: str, key: str, path: str, offset: int, length: int
    ) -> None:
        self._client = client
        self._where = (thread, key, path)
        self._offset = offset
        self._length = length
        self._delivered = 0
        self._resumes = 0
        self._stream: RemoteStream[bytes] | None = None
        self._closed = False

    def __aiter__(self) -> PullStream:
        return self

    async def __anext__(self) -> bytes:
        while True:
            if self._closed or (self._length and self._delivered >= self._length):
                raise StopAsyncIteration
            if self._stream is None:
                remaining = self._length - self._delivered if self._length else 0
                self._stream = await self._client._open_pull(
                    *self._where, self._offset + self._delivered, remaining
                )
            try:
                chunk = await self._stream.__anext__()
            except (errors.Unavailable, errors.TimedOut):
                if not self._may_resume():
                    raise
                await self._stream.aclose()
                self._stream = None
                rpc = self._client._rpc
                await rpc.pause(
                    rpc.retry.delay(self._resumes - 1), rpc.retry.budget / rpc.retry.attempts
                )
                continue
            self._delivered += len(chunk)
            return chunk

    def _may_resume(self) -> bool:
        """Whether to reopen after a broken stream (the opening itself retries on its own)."""
        policy = self._client._rpc.retry
        if self._delivered == 0 or self._resumes + 1 >= policy.attempts:
            return False
        self._resumes += 1
        return True

    async def aclose(self) -> None:
        self._closed = True
        if self._stream is not None:
            await self._stream.aclose()

    async def __aenter__(self) -> PullStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
