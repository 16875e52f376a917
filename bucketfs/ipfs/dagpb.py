"""dag-pb (codec 0x70): the protobuf node format of UnixFS files and directories.

Encoding is canonical as the dag-pb spec and go-merkledag do it: links (field 2) before data
(field 1), link fields in order Hash, Name, Tsize, links stably sorted by the bytes of their
names. Decoding is strict like the reference decoders: fields in that order, no duplicates, no
unknown fields, every link has a Hash; anything else raises :class:`InvalidArgument`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import protowire as pw
from bucketfs.ipfs import varint
from bucketfs.ipfs.cid import CID


@dataclass
class PBLink:
    name: str
    cid: CID
    tsize: int


@dataclass
class PBNode:
    data: bytes | None
    links: list[PBLink] = field(default_factory=list)


def _encode_link(link: PBLink) -> bytes:
    return _encode_link_parts(link.name, link.cid.to_bytes(), link.tsize)


@functools.lru_cache(maxsize=32768)
def _encode_link_parts(name_text: str, cid: bytes, tsize: int) -> bytes:
    """One encoded link (memoised: a directory rewrite re-encodes mostly unchanged links)."""
    uv = varint.encode
    name = name_text.encode("utf-8")
    body = b"\x0a" + uv(len(cid)) + cid + b"\x12" + uv(len(name)) + name + b"\x18" + uv(tsize)
    return b"\x12" + uv(len(body)) + body


def sort_links(links: list[PBLink]) -> list[PBLink]:
    """Links in canonical order (stable sort by UTF-8 name bytes)."""
    return sorted(links, key=lambda link: link.name.encode("utf-8"))


def encode(node: PBNode) -> bytes:
    """Serialize ``node`` canonically (links are sorted; the node itself is not modified)."""
    parts = [_encode_link(link) for link in sort_links(node.links)]
    if node.data is not None:
        parts.append(pw.bytes_field(1, node.data))
    return b"".join(parts)


def _read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = varint.decode(data, pos)
    end = pos + length
    if end > len(data):
        raise InvalidArgument("truncated dag-pb field")
    return data[pos:end], end


def _decode_link(data: bytes) -> PBLink:
    """Parse one PBLink: Hash (1), Name (2), Tsize (3), in that order, each at most once."""
    pos, end = 0, len(data)
    if pos >= end or data[pos] != 0x0A:
        raise InvalidArgument("dag-pb link without Hash, or fields out of order")
    raw_cid, pos = _read_bytes(data, pos + 1)
    cid = CID.from_bytes(raw_cid)
    name = ""
    tsize = 0
    if pos < end and data[pos] == 0x12:
        raw_name, pos = _read_bytes(data, pos + 1)
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidArgument("dag-pb link name is not UTF-8") from exc
    if pos < end and data[pos] == 0x18:
        tsize, pos = varint.decode(data, pos + 1)
    if pos != end:
        raise InvalidArgument("dag-pb link fields out of order, repeated or unknown")
    return PBLink(name, cid, tsize)


def decode_data(data: bytes | memoryview) -> bytes | None:
    """Only the Data field of a dag-pb block (links are skipped, not parsed)."""
    pos, end = 0, len(data)
    node_data: bytes | None = None
    while pos < end:
        tag = data[pos]
        if tag not in (0x0A, 0x12):
            raise InvalidArgument(f"dag-pb unknown field tag {tag}")
        length, pos = varint.decode(data, pos + 1)
        if pos + length > end:
            raise InvalidArgument("truncated dag-pb field")
        if tag == 0x0A:
            node_data = bytes(data[pos : pos + length])
        pos += length
    return node_data


@dataclass(frozen=True)
class RawLink:
    """A link as it sits in an encoded node: its name bytes, CID length and whole field bytes."""

    name: bytes
    cid_length: int
    field: bytes


def scan(data: bytes) -> tuple[list[RawLink], bytes | None]:
    """Split an encoded node into raw links and Data without decoding the CIDs.

    For fast edits of wide nodes: the fields can be spliced and concatenated again. Structure is
    checked (a link starts with its Hash); the CIDs themselves are not parsed.
    """
    links: list[RawLink] = []
    node_data: bytes | None = None
    pos, end = 0, len(data)
    while pos < end:
        tag = data[pos]
        start = pos
        length, pos = varint.decode(data, pos + 1)
        stop = pos + length
        if stop > end or tag not in (0x0A, 0x12) or (tag == 0x12 and node_data is not None):
            raise InvalidArgument("malformed dag-pb node")
        if tag == 0x0A:
            node_data = data[pos:stop]
        else:
            links.append(_scan_link(data, pos, stop, start))
        pos = stop
    return links, node_data


def _scan_link(data: bytes, pos: int, stop: int, start: int) -> RawLink:
    if pos >= stop or data[pos] != 0x0A:
        raise InvalidArgument("dag-pb link without Hash")
    cid_length, pos = varint.decode(data, pos + 1)
    pos += cid_length
    name = b""
    if pos < stop and data[pos] == 0x12:
        name_length, pos = varint.decode(data, pos + 1)
        name = data[pos : pos + name_length]
        pos += name_length
    if pos > stop:
        raise InvalidArgument("malformed dag-pb link")
    return RawLink(name, cid_length, data[start:stop])


def encode_link(link: PBLink) -> bytes:
    """One link field, as :func:`encode` writes it."""
    return _encode_link(link)


def decode(data: bytes | memoryview) -> PBNode:
    """Parse a dag-pb block."""
    links: list[PBLink] = []
    node_data: bytes | None = None
    for number, wire_type, value in pw.fields(data):
        if number == 2:
            if node_data is not None:
                raise InvalidArgument("dag-pb Links after Data")
            links.append(_decode_link(pw.expect_bytes(number, wire_type, value)))
        elif number == 1:
            if node_data is not None:
                raise InvalidArgument("dag-pb duplicate Data")
            node_data = pw.expect_bytes(number, wire_type, value)
        else:
            raise InvalidArgument(f"dag-pb unknown field {number}")
    return PBNode(node_data, links)
