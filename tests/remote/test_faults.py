"""bucketfs.testing.faults: injected failures and delays on a real session's clients."""

from __future__ import annotations

import time

import pytest
import trio

from bucketfs import errors
from bucketfs.remote.session import HubSession
from bucketfs.testing.faults import FaultySession

SCHEMA = {"type": "object", "properties": {"_id": {"type": "string"}}}


def test_fail_nth_call_and_count(account_config) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with FaultySession(await HubSession.connect(account_config)) as s:
            db = await s.threads.new_db()
            rule = s.fail("threads.get_db_info", errors.Unavailable, nth=2, count=2)
            assert (await s.threads.get_db_info(db))["id"] == db  # 1st: passes
            for _ in range(2):  # 2nd and 3rd: fail
                with pytest.raises(errors.Unavailable, match="injected fault"):
                    await s.threads.get_db_info(db)
            assert (await s.threads.get_db_info(db))["id"] == db  # 4th: passes again
            assert rule.fired == 2 and s.calls["threads.get_db_info"] == 4
            s.fail("threads.*", errors.NotFound("gone"), count=None)
            with pytest.raises(errors.NotFound, match="gone"):
                await s.threads.list_collections(db)
            with pytest.raises(errors.NotFound, match="gone"):
                await s.threads.get_db_info(db)
            s.clear()
            assert await s.users.list_threads()
            assert s.address == account_config.address  # other attributes pass through

    trio.run(main)


def test_delay_and_stream_faults(account_config) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with FaultySession(await HubSession.connect(account_config)) as s:
            db = await s.threads.new_db()
            await s.threads.new_collection(db, "c", SCHEMA)
            await s.threads.create(db, "c", [{"_id": f"i{n}"} for n in range(5)])
            s.delay("threads.find", 0.3, count=1)
            start = time.monotonic()
            await s.threads.find(db, "c", {})
            assert time.monotonic() - start >= 0.3
            s.fail("threads.find_all", errors.TimedOut, after_items=2)
            got = []
            with pytest.raises(errors.TimedOut):
                async for item in s.threads.find_all(db, "c", page_size=2):
                    got.append(item["_id"])
            assert got == ["i0", "i1"]
            assert [i["_id"] async for i in s.threads.find_all(db, "c")] == [
                f"i{n}" for n in range(5)
            ]

    trio.run(main)


def test_wraps_the_fake_session() -> None:
    """The same wrapper works over bucketfs.testing.fakehub (the mount's in-memory hub)."""
    from bucketfs.testing.fakehub import FakeHub, FakeSession, seed_bucket

    hub = FakeHub()
    root = seed_bucket(hub, "b", [("f", b"x" * 100_000)])

    async def main() -> None:
        s = FaultySession(FakeSession(hub))
        s.fail("buckets.pull_path", errors.Unavailable, after_items=1)
        got = []
        with pytest.raises(errors.Unavailable):
            async for chunk in s.buckets.pull_path(root.thread, root.key, "f"):
                got.append(chunk)
        assert len(got) == 1
        data = b"".join([c async for c in s.buckets.pull_path(root.thread, root.key, "f")])
        assert data == b"x" * 100_000
        s.fail("buckets.root", errors.TimedOut)
        with pytest.raises(errors.TimedOut):
            await s.buckets.root(root.thread, root.key)
        assert (await s.buckets.root(root.thread, root.key)).key == root.key
        assert s.calls["buckets.root"] == 2
        await s.aclose()

    trio.run(main)
