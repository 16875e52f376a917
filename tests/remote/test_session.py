"""HubSession against real hub subprocesses: connection checks, fresh API signatures, GetToken
and the token cache, refresh of a rejected token, an unreachable or restarted hub."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
import trio

from bucketfs import errors
from bucketfs.auth.identity import Identity
from bucketfs.auth.tokencache import TokenCache
from bucketfs.hub.accounts import IDENTITY_FILE
from bucketfs.proto import usersd_pb2
from bucketfs.remote.retry import RetryPolicy
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess, free_tcp_port

LIST_THREADS = "/api.usersd.pb.APIService/ListThreads"


def test_connect_rejects_bad_credentials(hub, account_key) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        with pytest.raises(errors.NotFound, match=f"cannot use hub {hub.address}"):
            await HubSession.connect(HubConfig(hub.address, "bunknownkey", account_key[1], None))
        with pytest.raises(errors.Unauthenticated):
            await HubSession.connect(HubConfig(hub.address, account_key[0], None, None))
        wrong = "b" + "a" * 39  # a well-formed secret that is not the key's
        with pytest.raises(errors.Unauthenticated):
            await HubSession.connect(HubConfig(hub.address, account_key[0], wrong, None))

    trio.run(main)


def test_signatures_are_fresh_per_call(hub, account_key) -> None:  # type: ignore[no-untyped-def]
    """With a 1 s signature lifetime, a signature made at connect time has expired 1.5 s later
    (the hub refuses it), yet the session keeps working because each call signs afresh."""
    config = HubConfig(
        hub.address, account_key[0], account_key[1], None, signature_ttl=timedelta(seconds=1)
    )

    async def main() -> None:
        async with await HubSession.connect(config) as session:
            stale = tuple(session.rpc.api_metadata())
            thread = await session.threads.new_db()
            bucket = await session.buckets.create(thread, "fresh")
            await trio.sleep(1.5)
            assert isinstance(await session.users.list_threads(), list)

            async def one_chunk() -> AsyncIterator[bytes]:
                yield b"still signed"

            await session.buckets.push_path(thread, bucket.key, "f", one_chunk())  # streams too
            pulled = [c async for c in session.buckets.pull_path(thread, bucket.key, "f")]
            assert pulled == [b"still signed"]
            with pytest.raises(grpc.RpcError) as info:
                await session.rpc.bridge.unary(
                    LIST_THREADS,
                    usersd_pb2.ListThreadsRequest(),
                    usersd_pb2.ListThreadsResponse,
                    metadata=stale,
                    timeout=5,
                )
            assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED

    trio.run(main)


def test_token_cached_across_sessions(hub, user_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    identity = Identity.generate()
    cache = TokenCache(tmp_path / "tokens.json")
    config = HubConfig(hub.address, user_key[0], user_key[1], identity, cache)

    async def main() -> None:
        async with await HubSession.connect(config) as first:
            assert first.rpc.tokens.fetches == 1
            db = await first.threads.new_db("mine")
        token = cache.get(hub.address, user_key[0], identity.public_key)
        assert token
        stamp = (tmp_path / "tokens.json").stat().st_mtime_ns
        async with await HubSession.connect(config) as second:
            assert second.rpc.tokens.fetches == 0  # no GetToken: the cached token was used
            assert await second.users.get_thread("mine") == (db, "mine")  # same identity
        assert (tmp_path / "tokens.json").stat().st_mtime_ns == stamp
        assert cache.get(hub.address, user_key[0], identity.public_key) == token
        # Another identity with the same key sees none of it.
        other = HubConfig(hub.address, user_key[0], user_key[1], Identity.generate(), cache)
        async with await HubSession.connect(other) as third:
            assert third.rpc.tokens.fetches == 1
            assert await third.users.get_thread("mine") is None

    trio.run(main)


def test_rejected_token_is_refreshed(tmp_path: Path) -> None:
    """The hub restarts with a new host identity, so the tokens it issued before no longer
    verify: an open session and a new session with the cached token both get a fresh token
    transparently (one GetToken each) and carry on."""
    identity = Identity.generate()
    cache = TokenCache(tmp_path / "tokens.json")
    with HubProcess() as hub:
        key = hub.create_key(type="user")
        config = HubConfig(hub.address, key[0], key[1], identity, cache)

        def restart_with_new_identity() -> None:
            hub.stop()
            (hub.data_dir / IDENTITY_FILE).unlink()
            hub.start()

        async def main() -> None:
            async with await HubSession.connect(config) as session:
                db = await session.threads.new_db("kept")
                old = cache.get(hub.address, key[0], identity.public_key)
                await trio.to_thread.run_sync(restart_with_new_identity)
                with trio.fail_after(10):
                    while True:  # the channel reconnects after its backoff
                        try:
                            assert await session.users.get_thread("kept") == (db, "kept")
                            break
                        except errors.Unavailable:
                            await trio.sleep(0.1)
                assert session.rpc.tokens.fetches == 2  # connect, then one refresh
                fresh = cache.get(hub.address, key[0], identity.public_key)
                assert old and fresh and fresh != old
            cache.put(hub.address, key[0], identity.public_key, old)  # a stale cached token
            async with await HubSession.connect(config) as again:
                assert again.rpc.tokens.fetches == 1  # cached token tried, rejected, refreshed
                assert (await again.threads.get_db_info(db))["id"] == db
                assert cache.get(hub.address, key[0], identity.public_key) not in (None, old)

        trio.run(main)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_unreachable_hub_fails_within_bound(transport: str, tmp_path: Path) -> None:
    if transport == "tcp":
        address = f"127.0.0.1:{free_tcp_port()}"  # nothing listens there
    else:
        address = f"unix:{tmp_path / 'no-hub.sock'}"
    policy = RetryPolicy(attempts=3, budget=3.0)

    async def main() -> None:
        start = time.monotonic()
        with pytest.raises(errors.Unavailable, match=address):
            await HubSession.connect(HubConfig(address, "bkey", None, None, retry=policy))
        assert time.monotonic() - start < 6

    trio.run(main)


def test_hub_down_then_restarted(account_key, hub) -> None:  # type: ignore[no-untyped-def]
    """While the hub is down, calls fail with Unavailable (naming the hub) once the retry
    budget is spent; a call made while the hub restarts within the budget simply succeeds,
    on the same session, as soon as the hub listens again."""
    config = HubConfig(
        hub.address, account_key[0], account_key[1], None, retry=RetryPolicy(budget=2.0)
    )
    patient = HubConfig(
        hub.address, account_key[0], account_key[1], None, retry=RetryPolicy(budget=20.0)
    )

    async def main() -> None:
        async with await HubSession.connect(config) as session:
            db = await session.threads.new_db()
            hub.stop()
            try:
                start = time.monotonic()
                with pytest.raises(errors.Unavailable, match=hub.address):
                    await session.threads.get_db_info(db)
                with pytest.raises(errors.Unavailable):
                    await session.threads.new_db()  # not idempotent, but never sent
                assert 1.5 < time.monotonic() - start < 8  # about twice the 2 s budget
            finally:
                await trio.to_thread.run_sync(hub.start)
        async with await HubSession.connect(patient) as session:
            hub.stop()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, hub.start)
                with trio.fail_after(15):
                    assert (await session.threads.get_db_info(db))["id"] == db
                    assert await session.threads.new_db()  # the write was not sent: retried

    trio.run(main)
