"""HTTP details of the path gateway (ipfs/specs ``path-gateway.md``, RFC 9110): content types,
byte ranges, entity tags and the response format a request asks for.

* Content type: by the file name's extension (Python's built-in table, not the machine's
  ``/etc/mime.types``, so every hub answers alike, plus a few the table lacks), else sniffed from
  the first bytes (a few magic numbers, HTML, UTF-8 text), else ``application/octet-stream``.
* Ranges: one ``bytes=first-last`` / ``bytes=first-`` / ``bytes=-suffix`` range is served as
  206; a range starting past the end is 416 (``Content-Range: bytes */LEN``); anything
  unparseable, and several ranges, get the whole file (200), as RFC 9110 allows.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass

from .trustless import CAR_TYPE, RAW_TYPE

_TYPES = mimetypes.MimeTypes()  # the built-in table only
_EXTRA = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".md": "text/markdown",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff2": "font/woff2",
    ".car": CAR_TYPE,
}
_TEXTUAL = ("text/", "application/javascript", "application/json", "application/xml")
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b\x08", "application/gzip"),
    (b"\x00asm", "application/wasm"),
    (b"OggS\x00", "application/ogg"),
    (b"ID3", "audio/mpeg"),
)
_HTML = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<h1", b"<p", b"<div")
SNIFF_BYTES = 512
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def by_extension(name: str) -> str:
    """The content type of a file called ``name`` by its extension, or ``""``."""
    dot = name.rfind(".")
    if dot <= 0:
        return ""
    ext = name[dot:].lower()
    found = _EXTRA.get(ext) or _TYPES.guess_type("x" + ext, strict=False)[0] or ""
    return _with_charset(found)


def sniff(head: bytes) -> str:
    """The content type of data starting with ``head`` (a small subset of WHATWG sniffing)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    text = head.lstrip(b" \t\r\n\xef\xbb\xbf").lower()
    if any(text.startswith(tag) for tag in _HTML):
        return "text/html; charset=utf-8"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "image/svg+xml"
    if text.startswith(b"<?xml"):
        return "text/xml; charset=utf-8"
    if _looks_textual(head):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _looks_textual(head: bytes) -> bool:
    if any(b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B) for b in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut by the sniff window is fine
        return exc.start >= len(head) - 3
    return True


def _with_charset(kind: str) -> str:
    if kind and kind.startswith(_TEXTUAL) and "charset" not in kind:
        return kind + "; charset=utf-8"
    return kind


@dataclass(frozen=True)
class Span:
    """What to send of a file of ``size`` bytes: ``[start, stop)`` with ``status``."""

    status: int
    start: int
    stop: int
    size: int

    @property
    def content_range(self) -> str:
        if self.status == 416:
            return f"bytes */{self.size}"
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


def byte_span(header: str | None, size: int) -> Span:
    """The response to ``Range: header`` over ``size`` bytes (see the module docstring)."""
    whole = Span(200, 0, size, size)
    if not header:
        return whole
    match = _RANGE.match(header)
    if match is None:  # unparseable, other units, or several ranges
        return whole
    first, last = match.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return whole  # an invalid range-spec is ignored
        if start >= size:
            return Span(416, 0, 0, size)
        stop = min(size, int(last) + 1) if last else size
        return Span(206, start, stop, size)
    if not last:
        return whole
    suffix = int(last)
    if suffix == 0 or size == 0:
        return Span(416, 0, 0, size)
    return Span(206, max(0, size - suffix), size, size)


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match: header`` names ``etag`` (weak comparison, RFC 9110 13.1.2)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    plain = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == plain for tag in header.split(","))


def wanted_format(accept: str | None, fmt: str) -> str:
    """``raw``, ``car`` or ``""`` (a deserialized response): ``?format=`` wins over ``Accept``."""
    if fmt in ("raw", "car"):
        return fmt
    for part in (accept or "").split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media == RAW_TYPE:
            return "raw"
        if media == CAR_TYPE:
            return "car"
    return ""
