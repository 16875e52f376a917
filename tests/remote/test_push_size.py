"""BucketsClient.push_path with the ``size`` extension against a real hub subprocess: the exact
length is saved, a wrong one is refused with ``InvalidArgument`` and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from bucketfs import errors
from bucketfs.remote.session import HubConfig, HubSession

DATA = bytes(range(256)) * 5000  # 1.28 MB


async def chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_declared_size_is_checked(account_config: HubConfig) -> None:
    async def main() -> None:
        async with await HubSession.connect(account_config) as s:
            thread = await s.threads.new_db()
            bucket = await s.buckets.create(thread, "sized")
            await body(s, thread, bucket.key)

    async def body(s: HubSession, thread: str, key: str) -> None:
        ok = await s.buckets.push_path(thread, key, "f.bin", chunks(DATA), size=len(DATA))
        for wrong in (len(DATA) - 1, len(DATA) + 100_000):
            with pytest.raises(errors.InvalidArgument, match="nothing was saved"):
                await s.buckets.push_path(thread, key, "f.bin", chunks(b"x" * 10), size=wrong)
        assert (await s.buckets.root(thread, key)).path == ok.root.path
        whole = b"".join([c async for c in s.buckets.pull_path(thread, key, "f.bin")])
        assert whole == DATA

    trio.run(main)
