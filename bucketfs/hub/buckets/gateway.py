"""A small HTTP gateway for bucket content (WIRE §4.7), run in a thread of the hub.

Routes (GET and HEAD):

* ``/ipfs/<cid>[/path]`` — any UnixFS file or directory stored on this hub (content-addressed,
  no access control; private buckets' blocks are ciphertext);
* ``/ipns/<bucket key>[/path]`` — a bucket by its key;
* ``/thread/<thread id>/buckets/<bucket key>[/path]`` — a bucket in a given thread DB.

Bucket routes apply the bucket roles: anonymous callers get what ``*`` may read; a
``?token=<JWT>`` (as ``Links`` appends for private buckets) acts as the token's subject. Files are
streamed with their exact ``Content-Length`` (``Range: bytes=a-b`` is honoured); directories are
rendered as a plain HTML index. Errors: 404 not found, 403 permission denied, 400 bad request.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bucketfs.auth.identity import PublicKey
from bucketfs.auth.token import verify_token
from bucketfs.errors import BucketfsError, InvalidArgument, NotFound, PermissionDenied

from .mutations import Buckets
from .service import Ctx, Item

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: Gateway


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("gateway: " + format, *args)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, *, head: bool) -> None:
        try:
            self.server.gateway.handle(self, head=head)
        except NotFound as exc:
            self._error(404, exc.message)
        except PermissionDenied as exc:
            self._error(403, exc.message)
        except BucketfsError as exc:
            self._error(400, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _error(self, code: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Gateway:
    """The HTTP gateway over a :class:`~bucketfs.hub.buckets.mutations.Buckets`."""

    def __init__(self, buckets: Buckets, address: str, hub_key: PublicKey | None = None) -> None:
        self.buckets = buckets
        host, _, port = address.rpartition(":")
        self._server = _Server((host or "127.0.0.1", int(port)), _Handler)
        self._server.gateway = self
        self.hub_key = hub_key
        bound_host, bound_port = self._server.server_address[:2]
        host_text = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
        self.address = f"{host_text}:{bound_port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bucket-gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- routing ----------------------------------------------------------------------------

    def _who(self, query: dict[str, list[str]]) -> tuple[str, str]:
        token = (query.get("token") or [""])[0]
        if not token or self.hub_key is None:
            return "", ""
        return verify_token(token, self.hub_key).subject, token

    def handle(self, req: _Handler, *, head: bool) -> None:
        url = urllib.parse.urlsplit(req.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        query = urllib.parse.parse_qs(url.query)
        if len(parts) >= 2 and parts[0] == "ipfs":
            path = "/ipfs/" + "/".join(parts[1:])
            item = self.buckets.list_ipfs_path(path)
            self._send(
                req, head, item, lambda o, n: self.buckets.pull_ipfs_path(path, offset=o, length=n)
            )
            return
        if len(parts) >= 2 and parts[0] == "ipns":
            key, rest = parts[1], "/".join(parts[2:])
            thread = self.buckets.attrs.thread_of(key)
            if not thread:
                raise NotFound(f"no bucket with key {key}")
        elif len(parts) >= 4 and parts[0] == "thread" and parts[2] == "buckets":
            thread, key, rest = parts[1], parts[3], "/".join(parts[4:])
        else:
            raise NotFound(f"no such gateway route: {url.path}")
        who, token = self._who(query)
        ctx = Ctx(thread, who, token)
        listing = self.buckets.list_path(ctx, key, rest)
        self._send(
            req,
            head,
            listing.item,
            lambda o, n: self.buckets.pull_path(ctx, key, rest, offset=o, length=n),
        )

    def _send(
        self,
        req: _Handler,
        head: bool,
        item: Item,
        pull: Callable[[int, int], Iterator[bytes]],
    ) -> None:
        if item.is_dir:
            body = _index(item).encode()
            req.send_response(200)
            req.send_header("Content-Type", "text/html; charset=utf-8")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            if not head:
                req.wfile.write(body)
            return
        size = item.file_size
        start, end = 0, size
        status = 200
        wanted = req.headers.get("Range", "")
        match = _RANGE.match(wanted.strip()) if wanted else None
        if match and size:
            first, last = match.groups()
            if first:
                start, end = int(first), min(size, int(last) + 1 if last else size)
            elif last:
                start, end = max(0, size - int(last)), size
            if start >= end:
                raise InvalidArgument(f"unsatisfiable range {wanted!r}")
            status = 206
        req.send_response(status)
        req.send_header("Content-Type", "application/octet-stream")
        req.send_header("Content-Length", str(end - start))
        req.send_header("Accept-Ranges", "bytes")
        if status == 206:
            req.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        req.end_headers()
        if head or end == start:
            return
        for chunk in pull(start, end - start):
            req.wfile.write(chunk)


def _index(item: Item) -> str:
    rows = []
    for child in item.items:
        name = html.escape(child.name) + ("/" if child.is_dir else "")
        href = urllib.parse.quote(child.name) + ("/" if child.is_dir else "")
        rows.append(f'<li><a href="{href}">{name}</a> {child.file_size}</li>')
    title = html.escape(item.path)
    return f"<!doctype html><title>{title}</title><h1>{title}</h1><ul>{''.join(rows)}</ul>\n"
