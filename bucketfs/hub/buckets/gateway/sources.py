"""What a gateway URL names: a raw IPFS DAG (``/ipfs/<cid>``) or a bucket (``/ipns/<key>``,
``/thread/<t>/buckets/<key>``), behind one small interface so that serving files, directories,
ranges and trustless responses is written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bucketfs.errors import InvalidArgument
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.service import Ctx, Item, parse_ipfs_path
from bucketfs.ipfs.cid import CID


@dataclass
class IpfsSource:
    """``/ipfs/<root>``: content-addressed, public, immutable."""

    buckets: Buckets
    root: CID
    immutable = True
    private = False

    def item(self, path: str) -> Item:
        return self.buckets.list_ipfs_path(self._full(path))

    def pull(self, path: str, offset: int, length: int) -> Iterator[bytes]:
        return self.buckets.pull_ipfs_path(self._full(path), offset=offset, length=length)

    def dag_root(self) -> CID:
        return self.root

    def _full(self, path: str) -> str:
        return f"/ipfs/{self.root}/{path}" if path else f"/ipfs/{self.root}"


@dataclass
class BucketSource:
    """A bucket as the caller (``ctx``) may read it; its root changes with every write."""

    buckets: Buckets
    ctx: Ctx
    key: str
    immutable = False

    def __post_init__(self) -> None:
        self._bucket = self.buckets.root(self.ctx, self.key)
        self.private = self._bucket.private

    def item(self, path: str) -> Item:
        return self.buckets.list_path(self.ctx, self.key, path).item

    def pull(self, path: str, offset: int, length: int) -> Iterator[bytes]:
        return self.buckets.pull_path(self.ctx, self.key, path, offset=offset, length=length)

    def dag_root(self) -> CID:
        """The bucket's root CID, for trustless responses (public buckets only: a private
        bucket's blocks are ciphertext a client could not use)."""
        if self.private:
            raise InvalidArgument("trustless responses are served for public buckets only")
        return parse_ipfs_path(self._bucket.path)[0]
