"""A file's exact length from its cumulative DAG size, for hubs that report only the latter.

A plain Textile hub lists files with their IPFS cumulative DAG size: the byte length plus the
encoded inner nodes of the balanced layout (``bucketfs.ipfs.importer``: 262144-byte raw leaves,
at most 174 links per node). That layout, and so the DAG size, is a function of the length alone
(every CID in it encodes to the same size), so the length can be found again by a binary search
over ``dag_size``, which computes the layout from the number of leaves without building it
(subtrees of full leaves are identical and computed once). ``length_for_dag_size`` returns None
when no length gives the reported size (e.g. a file that was not laid out this way).
"""

from __future__ import annotations

from functools import cache

from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB
from bucketfs.ipfs.importer import CHUNK_SIZE, MAX_LINKS

_CID = CID(1, DAG_PB, b"\x12\x20" + bytes(32))  # raw leaves' CIDs encode to the same size

Sub = tuple[int, int]  # (file bytes, cumulative DAG size) of a subtree


def _node(children: list[Sub]) -> Sub:
    sizes = [f for f, _ in children if f > 0]
    data = unixfs.Data(unixfs.FILE, filesize=sum(sizes), blocksizes=sizes).encode()
    links = [dagpb.PBLink("", _CID, t) for f, t in children if f > 0]
    raw = dagpb.encode(dagpb.PBNode(data, links))
    return sum(sizes), len(raw) + sum(t for f, t in children if f > 0)


@cache
def _full(height: int) -> Sub:
    """A subtree of ``MAX_LINKS ** height`` full leaves."""
    if height == 0:
        return CHUNK_SIZE, CHUNK_SIZE
    return _node([_full(height - 1)] * MAX_LINKS)


@cache
def _last(height: int, rest: int) -> Sub:
    """As ``_full`` but its last leaf holds ``rest`` bytes."""
    if height == 0:
        return rest, rest
    return _node([_full(height - 1)] * (MAX_LINKS - 1) + [_last(height - 1, rest)])


def dag_size(length: int) -> int:
    """The cumulative DAG size ``ipfs add --cid-version=1`` gives a file of ``length`` bytes."""
    if length <= CHUNK_SIZE:
        return length
    leaves, rest = -(-length // CHUNK_SIZE), length % CHUNK_SIZE or CHUNK_SIZE
    digits = []  # pending subtrees per level after the last leaf, as FileBuilder leaves them
    while leaves:
        leaves, digit = divmod(leaves, MAX_LINKS)
        digits.append(digit)
    lowest = next(h for h, d in enumerate(digits) if d)
    carry: Sub | None = None
    for height, count in enumerate(digits):  # as FileBuilder._close_levels
        group = [_full(height)] * count
        if height == lowest:
            group[-1] = _last(height, rest)
        if carry is not None:
            group.append(carry)
        if len(group) == 1 and not any(digits[height + 1 :]):
            return group[0][1]
        carry = _node(group) if group else None
    assert carry is not None
    return carry[1]


def length_for_dag_size(size: int) -> int | None:
    """The file length whose DAG size is ``size`` (see the module docstring), or None."""
    if size <= CHUNK_SIZE:
        return size
    low, high = max(CHUNK_SIZE + 1, size - size // 500 - 65536), size  # overhead is < 0.2 %
    while low < high:  # dag_size is strictly increasing
        mid = (low + high) // 2
        if dag_size(mid) < size:
            low = mid + 1
        else:
            high = mid
    return low if dag_size(low) == size else None
