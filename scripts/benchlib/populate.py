"""Putting many small files into a target quickly, by the back door (``dirs`` phase of bench).

The ``dirs`` phase measures what a *fresh* mount does with a directory of 20,000 entries and a
tree of 100,000 files, not how fast they can be created (``untar`` measures that). Creating them
through a synchronous bucketfs mount would take longer than the rest of the bench, so each
target writes them where its daemon will find them after a remount:

* a local directory and the pyfuse3 ceiling (in memory): plain ``open``/``close`` in ``workdir``;
* rclone: the directory of its local remote, below the mount;
* bucketfs: :func:`push_files`, ``PushPaths`` streams to the mount's bucket over the wire, as
  another client of the same hub would (standard Textile fields only: no modes, no mtimes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bucketfs.auth.threadid import ThreadID
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.proto import bucketsd_pb2_grpc as pb_grpc
from bucketfs.proto import usersd_pb2, usersd_pb2_grpc
from bucketfs.testing.hubproc import HubClient

#: files per PushPaths stream (the hub holds the bucket's lock for a whole stream)
BATCH = 5000


def content(path: str) -> bytes:
    """The bytes of the file at ``path`` (a few bytes, different for every file)."""
    return path.encode() + b"\n"


def write_files(root: Path, paths: Sequence[str]) -> None:
    """Create every ``root/path`` (parents included) holding :func:`content`."""
    made: set[Path] = set()
    for path in paths:
        full = root / path
        if full.parent not in made:
            full.parent.mkdir(parents=True, exist_ok=True)
            made.add(full.parent)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, content(path))
        finally:
            os.close(fd)


def _bucket_key(client: HubClient, thread: ThreadID, name: str, timeout: float) -> str:
    """The key of bucket ``name`` in ``thread`` (waits for a write-back mount to create it)."""
    api = pb_grpc.APIServiceStub(client.channel)
    deadline = time.monotonic() + timeout
    while True:
        roots = api.List(pb.ListRequest(), metadata=client.md(thread)).roots
        found = [r.key for r in roots if r.name == name]
        if found:
            return str(found[0])
        if time.monotonic() > deadline:
            raise RuntimeError(f"no bucket {name!r} in thread {thread} after {timeout:.0f} s")
        time.sleep(0.2)


def push_files(client: HubClient, thread_name: str, bucket: str, paths: Sequence[str]) -> None:
    """Push every path of ``paths`` (holding :func:`content`) into the bucket called ``bucket``
    of the thread DB called ``thread_name`` (the mount's ``--thread``)."""
    users = usersd_pb2_grpc.APIServiceStub(client.channel)
    reply = users.GetThread(usersd_pb2.GetThreadRequest(name=thread_name), metadata=client.md())
    thread = ThreadID.from_bytes(reply.id)
    key = _bucket_key(client, thread, bucket, timeout=60.0)
    api = pb_grpc.APIServiceStub(client.channel)
    for start in range(0, len(paths), BATCH):
        batch = list(paths[start : start + BATCH])
        for _ in api.PushPaths(_requests(key, batch), metadata=client.md(thread)):
            pass


def _requests(key: str, paths: list[str]) -> Iterator[Any]:
    yield pb.PushPathsRequest(header=pb.PushPathsRequest.Header(key=key, paths=paths))
    for path in paths:
        chunk = pb.PushPathsRequest.Chunk
        yield pb.PushPathsRequest(chunk=chunk(path=path, data=content(path)))
        yield pb.PushPathsRequest(chunk=chunk(path=path, data=b""))
