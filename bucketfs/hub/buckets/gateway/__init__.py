"""The HTTP gateway of the hub (WIRE §4.7; ipfs/specs path and trustless gateways), run in
threads of the hub process when it is started with ``--gateway HOST:PORT``.

Routes (GET and HEAD):

* ``/ipfs/<cid>[/path]`` — any UnixFS file or directory stored on this hub (content-addressed,
  no access control; private buckets' blocks are ciphertext), ``Cache-Control: immutable``;
  ``?format=raw|car`` or ``Accept: application/vnd.ipld.raw|car`` give trustless responses
  (``trustless.py``);
* ``/ipns/<bucket key>[/path]`` and ``/thread/<thread>/buckets/<bucket key>[/path]`` — a bucket,
  as the caller may read it (the bucket roles: anonymous callers get what ``*`` may read, a
  ``?token=<JWT>`` as ``Links`` appends for private buckets acts as the token's subject);
* ``/thread/<thread>/buckets`` — the buckets of a thread the caller may see (HTML, or the
  instances as JSON with ``?json=true``), ``/thread/<thread>/buckets/<key>?json=true`` one bucket
  instance, ``/thread/<thread>/<collection>[/<id>]`` instances of any other collection as JSON
  (``textile.py``);
* ``/health`` — 204 while the hub serves.

Files get a Content-Type by extension or sniffing, their CID as ``ETag`` (``If-None-Match`` →
304) and byte ranges (``http.py``); a directory URL without its trailing ``/`` is redirected
(301) to the one with it, which serves the directory's ``index.html`` or an HTML listing with
absolute links (``pages.py``). Errors: 404 not found, 403 permission denied, 400 bad request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import urllib.parse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bucketfs.auth.identity import PublicKey
from bucketfs.auth.token import TokenInvalid, verify_token
from bucketfs.errors import (
    BucketfsError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from bucketfs.hub.buckets.linktokens import LinkTokens
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.service import Ctx

from . import serve, textile
from .sources import BucketSource, IpfsSource

log = logging.getLogger(__name__)

__all__ = ["Gateway"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    gateway: Gateway


class Request(BaseHTTPRequestHandler):
    """One HTTP exchange; :meth:`reply` writes a complete response."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("gateway: " + format, *args)

    def do_HEAD(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    @property
    def head(self) -> bool:
        return self.command == "HEAD"

    def _serve(self) -> None:
        self._replied = False
        try:
            self.server.gateway.handle(self)
        except BucketfsError as exc:
            if self._replied:  # failed mid-body (a missing or corrupt block): cut the stream
                log.warning("gateway: %s failed while sending: %s", self.path, exc.message)
                self.close_connection = True
                return
            self._refuse(exc)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _refuse(self, exc: BucketfsError) -> None:
        """404 not found, 403 permission denied or a bad token, 400 anything else."""
        if isinstance(exc, NotFound):
            self.error(404, exc.message)
        elif isinstance(exc, PermissionDenied | Unauthenticated):
            self.error(403, exc.message)
        else:
            self.error(400, exc.message)

    def reply(
        self,
        status: int,
        headers: dict[str, str],
        body: Iterable[bytes] = (),
        length: int | None = None,
    ) -> None:
        """Send ``status``, ``headers`` (plus ``Content-Length`` when ``length`` is known) and,
        unless this is HEAD, ``body``; a body of unknown length is sent chunked."""
        self.send_response(status)
        self._replied = True
        for name, value in headers.items():
            self.send_header(name, value)
        chunked = length is None and status not in (204, 304) and not self.head
        if length is not None:
            self.send_header("Content-Length", str(length))
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.head or status in (204, 304):
            return
        for piece in body:
            if not piece:
                continue
            if chunked:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                self.wfile.write(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def error(self, code: int, text: str) -> None:
        body = (text + "\n").encode()
        headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"}
        self.reply(code, headers, [body], len(body))


class Gateway:
    """The HTTP gateway over a :class:`~bucketfs.hub.buckets.mutations.Buckets`."""

    def __init__(
        self,
        buckets: Buckets,
        address: str,
        hub_key: PublicKey | None = None,
        link_tokens: LinkTokens | None = None,
    ) -> None:
        """``hub_key`` verifies user tokens (``GetToken``), ``link_tokens`` the tokens the hub
        mints for private links (each opens one bucket)."""
        self.buckets = buckets
        host, _, port = address.rpartition(":")
        self._server = _Server((host or "127.0.0.1", int(port)), Request)
        self._server.gateway = self
        self.hub_key = hub_key
        self.link_tokens = link_tokens
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

    def who(self, token: str, bucket_key: str = "") -> str:
        """The subject of a ``?token=`` (``""`` without one): a user token of this hub, or a
        link token of ``bucket_key``; anything else is refused (403)."""
        if not token or self.hub_key is None:
            return ""
        if bucket_key and self.link_tokens is not None:
            with contextlib.suppress(TokenInvalid):
                return verify_token(token, self.link_tokens.key_for(bucket_key)).subject
        return verify_token(token, self.hub_key).subject

    def handle(self, req: Request) -> None:
        url = urllib.parse.urlsplit(req.path)
        raw_parts = url.path.split("/")[1:]
        parts = [urllib.parse.unquote(p) for p in raw_parts]
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        call = serve.Call(req, url.path, query, parts, req.head)
        if parts == ["health"]:
            req.reply(204, {"Cache-Control": "no-cache"})
            return
        head = parts[0] if parts else ""
        if head == "ipfs" and len(parts) >= 2 and parts[1]:
            serve.ipfs(call, IpfsSource(self.buckets, serve.parse_cid(parts[1])))
        elif head == "ipns" and len(parts) >= 2 and parts[1]:
            self._bucket(call, "", parts[1], 2)
        elif head == "thread" and len(parts) >= 3 and parts[1] and parts[2]:
            self._thread_route(call, parts)
        else:
            raise NotFound(f"no such gateway route: {url.path}")

    def _thread_route(self, call: serve.Call, parts: list[str]) -> None:
        thread, collection = parts[1], parts[2]
        rest = parts[3:]
        token = call.query.get("token", "")
        scope = rest[0] if collection == textile.BUCKETS and rest else ""
        ctx = Ctx(textile.checked_thread(thread), self.who(token, scope), token)
        as_json = call.query.get("json") == "true"
        if collection == textile.BUCKETS and not as_json:
            if not rest or rest == [""]:
                textile.bucket_list(call, self.buckets, ctx)
            else:
                self._bucket(call, thread, rest[0], 4)
            return
        textile.instances(call, self.buckets.records.engine, self.buckets, ctx, rest)

    def _bucket(self, call: serve.Call, thread: str, key: str, depth: int) -> None:
        """Serve bucket ``key`` (thread found by key when ``thread`` is empty); the bucket path
        is what follows the first ``depth`` segments of the URL."""
        if not thread:
            thread = self.buckets.attrs.thread_of(key)
            if not thread:
                raise NotFound(f"no bucket with key {key}")
        token = call.query.get("token", "")
        source = BucketSource(self.buckets, Ctx(thread, self.who(token, key), token), key)
        serve.content(call, source, depth)
