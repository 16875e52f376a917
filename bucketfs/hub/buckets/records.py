"""Bucket instances in ThreadDB (WIRE §4.4): the ``buckets`` collection of the thread DB named by
the ``x-textile-thread`` header, created on first use.

Every bucket state change is one ``Engine.save`` (one metadata transaction): the bucket logic
stores all new blocks durably first and then saves the instance carrying the new root path.
"""

from __future__ import annotations

import contextlib
import json

from bucketfs.auth.threadid import ThreadID
from bucketfs.errors import AlreadyExists, InvalidArgument, NotFound
from bucketfs.hub.threaddb import CollectionConfig, Engine, IndexConfig

from .model import COLLECTION, SCHEMA, Bucket

CONFIG = CollectionConfig(
    name=COLLECTION,
    schema=json.dumps(SCHEMA).encode(),
    indexes=(IndexConfig("path"),),
)


def db_id(thread: str) -> bytes:
    """The thread DB id bytes of an ``x-textile-thread`` header value."""
    if not thread:
        raise InvalidArgument("db required", wire_code="UNKNOWN")
    try:
        return ThreadID.from_string(thread).bytes
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid thread id {thread!r}: {exc.message}") from exc


class BucketRecords:
    """Read and write bucket instances through the ThreadDB engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _ensure_collection(self, db: bytes) -> None:
        try:
            self.engine.get_collection(db, COLLECTION)
            return
        except NotFound as exc:
            if exc.message != "collection not found":
                raise
        with contextlib.suppress(AlreadyExists):  # created concurrently
            self.engine.new_collection(db, CONFIG)

    def get(self, thread: str, key: str) -> Bucket:
        db = db_id(thread)
        self._ensure_collection(db)
        if not key:
            raise NotFound("instance not found", wire_code="UNKNOWN")
        return Bucket.from_json(self.engine.find_by_id(db, COLLECTION, key), thread)

    def list(self, thread: str) -> list[Bucket]:
        db = db_id(thread)
        self._ensure_collection(db)
        rows = self.engine.find(db, COLLECTION, b"{}")
        return [Bucket.from_json(row, thread) for row in rows]

    def create(self, bucket: Bucket, writer: str) -> None:
        db = db_id(bucket.thread)
        self._ensure_collection(db)
        self.engine.create(db, COLLECTION, [bucket.to_json()], writer=writer)

    def save(self, bucket: Bucket, writer: str) -> None:
        """Save a bucket built by the bucket logic: valid by construction (``Bucket.to_json``,
        checked against the schema by the tests), so the per-save schema check, whose cost grows
        with the bucket's metadata entries, is skipped."""
        self.engine.save(
            db_id(bucket.thread), COLLECTION, [bucket.to_json()], writer=writer, validate=False
        )

    def delete(self, bucket: Bucket, writer: str) -> None:
        self.engine.delete(db_id(bucket.thread), COLLECTION, [bucket.key], writer=writer)
