"""``api.bucketsd.pb.APIService`` and ``bucketfs.pb.BucketsExtension``: thin adapters from the
protos to :class:`bucketfs.hub.buckets.mutations.Buckets`.

``register`` opens the bucket storage of the hub data directory (``<data>/blocks``,
``<data>/buckets/attrs.sqlite``) and, when the hub was given ``--gateway HOST:PORT``, starts the
HTTP gateway there. Filecoin/archive methods answer UNIMPLEMENTED.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import grpc

from bucketfs.errors import InvalidArgument
from bucketfs.hub.blocks import FileBlockStore
from bucketfs.hub.buckets.attrs import AttrStore
from bucketfs.hub.buckets.gateway import Gateway
from bucketfs.hub.buckets.linktokens import LinkTokens
from bucketfs.hub.buckets.model import Bucket
from bucketfs.hub.buckets.mutations import Buckets, Progress, Pushed
from bucketfs.hub.buckets.records import BucketRecords
from bucketfs.hub.buckets.service import Ctx, Item, Links
from bucketfs.hub.caller import current_caller
from bucketfs.hub.servicers import HubContext, fill_unsupported
from bucketfs.hub.status import grpc_errors
from bucketfs.proto import bucketfs_ext_pb2 as ext_pb
from bucketfs.proto import bucketfs_ext_pb2_grpc as ext_grpc
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.proto import bucketsd_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE = "api.bucketsd.pb.APIService"
EXT_SERVICE = "bucketfs.pb.BucketsExtension"
FILECOIN = "Filecoin archiving is not offered by this hub"


def ctx() -> Ctx:
    caller = current_caller()
    return Ctx(thread=caller.thread, who=caller.identity, token=caller.token)


def _role(value: Any) -> Any:
    return int(value)


def _roles_pb(roles: dict[str, Any] | None, memo: dict[int, dict[str, int]] | None) -> Any:
    """``Metadata.roles`` of a metadata entry; ``memo`` (by object id, for one reply) converts
    the roles shared by a listing's children once."""
    if not roles:
        return {}
    if memo is None:
        return {str(k): _role(v) for k, v in roles.items()}
    found = memo.get(id(roles))
    if found is None:
        found = memo[id(roles)] = {str(k): _role(v) for k, v in roles.items()}
    return found


def metadata_pb(meta: dict[str, Any] | None, memo: dict[int, dict[str, int]] | None = None) -> Any:
    meta = meta or {}
    key = meta.get("key")
    return pb.Metadata(
        roles=_roles_pb(meta.get("roles"), memo),
        updated_at=int(meta.get("updated_at", 0)),
        key=str(key) if key else None,
        mode=int(meta.get("mode", 0)),
    )


def root_pb(bucket: Bucket) -> Any:
    current = (bucket.archives or {}).get("current") or {}
    return pb.Root(
        key=bucket.key,
        name=bucket.name,
        path=bucket.path,
        created_at=bucket.created_at,
        updated_at=bucket.updated_at,
        thread=bucket.thread,
        owner=bucket.owner,
        version=bucket.version,
        metadata=metadata_pb(bucket.metadata.get("")),
        link_key=bucket.link_key,
        path_metadata={p: metadata_pb(m) for p, m in bucket.metadata.items()},
        archives=pb.Archives(current=pb.Archive(cid=str(current.get("cid", "")))),
    )


def item_pb(item: Item, memo: dict[int, dict[str, int]] | None = None) -> Any:
    """The ``PathItem`` of ``item`` and its children."""
    if memo is None:
        memo = {}
    msg = _leaf_pb(item, memo)
    if item.items_count:
        msg.items_count = item.items_count
    if item.items:
        msg.items.extend([item_pb(i, memo) if i.items else _leaf_pb(i, memo) for i in item.items])
    return msg


def _leaf_pb(item: Item, memo: dict[int, dict[str, int]]) -> Any:
    """``item`` without its children (one per entry of a listing: only the fields it sets)."""
    meta = item.metadata
    msg = pb.PathItem(
        cid=item.cid,
        name=item.name,
        path=item.path,
        size=item.size,
        is_dir=item.is_dir,
        metadata=None if meta is None else metadata_pb(meta, memo),
        file_size=item.file_size,
        mode=item.mode,
        mtime=item.mtime,
    )
    if item.symlink_target:
        msg.symlink_target = item.symlink_target
    return msg


def links_pb(links: Links) -> Any:
    return pb.LinksResponse(url=links.url, www=links.www, ipns=links.ipns)


def _header_first(requests: Iterator[Any]) -> Any:
    first = next(requests, None)
    if first is None or first.WhichOneof("payload") != "header":
        raise InvalidArgument("push bucket path header is required", wire_code="UNKNOWN")
    return first.header


def _chunks(requests: Iterator[Any]) -> Iterator[bytes]:
    for request in requests:
        if request.WhichOneof("payload") != "chunk":
            raise InvalidArgument("invalid request", wire_code="UNKNOWN")
        yield request.chunk


#: how long PushPath waits after a size-less stream ended before trusting that end (see _counted)
END_GRACE = 0.05


def _counted(chunks: Iterator[bytes], size: int, context: grpc.ServicerContext) -> Iterator[bytes]:
    """Pass ``chunks`` through, refusing a cut-off upload before the importer finishes it.

    grpc may end the request iterator normally when the client cancelled, so the end of the
    stream alone does not prove the upload is complete. With ``size`` (extension, > 0) the byte
    count must match exactly; without it the call must still be active ``END_GRACE`` seconds
    after the end. Raising here makes ``push_path`` fail before anything is linked into the tree.
    """
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if 0 < size < received:
            raise InvalidArgument(
                f"upload sent more than the declared {size} bytes; nothing was saved"
            )
        yield chunk
    if size > 0 and received != size:
        raise InvalidArgument(f"upload ended after {received} of {size} bytes; nothing was saved")
    if size <= 0:
        time.sleep(END_GRACE)
        if not context.is_active():
            raise InvalidArgument(f"upload was cancelled after {received} bytes; nothing was saved")


def _path_chunks(requests: Iterator[Any]) -> Iterator[tuple[str, bytes]]:
    for request in requests:
        if request.WhichOneof("payload") != "chunk":
            raise InvalidArgument("invalid request", wire_code="UNKNOWN")
        yield request.chunk.path, request.chunk.data


class BucketsServicer(pb_grpc.APIServiceServicer):
    """See the module docstring."""

    def __init__(self, buckets: Buckets, link_tokens: LinkTokens | None = None) -> None:
        self.b = buckets
        self._tokens = link_tokens

    def _link_token(self, bucket: Bucket) -> str:
        """The ``?token=`` of ``bucket``'s private links: minted for the caller and this bucket
        (``linktokens.py``); an account-key caller has no token of its own to put there."""
        who = ctx().who
        if not bucket.private or not who or self._tokens is None:
            return ""
        return self._tokens.issue(who, bucket.key)

    @grpc_errors
    def List(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.ListResponse(roots=[root_pb(b) for b in self.b.list(ctx())])

    @grpc_errors
    def Create(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.unfreeze:
            raise InvalidArgument(f"unfreeze is not supported: {FILECOIN}")
        made = self.b.create(
            ctx(), request.name, bootstrap_cid=request.bootstrap_cid, private=request.private
        )
        links = made.links
        if made.bucket.private:
            links = self.b.make_links(made.bucket, "", self._link_token(made.bucket))
        return pb.CreateResponse(
            root=root_pb(made.bucket),
            links=links_pb(links),
            seed=made.seed,
            seed_cid=made.seed_cid,
            pinned=made.pinned,
        )

    @grpc_errors
    def Root(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.RootResponse(root=root_pb(self.b.root(ctx(), request.key)))

    @grpc_errors
    def Links(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = ctx()
        bucket = self.b.root(caller, request.key)
        token = self._link_token(bucket)
        return links_pb(self.b.links(replace(caller, token=token), request.key, request.path))

    @grpc_errors
    def ListPath(self, request: Any, context: grpc.ServicerContext) -> Any:
        listing = self.b.list_path(
            ctx(), request.key, request.path, limit=max(request.limit, 0), after=request.after
        )
        return pb.ListPathResponse(
            item=item_pb(listing.item), root=root_pb(listing.bucket), truncated=listing.truncated
        )

    @grpc_errors
    def ListIpfsPath(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.ListIpfsPathResponse(item=item_pb(self.b.list_ipfs_path(request.path)))

    @grpc_errors
    def PushPath(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        header = _header_first(request_iterator)
        events = self.b.push_path(
            ctx(),
            header.key,
            header.path,
            _counted(_chunks(request_iterator), header.size, context),
            root=header.root,
            mode=header.mode,
            mtime=header.mtime,
            path_cid=header.path_cid if header.path_check else None,
        )
        for event in events:
            if isinstance(event, Progress):
                yield pb.PushPathResponse(event=pb.PushPathResponse.Event(bytes=event.bytes))
            else:
                yield pb.PushPathResponse(event=self._final_event(event))

    def _root(self, bucket: Bucket) -> Any:
        return root_pb(self.b.filtered(bucket, current_caller().identity))

    def _final_event(self, done: Pushed) -> Any:
        return pb.PushPathResponse.Event(
            path=f"/ipfs/{done.cid}",
            bytes=done.file_size,
            size=str(done.size),
            root=root_pb(self.b.filtered(done.bucket, current_caller().identity)),
            pinned=done.pinned,
            rebased=done.rebased,
        )

    @grpc_errors
    def PushPaths(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("payload") != "header":
            raise InvalidArgument("push bucket path header is required", wire_code="UNKNOWN")
        header = first.header
        results = self.b.push_paths(
            ctx(),
            header.key,
            _path_chunks(request_iterator),
            root=header.root,
            paths=list(header.paths),
            modes=list(header.modes),
            mtimes=list(header.mtimes),
        )
        for done in results:
            yield pb.PushPathsResponse(
                path=done.path,
                cid=str(done.cid),
                size=done.size,
                pinned=done.pinned,
                root=root_pb(self.b.filtered(done.bucket, current_caller().identity)),
            )

    @grpc_errors
    def PullPath(self, request: Any, context: grpc.ServicerContext) -> Any:
        chunks = self.b.pull_path(
            ctx(), request.key, request.path, offset=request.offset, length=request.length
        )
        for chunk in chunks:
            yield pb.PullPathResponse(chunk=chunk)

    @grpc_errors
    def PullIpfsPath(self, request: Any, context: grpc.ServicerContext) -> Any:
        for chunk in self.b.pull_ipfs_path(request.path):
            yield pb.PullIpfsPathResponse(chunk=chunk)

    @grpc_errors
    def SetPath(self, request: Any, context: grpc.ServicerContext) -> Any:
        bucket, pinned = self.b.set_path(
            ctx(), request.key, request.path, request.cid, root=request.root
        )
        return pb.SetPathResponse(pinned=pinned, root=self._root(bucket))

    @grpc_errors
    def MovePath(self, request: Any, context: grpc.ServicerContext) -> Any:
        bucket = self.b.move_path(
            ctx(), request.key, request.from_path, request.to_path, root=request.root
        )
        return pb.MovePathResponse(root=self._root(bucket))

    @grpc_errors
    def Remove(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.RemoveResponse(pinned=self.b.remove(ctx(), request.key))

    @grpc_errors
    def RemovePath(self, request: Any, context: grpc.ServicerContext) -> Any:
        bucket, pinned = self.b.remove_path(ctx(), request.key, request.path, root=request.root)
        return pb.RemovePathResponse(root=self._root(bucket), pinned=pinned)

    @grpc_errors
    def PushPathAccessRoles(self, request: Any, context: grpc.ServicerContext) -> Any:
        roles = {str(k): int(v) for k, v in request.roles.items()}
        return pb.PushPathAccessRolesResponse(
            pinned=self.b.push_roles(ctx(), request.key, request.path, roles)
        )

    @grpc_errors
    def PullPathAccessRoles(self, request: Any, context: grpc.ServicerContext) -> Any:
        roles = self.b.pull_roles(ctx(), request.key, request.path)
        return pb.PullPathAccessRolesResponse(roles={k: _role(v) for k, v in roles.items()})


fill_unsupported(BucketsServicer, pb.DESCRIPTOR.services_by_name["APIService"], {}, FILECOIN)


class ExtensionServicer(ext_grpc.BucketsExtensionServicer):
    """``bucketfs.pb.BucketsExtension`` (docs/PROTOCOL.md, section Buckets)."""

    def __init__(self, buckets: Buckets) -> None:
        self.b = buckets

    def _root(self, bucket: Bucket) -> Any:
        return root_pb(self.b.filtered(bucket, current_caller().identity))

    @grpc_errors
    def Capabilities(self, request: Any, context: grpc.ServicerContext) -> Any:
        return ext_pb.CapabilitiesResponse(
            exact_sizes=True,
            range_reads=True,
            path_attrs=True,
            symlinks=True,
            list_paging=True,
            push_paths_attrs=True,
            path_check=True,
        )

    @grpc_errors
    def SetPathAttrs(self, request: Any, context: grpc.ServicerContext) -> Any:
        bucket = self.b.set_path_attrs(
            ctx(),
            request.key,
            request.path,
            mode=request.mode if request.set_mode else None,
            mtime=request.mtime if request.set_mtime else None,
        )
        return ext_pb.SetPathAttrsResponse(root=self._root(bucket))

    @grpc_errors
    def Symlink(self, request: Any, context: grpc.ServicerContext) -> Any:
        bucket = self.b.symlink(ctx(), request.key, request.path, request.target, root=request.root)
        return ext_pb.SymlinkResponse(root=self._root(bucket))


def open_buckets(hub: HubContext) -> Buckets:
    """The bucket API over the hub's data directory (closed with the hub)."""
    blocks = FileBlockStore(hub.data_dir / "blocks", sync=hub.options.block_sync)
    attrs = AttrStore(hub.data_dir / "buckets" / "attrs.sqlite")
    hub.on_close(attrs.close)
    gateway_url = f"http://{hub.options.gateway}" if hub.options.gateway else ""
    return Buckets(
        BucketRecords(hub.engine), blocks, attrs, gateway_url=gateway_url, store=hub.store
    )


#: methods that enforce bucket roles themselves, so callers who do not own the thread may use them
#: (PushPaths is a stream, which upstream never ownership-checked)
ROLE_CHECKED = (
    f"/{SERVICE}/PushPaths",
    f"/{EXT_SERVICE}/Capabilities",
    f"/{EXT_SERVICE}/SetPathAttrs",
    f"/{EXT_SERVICE}/Symlink",
)


def register(server: grpc.Server, hub: HubContext) -> list[str]:
    cross_user = getattr(hub, "cross_user_methods", None)
    if isinstance(cross_user, set):
        cross_user.update(ROLE_CHECKED)
    buckets = open_buckets(hub)
    tokens = LinkTokens(hub.identity)
    pb_grpc.add_APIServiceServicer_to_server(BucketsServicer(buckets, tokens), server)
    ext_grpc.add_BucketsExtensionServicer_to_server(ExtensionServicer(buckets), server)
    if hub.options.gateway:
        gateway = Gateway(buckets, hub.options.gateway, hub.identity.public_key, tokens)
        gateway.start()
        hub.on_close(gateway.stop)
        log.info("bucket gateway serving http://%s", gateway.address)
    return [SERVICE, EXT_SERVICE]
