"""Plain values the remote clients return: no gRPC or protobuf types leak out of ``remote/``.

Everything here is a frozen dataclass built from the hub's replies (reference/WIRE.md §3, §4 and
the bucketfs wire extensions of DESIGN §5). Times are Unix nanoseconds, as on the wire.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

IPFS_PREFIX = "/ipfs/"


@dataclass(frozen=True)
class BucketRoot:
    """A bucket's root record (``api.bucketsd.pb.Root``)."""

    key: str
    name: str
    path: str  # "/ipfs/<root cid>": the fast-forward token for pushes and removes
    thread: str
    owner: str
    created_at: int
    updated_at: int
    private: bool

    @property
    def cid(self) -> str:
        """The root CID, i.e. ``path`` without ``/ipfs/``."""
        return self.path[len(IPFS_PREFIX) :] if self.path.startswith(IPFS_PREFIX) else self.path


@dataclass(frozen=True)
class PathEntry:
    """One file or directory in a bucket (``api.bucketsd.pb.PathItem`` + extensions)."""

    name: str
    path: str  # full IPFS path "/ipfs/<root cid>/a/b"
    cid: str
    is_dir: bool
    dag_size: int  # cumulative IPFS DAG size (not the file length for large files)
    items_count: int
    file_size: int | None  # exact byte length (extension), None when the hub cannot say
    mode: int  # Unix mode bits incl. type bits, 0 = unknown
    mtime: int  # ns; the metadata updated_at when the hub has no mtime extension
    symlink_target: str = ""


@dataclass(frozen=True)
class Listing:
    """The result of ``ListPath``: the item, one level of children and the bucket root."""

    item: PathEntry
    children: list[PathEntry]
    root: BucketRoot
    truncated: bool  # True when ``limit`` cut the children short (ask again with ``after``)


@dataclass(frozen=True)
class PushResult:
    """The result of pushing one file."""

    cid: str  # bare CID of the file
    dag_size: int
    root: BucketRoot
    rebased: bool = False  # path check: saved on a root other than the one sent (extension)


@dataclass(frozen=True)
class Capabilities:
    """Which bucketfs wire extensions the hub implements (all False for a plain Textile hub)."""

    exact_sizes: bool = False
    range_reads: bool = False
    path_attrs: bool = False
    symlinks: bool = False
    list_paging: bool = False
    push_paths_attrs: bool = False  # PushPaths header modes/mtimes are stored with the files
    path_check: bool = False  # PushPath takes a per-path precondition (path_cid) for the root's


class ListenAction(enum.Enum):
    """What happened to an instance (``ListenReply.Action``)."""

    CREATE = "create"
    SAVE = "save"
    DELETE = "delete"


@dataclass(frozen=True)
class ListenEvent:
    """One change notification from ``Listen``."""

    collection: str
    instance_id: str
    action: ListenAction
    instance: dict[str, Any] | None  # current JSON for CREATE/SAVE, None for DELETE


@dataclass(frozen=True)
class ListenFilter:
    """One ``Listen`` filter; empty strings match anything, action None = all actions."""

    collection: str = ""
    instance_id: str = ""
    action: ListenAction | None = None
