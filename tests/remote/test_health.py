"""The hub-down state of a session (remote/health.py) against a real hub process that stops
answering (SIGSTOP) or dies (SIGKILL): the first call fails within the call budget with the
error docs/SEMANTICS.md names, later calls fail at once, a stream is not left hanging, and the
background probe marks the hub up again once it is back, without any call and without a new
session. Durations are printed (``-s``) and only bounded generously."""

from __future__ import annotations

import os
import signal
import time

import pytest
import trio

from bucketfs import errors
from bucketfs.remote.health import QUIET
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess

SCHEMA = {"type": "object", "properties": {"_id": {"type": "string"}}}
BOUND = 12.0  # seconds: the call budget (8 s) and generous slack


async def timed_failure(call: object, cls: type[errors.BucketfsError], match: str) -> float:
    start = time.monotonic()
    with pytest.raises(cls, match=match):
        await call  # type: ignore[misc]
    return time.monotonic() - start


async def drain(session: HubSession, db: str) -> list[object]:
    return [i async for i in session.threads.find_all(db, "c")]


@pytest.mark.parametrize("outage", ["stopped", "killed"])
def test_hub_down_state(outage: str) -> None:
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        config = HubConfig(hub.address, key, secret, None)
        cls = errors.TimedOut if outage == "stopped" else errors.HubUnreachable

        def down() -> int:
            assert hub.proc is not None
            pid = hub.proc.pid
            if outage == "stopped":
                os.kill(pid, signal.SIGSTOP)
            else:
                hub.kill()
            return pid

        def up(pid: int) -> None:
            if outage == "stopped":
                os.kill(pid, signal.SIGCONT)
            else:
                hub.start()

        async def main() -> None:
            async with await HubSession.connect(config) as s:
                db = await s.threads.new_db()
                await s.threads.new_collection(db, "c", SCHEMA)
                await s.threads.create(db, "c", [{"_id": "i0"}])
                pid = down()
                try:
                    first = await timed_failure(s.threads.get_db_info(db), cls, hub.address)
                    again = await timed_failure(s.threads.get_db_info(db), cls, "is unreachable")
                    write = await timed_failure(s.threads.new_db(), cls, "is unreachable")
                    print(f"\n{outage}: first {first:.2f} s, then {again:.3f} s, {write:.3f} s")
                    assert first < BOUND and again < BOUND and write < BOUND
                    assert s.rpc.health.down and s.rpc.health.outages == 1
                finally:
                    await trio.to_thread.run_sync(up, pid)
                start = time.monotonic()
                with trio.fail_after(30):  # the probe notices, no call needed
                    while s.rpc.health.down:
                        await trio.sleep(0.05)
                print(f"  up again {time.monotonic() - start:.2f} s after the hub was back")
                assert (await s.threads.get_db_info(db))["id"] == db
                assert [d["_id"] for d in await drain(s, db)] == ["i0"]  # type: ignore[index]
                await trio.sleep(QUIET + 0.5)  # nothing heard for a while: streams check first
                pid = down()
                try:
                    took = await timed_failure(drain(s, db), cls, hub.address)
                    print(f"  a stream opened on the {outage} hub failed after {took:.2f} s")
                    assert took < BOUND
                finally:
                    await trio.to_thread.run_sync(up, pid)

        trio.run(main)
