"""dag-pb (codec 0x70): the protobuf node format of UnixFS files and directories.

Encoding is canonical as the dag-pb spec and go-merkledag do it: links (field 2) before data
(field 1), link fields in order Hash, Name, Tsize, links stably sorted by the bytes of their
names. Decoding is strict like the reference decoders: fields in that order, no duplicates, no
unknown fields, every link has a Hash; anything else raises :class:`InvalidArgument`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import protowire as pw
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
    body = (
        pw.bytes_field(1, link.cid.to_bytes())
        + pw.bytes_field(2, link.name.encode("utf-8"))
        + pw.uint_field(3, link.tsize)
    )
    return pw.bytes_field(2, body)


def sort_links(links: list[PBLink]) -> list[PBLink]:
    """Links in canonical order (stable sort by UTF-8 name bytes)."""
    return sorted(links, key=lambda link: link.name.encode("utf-8"))


def encode(node: PBNode) -> bytes:
    """Serialize ``node`` canonically (links are sorted; the node itself is not modified)."""
    parts = [_encode_link(link) for link in sort_links(node.links)]
    if node.data is not None:
        parts.append(pw.bytes_field(1, node.data))
    return b"".join(parts)


def _decode_link(data: bytes) -> PBLink:
    cid: CID | None = None
    name = ""
    tsize = 0
    last = 0
    for number, wire_type, value in pw.fields(data):
        if number <= last or number > 3:
            raise InvalidArgument("dag-pb link fields out of order, repeated or unknown")
        last = number
        if number == 1:
            cid = CID.from_bytes(pw.expect_bytes(number, wire_type, value))
        elif number == 2:
            try:
                name = pw.expect_bytes(number, wire_type, value).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidArgument("dag-pb link name is not UTF-8") from exc
        else:
            tsize = pw.expect_int(number, wire_type, value)
    if cid is None:
        raise InvalidArgument("dag-pb link without Hash")
    return PBLink(name, cid, tsize)


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
