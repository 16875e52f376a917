"""UnixFS ``Data`` messages (the payload of dag-pb nodes) and symlink nodes.

Fields as the UnixFS spec numbers them: Type 1, Data 2, filesize 3, blocksizes 4 (repeated,
unpacked), hashType 5, fanout 6, mode 7, mtime 8 (``UnixTime``: Seconds 1 int64,
FractionalNanoseconds 2 fixed32). Encoding writes fields in that order and omits unset ones, like
the reference encoders, so CIDs match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bucketfs.errors import InvalidArgument
from bucketfs.ipfs import dagpb
from bucketfs.ipfs import protowire as pw
from bucketfs.ipfs.cid import DAG_PB, Block

RAW = 0
DIRECTORY = 1
FILE = 2
METADATA = 3
SYMLINK = 4
HAMT_SHARD = 5

TYPES = (RAW, DIRECTORY, FILE, METADATA, SYMLINK, HAMT_SHARD)
MURMUR3_X64_64 = 0x22


@dataclass(frozen=True)
class Mtime:
    seconds: int
    nanos: int | None = None


@dataclass
class Data:
    """One UnixFS ``Data`` message; ``None`` means the field is absent."""

    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = field(default_factory=list)
    hash_type: int | None = None
    fanout: int | None = None
    mode: int | None = None
    mtime: Mtime | None = None

    def encode(self) -> bytes:
        out = [pw.uint_field(1, self.type)]
        if self.data is not None:
            out.append(pw.bytes_field(2, self.data))
        if self.filesize is not None:
            out.append(pw.uint_field(3, self.filesize))
        out += [pw.uint_field(4, size) for size in self.blocksizes]
        if self.hash_type is not None:
            out.append(pw.uint_field(5, self.hash_type))
        if self.fanout is not None:
            out.append(pw.uint_field(6, self.fanout))
        if self.mode is not None:
            out.append(pw.uint_field(7, self.mode))
        if self.mtime is not None:
            body = pw.int64_field(1, self.mtime.seconds)
            if self.mtime.nanos is not None:
                body += pw.fixed32_field(2, self.mtime.nanos)
            out.append(pw.bytes_field(8, body))
        return b"".join(out)

    @classmethod
    def decode(cls, raw: bytes) -> Data:
        msg = cls(type=-1)
        for number, wire_type, value in pw.fields(raw):
            if number == 1:
                msg.type = pw.expect_int(number, wire_type, value)
            elif number == 2:
                msg.data = pw.expect_bytes(number, wire_type, value)
            elif number == 3:
                msg.filesize = pw.expect_int(number, wire_type, value)
            elif number == 4:
                msg.blocksizes.append(pw.expect_int(number, wire_type, value))
            elif number == 5:
                msg.hash_type = pw.expect_int(number, wire_type, value)
            elif number == 6:
                msg.fanout = pw.expect_int(number, wire_type, value)
            elif number == 7:
                msg.mode = pw.expect_int(number, wire_type, value) & 0xFFFFFFFF
            elif number == 8:
                msg.mtime = _decode_mtime(pw.expect_bytes(number, wire_type, value))
            # unknown fields are skipped, as the reference decoders do
        if msg.type not in TYPES:
            raise InvalidArgument(f"UnixFS Data without a valid Type ({msg.type})")
        return msg

    def file_size(self) -> int:
        """Byte length of a File/Raw node: inline data plus all blocksizes."""
        return len(self.data or b"") + sum(self.blocksizes)


def _decode_mtime(raw: bytes) -> Mtime:
    seconds = 0
    nanos: int | None = None
    for number, wire_type, value in pw.fields(raw):
        if number == 1:
            seconds = pw.to_int64(pw.expect_int(number, wire_type, value))
        elif number == 2:
            nanos = pw.expect_int(number, wire_type, value, pw.FIXED32)
    if nanos is not None and not 0 < nanos < 1_000_000_000:
        nanos = None  # out of range: the spec says to treat it as absent
    return Mtime(seconds, nanos)


def node_data(block: Block) -> Data:
    """The UnixFS message of a dag-pb block (InvalidArgument if it is not UnixFS)."""
    if block.cid.codec != DAG_PB:
        raise InvalidArgument(f"{block.cid} is not a dag-pb block")
    raw = dagpb.decode_data(block.data)
    if raw is None:
        raise InvalidArgument(f"{block.cid} has no UnixFS data")
    return Data.decode(raw)


def symlink(target: str, mode: int | None = None, mtime: Mtime | None = None) -> Block:
    """A UnixFS symlink node pointing at ``target`` (CIDv1, as ``ipfs add`` makes them)."""
    data = Data(SYMLINK, data=target.encode("utf-8"), mode=mode, mtime=mtime)
    return Block.of(dagpb.encode(dagpb.PBNode(data.encode(), [])), DAG_PB)


def is_symlink(block: Block) -> bool:
    if block.cid.codec != DAG_PB:
        return False
    try:
        return node_data(block).type == SYMLINK
    except InvalidArgument:
        return False


def read_symlink(block: Block) -> str:
    """The target of a UnixFS symlink node."""
    msg = node_data(block)
    if msg.type != SYMLINK:
        raise InvalidArgument(f"{block.cid} is not a symlink")
    try:
        return (msg.data or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("symlink target is not UTF-8") from exc
