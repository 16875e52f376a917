"""Helpers of the gateway tests: raw HTTP (no redirect following), a CARv1 reader, link crawling."""

from __future__ import annotations

import html
import http.client
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bucketfs.ipfs import varint
from bucketfs.ipfs.cid import CID


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def fetch(gateway: str, target: str, method: str = "GET", **headers: str) -> Resp:
    """One request to ``gateway`` (``HOST:PORT``); ``target`` is a path or a full URL."""
    if "://" in target:
        parts = urllib.parse.urlsplit(target)
        gateway = parts.netloc
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(gateway, timeout=30)
    try:
        conn.request(method, target, headers={k.replace("_", "-"): v for k, v in headers.items()})
        resp = conn.getresponse()
        body = resp.read()
        return Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def follow(gateway: str, target: str, **headers: str) -> Resp:
    """GET following redirects (at most 5)."""
    for _ in range(5):
        resp = fetch(gateway, target, **headers)
        if resp.status not in (301, 302, 307, 308):
            return resp
        target = urllib.parse.urljoin(target, resp.header("Location"))
    raise AssertionError(f"too many redirects at {target}")


_HREF = re.compile(r'href="([^"]+)"')


def links_of(page: bytes) -> list[str]:
    return [html.unescape(h) for h in _HREF.findall(page.decode())]


def crawl(gateway: str, start: str) -> dict[str, bytes]:
    """Every file reachable by following a listing's links from ``start``: URL path → bytes.
    Fails on any link that does not answer 200 (or a redirect to a 200)."""
    files: dict[str, bytes] = {}
    seen: set[str] = set()
    todo = [start]
    while todo:
        url = todo.pop()
        resp = follow(gateway, url)
        assert resp.status == 200, (url, resp.status, resp.body[:200])
        if not resp.header("ETag").startswith('W/"DirIndex-'):
            files[urllib.parse.unquote(urllib.parse.urlsplit(url).path)] = resp.body
            continue
        for href in links_of(resp.body):
            assert href.startswith("/"), href  # absolute links
            if href not in seen and not href.split("?")[0].endswith("/..") and href != url:
                seen.add(href)
                if len(urllib.parse.urlsplit(href).path) > len(urllib.parse.urlsplit(url).path):
                    todo.append(href)  # children only (the parent link goes up)
    return files


def read_car(data: bytes) -> tuple[dict[str, Any], list[tuple[CID, bytes]]]:
    """A CARv1: (header as a tiny DAG-CBOR decode, [(cid, block)])."""
    length, pos = varint.decode(data, 0)
    header = _cbor(data[pos : pos + length])
    pos += length
    blocks = []
    while pos < len(data):
        length, pos = varint.decode(data, pos)
        end = pos + length
        cid, start = CID.read(data, pos)
        blocks.append((cid, data[start:end]))
        pos = end
    return header, blocks


def _cbor(data: bytes) -> dict[str, Any]:
    """Decode the CAR header map (text keys, an array of tag-42 CIDs, an int)."""
    value, _ = _item(data, 0)
    assert isinstance(value, dict)
    return value


def _item(data: bytes, pos: int) -> tuple[Any, int]:
    major, info = data[pos] >> 5, data[pos] & 31
    pos += 1
    if info < 24:
        arg = info
    else:
        size = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        arg = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if major == 0:
        return arg, pos
    if major in (2, 3):
        raw = data[pos : pos + arg]
        return (raw if major == 2 else raw.decode()), pos + arg
    if major == 4:
        out = []
        for _ in range(arg):
            item, pos = _item(data, pos)
            out.append(item)
        return out, pos
    if major == 5:
        result = {}
        for _ in range(arg):
            key, pos = _item(data, pos)
            result[key], pos = _item(data, pos)
        return result, pos
    if major == 6:
        assert arg == 42
        raw, pos = _item(data, pos)
        assert raw[:1] == b"\x00"
        return CID.from_bytes(raw[1:]), pos
    raise AssertionError(f"unexpected CBOR major type {major}")


def dfs_order(blocks: dict[CID, bytes], root: CID) -> Iterator[CID]:
    """The depth-first, link-order walk from ``root`` over ``blocks``, each CID once."""
    from bucketfs.ipfs import dagpb
    from bucketfs.ipfs.cid import DAG_PB

    seen: set[CID] = set()

    def walk(cid: CID) -> Iterator[CID]:
        if cid in seen or cid not in blocks:
            return
        seen.add(cid)
        yield cid
        if cid.codec == DAG_PB:
            for link in dagpb.decode(blocks[cid]).links:
                yield from walk(link.cid)

    yield from walk(root)
