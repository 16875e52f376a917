"""Upstream hub behaviours around buckets and thread DBs, over real gRPC against a hub process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from test_buckets_api import Buckets, rpc_error

from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.proto import threads_pb2

if TYPE_CHECKING:
    from conftest import Client


def _delete_db(client: Client, db: object) -> None:
    client.threads.DeleteDB(
        threads_pb2.DeleteDBRequest(dbID=db.bytes),  # type: ignore[attr-defined]
        metadata=client.md(),
    )


def test_delete_db_holding_buckets_is_refused(alice: Client) -> None:
    """As upstream: FAILED_PRECONDITION ``DB not empty (delete buckets first)``, nothing lost;
    once the buckets are removed the DB can be deleted."""
    b = Buckets(alice)
    key = b.create("keep").root.key
    b.push(key, "f.txt", b"data")
    err = rpc_error(
        alice.threads.DeleteDB,
        threads_pb2.DeleteDBRequest(dbID=alice.db.bytes),
        metadata=alice.md(),
    )
    assert (err.code(), err.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "DB not empty (delete buckets first)",
    )
    assert b.pull(key, "f.txt") == b"data"
    b.api.Remove(pb.RemoveRequest(key=key), metadata=b.md())
    _delete_db(alice, alice.db)  # the (now empty) buckets collection does not hold it back


def test_delete_db_without_buckets(alice: Client) -> None:
    _delete_db(alice, alice.new_db())
