"""The Textile routes of the gateway: ``/thread/<thread>/<collection>[/<id>]``.

As upstream's gateway (textileio/textile ``gateway/threads.go``, ``buckets.go``):

* ``/thread/<t>/buckets`` — an HTML page listing the thread's buckets, each linked to its root;
  with ``?json=true`` the bucket instances as a JSON array;
* ``/thread/<t>/buckets/<key>?json=true`` — one bucket instance as JSON (without ``json`` the
  route serves the bucket's files, see the package docstring); a path after ``<key>`` with
  ``json=true`` is 404, as upstream;
* ``/thread/<t>/<collection>`` and ``/thread/<t>/<collection>/<id>`` — the collection's instances
  (JSON array) or one instance (JSON object).

Access: upstream's gateway read every collection with its own internal session, so knowing a
thread ID was enough to read all of that thread's collections (it only hid private buckets). Here
buckets follow the bucket roles of the caller (anonymous, or the subject of ``?token=``), and any
other collection needs ``?token=`` of the thread DB's owner: bucket links carry the thread ID, so
sharing a public bucket must not publish the rest of its database.
"""

from __future__ import annotations

from bucketfs.errors import InvalidArgument, NotFound, PermissionDenied
from bucketfs.hub.buckets.mutations import Buckets
from bucketfs.hub.buckets.records import db_id
from bucketfs.hub.buckets.service import Ctx
from bucketfs.hub.threaddb import Engine

from . import pages
from .serve import Call

BUCKETS = "buckets"
OWNER_ONLY = "reading this collection needs ?token= of the thread's owner"
_JSON = {"Content-Type": "application/json", "Cache-Control": "private, no-cache"}


def checked_thread(thread: str) -> str:
    """``thread`` if it is a thread ID (400 ``invalid thread ID`` otherwise, as upstream)."""
    try:
        db_id(thread)
    except InvalidArgument:
        raise InvalidArgument("invalid thread ID") from None
    return thread


def bucket_list(call: Call, buckets: Buckets, ctx: Ctx) -> None:
    body = pages.bucket_list(ctx.thread, buckets.list(ctx), ctx.token).encode()
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"}
    call.req.reply(200, headers, [body], len(body))


def _send_json(call: Call, body: bytes) -> None:
    call.req.reply(200, dict(_JSON), [body], len(body))


def instances(call: Call, engine: Engine, buckets: Buckets, ctx: Ctx, rest: list[str]) -> None:
    """``/thread/<t>/<collection>[/<id>]`` as JSON (``rest`` follows the collection name)."""
    collection = call.parts[2]
    rest = [p for p in rest if p] if rest[-1:] == [""] else rest
    if len(rest) > 1:
        raise NotFound("no such instance route")
    if collection == BUCKETS:
        if rest:
            _send_json(call, buckets.root(ctx, rest[0]).to_json())
        else:
            _send_json(call, b"[" + b",".join(b.to_json() for b in buckets.list(ctx)) + b"]")
        return
    db = db_id(ctx.thread)
    if not ctx.who or engine.get_db(db).owner != ctx.who:
        raise PermissionDenied(OWNER_ONLY)
    if rest:
        _send_json(call, engine.find_by_id(db, collection, rest[0], ctx.who))
    else:
        rows = engine.find(db, collection, b"{}", ctx.who)
        _send_json(call, b"[" + b",".join(rows) + b"]")
