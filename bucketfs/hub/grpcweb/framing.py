"""gRPC-Web wire pieces, independent of any server: frames, header blocks, metadata, base64 text.

A gRPC-Web body is a sequence of frames ``flag(1) length(4, big endian) payload``: flag ``0x00``
carries one protobuf message, flag ``0x80`` a header block (``key: value\\r\\n`` lines). Over
HTTP/1.1 the response ends with one trailer frame (``grpc-status``, ``grpc-message``, trailing
metadata); over the ``grpc-websockets`` transport the first ``0x80`` frame carries the response
headers and the second the trailers. ``application/grpc-web-text`` is the same byte stream in
base64, where a body may be several padded base64 segments one after the other.

The HTTP side passes every request header to the gRPC call as metadata except the HTTP/1 and
browser plumbing in :data:`NOT_METADATA` (Textile's ``x-textile-*`` and ``authorization``
therefore arrive unchanged); ``-bin`` values are base64 on the HTTP side and bytes in gRPC.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

MESSAGE = 0x00
HEADERS = 0x80
COMPRESSED = 0x01
_PREFIX = struct.Struct(">BI")

#: request headers that belong to HTTP, the browser or gRPC-Web itself, never forwarded as metadata
NOT_METADATA = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "cookie",
        "dnt",
        "grpc-accept-encoding",
        "grpc-encoding",
        "grpc-timeout",
        "host",
        "keep-alive",
        "origin",
        "pragma",
        "priority",
        "proxy-connection",
        "referer",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-grpc-web",
        "x-user-agent",
    }
)
_NOT_METADATA_PREFIXES = ("sec-", "access-control-", ":", "grpc-")
_TIMEOUT = re.compile(r"^(\d{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}

Metadata = list[tuple[str, str | bytes]]


class FramingError(ValueError):
    """The peer sent bytes that are not gRPC-Web."""


def frame(payload: bytes, flag: int = MESSAGE) -> bytes:
    return _PREFIX.pack(flag, len(payload)) + payload


def header_block(pairs: Iterable[tuple[str, str]]) -> bytes:
    """``key: value\\r\\n`` lines (keys lower case, as gRPC-Web wants)."""
    return "".join(f"{key.lower()}: {value}\r\n" for key, value in pairs).encode("latin-1")


def parse_header_block(data: bytes) -> list[tuple[str, str]]:
    """The header lines of a ``grpc-websockets`` first frame, keys lower case, in order."""
    pairs = []
    for line in data.decode("latin-1").split("\r\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise FramingError(f"not a header line: {line[:80]!r}")
        pairs.append((key.strip().lower(), value.strip()))
    return pairs


@dataclass
class FrameReader:
    """Incremental parser of length-prefixed frames from arbitrary byte chunks."""

    max_length: int
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Add ``data``; yield every ``(flag, payload)`` now complete."""
        self._buffer += data
        while len(self._buffer) >= _PREFIX.size:
            flag, length = _PREFIX.unpack_from(self._buffer)
            if length > self.max_length:
                raise FramingError(f"frame of {length} bytes exceeds {self.max_length}")
            end = _PREFIX.size + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[_PREFIX.size : end])
            del self._buffer[:end]
            yield flag, payload

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buffer)


def messages(reader: FrameReader, data: bytes) -> Iterator[bytes]:
    """The request messages in ``data`` (compressed or non-message frames are refused)."""
    for flag, payload in reader.feed(data):
        if flag & COMPRESSED:
            raise FramingError("compressed gRPC-Web messages are not supported")
        if flag != MESSAGE:
            raise FramingError(f"unexpected frame flag {flag:#x} in a request")
        yield payload


@dataclass
class TextDecoder:
    """Incremental ``application/grpc-web-text`` decoder (padded segments may follow each other)."""

    _pending: str = ""

    def feed(self, data: bytes) -> bytes:
        text = self._pending + "".join(data.decode("ascii", "replace").split())
        out = bytearray()
        while text:
            pad = text.find("=")
            if pad < 0:
                cut = len(text) - len(text) % 4
                out += _b64(text[:cut])
                text = text[cut:]
                break
            end = pad
            while end < len(text) and text[end] == "=":
                end += 1
            if end % 4 and end == len(text):
                break  # the rest of the padding is in the next chunk
            out += _b64(text[:end])
            text = text[end:]
        self._pending = text
        return bytes(out)

    def finish(self) -> None:
        if self._pending:
            raise FramingError("truncated base64 in a grpc-web-text body")


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise FramingError(f"invalid base64 in a grpc-web-text body: {exc}") from None


def text_encode(data: bytes) -> bytes:
    return base64.b64encode(data)


def metadata_from_headers(headers: Iterable[tuple[str, str]]) -> tuple[Metadata, float | None]:
    """gRPC metadata and the timeout (seconds, from ``grpc-timeout``) of HTTP request headers."""
    metadata: Metadata = []
    timeout = None
    for raw_key, value in headers:
        key = raw_key.lower()
        if key == "grpc-timeout":
            timeout = parse_timeout(value)
            continue
        if key in NOT_METADATA or key.startswith(_NOT_METADATA_PREFIXES):
            continue
        if key.endswith("-bin"):
            metadata.append((key, _b64_loose(value)))
        else:
            metadata.append((key, value))
    return metadata, timeout


def _b64_loose(value: str) -> bytes:
    value = value.strip()
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error as exc:
        raise FramingError(f"invalid base64 in a -bin header: {exc}") from None


def parse_timeout(value: str) -> float:
    match = _TIMEOUT.match(value.strip())
    if match is None:
        raise FramingError(f"invalid grpc-timeout {value!r}")
    return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]


def headers_from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, str]]:
    """HTTP header pairs for gRPC metadata (``-bin`` values base64, unpadded like gRPC)."""
    pairs = []
    for key, value in metadata:
        if isinstance(value, bytes):
            pairs.append((key, base64.b64encode(value).decode().rstrip("=")))
        else:
            pairs.append((key, value))
    return pairs


def percent_encode(message: str) -> str:
    """``grpc-message`` encoding: UTF-8, percent-encoding ``%`` and bytes outside 0x20-0x7e."""
    out = []
    for byte in message.encode("utf-8"):
        out.append(chr(byte) if 0x20 <= byte <= 0x7E and byte != 0x25 else f"%{byte:02X}")
    return "".join(out)


def trailer_pairs(code: int, message: str, trailing: Metadata) -> list[tuple[str, str]]:
    pairs = [("grpc-status", str(code))]
    if message:
        pairs.append(("grpc-message", percent_encode(message)))
    return pairs + headers_from_metadata(trailing)
