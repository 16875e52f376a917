"""Serving what a :mod:`~bucketfs.hub.buckets.gateway.sources` source names: files (content type,
ranges, ETag), directories (trailing-slash redirect, ``index.html``, listings) and trustless
responses (raw blocks, CAR streams).
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from bucketfs.errors import InvalidArgument
from bucketfs.hub.buckets.service import Item
from bucketfs.ipfs.cid import CID

from . import http, pages, trustless
from .sources import BucketSource, IpfsSource

IMMUTABLE = "public, max-age=29030400, immutable"
INDEX = "index.html"


class Replier(Protocol):
    """The part of the HTTP request handler that serving needs."""

    @property
    def headers(self) -> object: ...  # an email.message.Message: .get(name)

    def reply(
        self,
        status: int,
        headers: dict[str, str],
        body: Iterable[bytes] = (),
        length: int | None = None,
    ) -> None: ...


@dataclass
class Call:
    """One request: the handler, the URL path as sent, the query, the unquoted path segments."""

    req: Replier
    path: str
    query: dict[str, str]
    parts: list[str]
    head: bool = False

    def header(self, name: str) -> str:
        value = self.req.headers.get(name)  # type: ignore[attr-defined]
        return str(value) if value is not None else ""

    @property
    def token(self) -> str:
        return self.query.get("token", "")


def parse_cid(text: str) -> CID:
    try:
        return CID.parse(text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid CID {text!r}: {exc.message}") from None


def _format(call: Call) -> str:
    fmt = call.query.get("format", "")
    if fmt not in ("", "raw", "car"):
        raise InvalidArgument(f"unsupported format {fmt!r} (this gateway serves raw and car)")
    return http.wanted_format(call.header("Accept"), fmt)


def _base_headers(call: Call, source: IpfsSource | BucketSource) -> dict[str, str]:
    cache = "private, no-cache" if call.token else "no-cache"
    if source.immutable:
        cache = IMMUTABLE
    return {"Cache-Control": cache, "X-Ipfs-Path": call.path, "Vary": "Accept"}


def ipfs(call: Call, source: IpfsSource) -> None:
    fmt = _format(call)
    if fmt:
        trustless_reply(call, source, source.root, [p for p in call.parts[2:] if p], fmt)
        return
    content(call, source, 2)


def content(call: Call, source: IpfsSource | BucketSource, depth: int) -> None:
    """Serve the path after the first ``depth`` URL segments of ``source``."""
    segments = [p for p in call.parts[depth:] if p]
    path = "/".join(segments)
    fmt = _format(call)
    item = source.item(path)  # also the bucket's read check for trustless responses
    if fmt:
        trustless_reply(call, source, source.dag_root(), segments, fmt)
        return
    if not item.is_dir:
        _file(call, source, path, item)
        return
    if not call.path.endswith("/"):
        query = urllib.parse.urlencode(call.query)
        location = call.path + "/" + (f"?{query}" if query else "")
        call.req.reply(301, {"Location": location, **_base_headers(call, source)}, [], 0)
        return
    index = next((c for c in item.items if c.name == INDEX and not c.is_dir), None)
    if index is not None:
        _file(call, source, f"{path}/{INDEX}" if path else INDEX, index)
        return
    _listing(call, source, item, at_root=not path)


def _listing(call: Call, source: IpfsSource | BucketSource, item: Item, at_root: bool) -> None:
    title = "Index of " + urllib.parse.unquote(call.path)
    body = pages.directory(item, call.path, call.token, title, at_root).encode()
    digest = hashlib.sha256(body).hexdigest()[:16]
    headers = _base_headers(call, source)
    headers["ETag"] = f'W/"DirIndex-{digest}_CID-{item.cid}"'
    if http.etag_matches(call.header("If-None-Match"), headers["ETag"]):
        call.req.reply(304, headers)
        return
    headers["Content-Type"] = "text/html; charset=utf-8"
    call.req.reply(200, headers, [body], len(body))


def _file(call: Call, source: IpfsSource | BucketSource, path: str, item: Item) -> None:
    size = len(item.symlink_target.encode()) if item.symlink_target else item.file_size
    headers = _base_headers(call, source)
    headers["ETag"] = f'"{item.cid}"'
    headers["Accept-Ranges"] = "bytes"
    if http.etag_matches(call.header("If-None-Match"), headers["ETag"]):
        call.req.reply(304, headers)
        return
    kind = http.by_extension(item.name)
    if not kind:
        head = b"".join(source.pull(path, 0, min(size, http.SNIFF_BYTES))) if size else b""
        kind = http.sniff(head[: http.SNIFF_BYTES])
    headers["Content-Type"] = kind
    span = http.byte_span(call.header("Range") or None, size)
    if span.status != 200:
        headers["Content-Range"] = span.content_range
    if span.status == 416:
        call.req.reply(416, headers, [], 0)
        return
    length = span.stop - span.start
    body: Iterator[bytes] = iter(())
    if length and not call.head:
        body = source.pull(path, span.start, length)
    call.req.reply(span.status, headers, body, length)


def trustless_reply(
    call: Call, source: IpfsSource | BucketSource, root: CID, parts: list[str], fmt: str
) -> None:
    """A raw block or a CAR stream of ``/ipfs/<root>/<parts>`` (see ``trustless.py``)."""
    get = source.buckets.blocks.get
    headers = _base_headers(call, source)
    headers["X-Content-Type-Options"] = "nosniff"
    if fmt == "raw":
        cid, _ = trustless.resolve_path(get, root, parts)
        data = trustless.load(get, cid)
        headers.update(
            {
                "Content-Type": trustless.RAW_TYPE,
                "Content-Disposition": f'attachment; filename="{cid}.bin"',
                "ETag": f'"{cid}.raw"',
            }
        )
        if http.etag_matches(call.header("If-None-Match"), headers["ETag"]):
            call.req.reply(304, headers)
            return
        call.req.reply(200, headers, [data], len(data))
        return
    scope = call.query.get("dag-scope", "all")
    span_text = call.query.get("entity-bytes", "")
    span = trustless.ByteRange.parse(span_text) if span_text else None
    if span is not None:
        scope = "entity"
    cid, stream = trustless.car_stream(get, root, parts, scope, span)
    shape = hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]
    headers.update(
        {
            "Content-Type": trustless.CAR_CONTENT_TYPE,
            "Content-Disposition": f'attachment; filename="{cid}.car"',
            "ETag": f'W/"{root}.car.{shape}.{scope}.{span_text or "-"}"',
        }
    )
    if http.etag_matches(call.header("If-None-Match"), headers["ETag"]):
        call.req.reply(304, headers)
        return
    call.req.reply(200, headers, stream)
