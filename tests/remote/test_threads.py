"""ThreadsClient and UsersClient against a real hub subprocess: every method, the error
classes callers rely on, paging, and Listen (including cancellation)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from bucketfs import errors
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.remote.types import ListenAction, ListenFilter

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"_id": {"type": "string"}, "title": {"type": "string"}, "n": {"type": "number"}},
    "required": ["title"],
}


def run_with_session(config: HubConfig, body) -> Any:  # type: ignore[no-untyped-def]
    async def main() -> Any:
        async with await HubSession.connect(config) as session:
            return await body(session)

    return trio.run(main)


def test_databases_and_users(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession) -> None:
        db = await s.threads.new_db("remote-dbs")
        info = await s.threads.get_db_info(db)
        assert info["id"] == db and info["name"] == "remote-dbs" and info["key"].startswith("b")
        assert await s.users.get_thread("remote-dbs") == (db, "remote-dbs")
        assert (db, "remote-dbs", True) in await s.users.list_threads()
        assert await s.users.get_thread("no-such-thread") is None
        await s.threads.delete_db(db)
        assert await s.users.get_thread("remote-dbs") is None
        with pytest.raises(errors.NotFound):
            await s.threads.get_db_info(db)
        with pytest.raises(errors.InvalidArgument):
            await s.threads.get_db_info("not a thread id")

    run_with_session(account_config, body)


def test_collections(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession) -> None:
        db = await s.threads.new_db()
        await s.threads.new_collection(db, "todo", SCHEMA, indexes=[("title", False)])
        with pytest.raises(errors.AlreadyExists):
            await s.threads.new_collection(db, "todo", SCHEMA)
        info = await s.threads.get_collection(db, "todo")
        assert info["name"] == "todo"
        assert info["schema"]["properties"]["title"] == {"type": "string"}
        assert info["indexes"] == [{"path": "title", "unique": False}]
        wider = {**SCHEMA, "required": []}
        await s.threads.update_collection(db, "todo", wider)
        names = [c["name"] for c in await s.threads.list_collections(db)]
        assert names == ["todo"]
        assert (await s.threads.get_collection(db, "todo"))["schema"].get("required") in ([], None)
        await s.threads.delete_collection(db, "todo")
        assert await s.threads.list_collections(db) == []
        with pytest.raises(errors.NotFound):
            await s.threads.get_collection(db, "todo")
        await s.threads.delete_db(db)

    run_with_session(account_config, body)


def test_instances(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession) -> None:
        db = await s.threads.new_db()
        await s.threads.new_collection(db, "todo", SCHEMA)
        ids = await s.threads.create(
            db, "todo", [{"title": "milk", "n": 1}, {"_id": "mine", "title": "eggs"}]
        )
        assert len(ids) == 2 and ids[1] == "mine"
        with pytest.raises(errors.AlreadyExists):
            await s.threads.create(db, "todo", [{"_id": "mine", "title": "again"}])
        with pytest.raises(errors.InvalidArgument):
            await s.threads.create(db, "todo", [{"n": 3}])  # title is required
        assert await s.threads.has(db, "todo", ids)
        assert not await s.threads.has(db, "todo", [*ids, "absent"])
        got = await s.threads.find_by_id(db, "todo", "mine")
        assert got["title"] == "eggs" and got["_id"] == "mine"
        await s.threads.save(db, "todo", [{"_id": "mine", "title": "bread"}])
        assert (await s.threads.find_by_id(db, "todo", "mine"))["title"] == "bread"
        query = {"ands": [{"fieldPath": "title", "operation": 0, "value": {"string": "milk"}}]}
        found = await s.threads.find(db, "todo", query)
        assert [i["_id"] for i in found] == [ids[0]]
        await s.threads.delete(db, "todo", ["mine"])
        with pytest.raises(errors.NotFound):
            await s.threads.find_by_id(db, "todo", "mine")
        await s.threads.delete(db, "todo", ["mine"])  # deleting a missing ID is not an error
        await s.threads.delete_db(db)

    run_with_session(account_config, body)


def test_find_all_pages(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession) -> None:
        db = await s.threads.new_db()
        await s.threads.new_collection(db, "todo", SCHEMA)
        wanted = [f"id{i:02d}" for i in range(7)]
        await s.threads.create(db, "todo", [{"_id": i, "title": i} for i in reversed(wanted)])
        got = [i["_id"] async for i in s.threads.find_all(db, "todo", page_size=3)]
        assert got == wanted, got
        assert [i["_id"] async for i in s.threads.find_all(db, "todo", page_size=7)] == wanted
        assert [i async for i in s.threads.find_all(db, "todo", page_size=100)][-1]["_id"] == "id06"
        await s.threads.delete_db(db)

    run_with_session(account_config, body)


def test_listen_events_and_cancel(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession) -> None:
        db = await s.threads.new_db()
        await s.threads.new_collection(db, "todo", SCHEMA)
        await s.threads.new_collection(db, "other", SCHEMA)
        events = []
        stream = s.threads.listen(db, [ListenFilter(collection="todo"), {"collection": "todo"}])
        async with trio.open_nursery() as nursery:

            async def collect() -> None:
                async with stream:
                    async for event in stream:
                        events.append(event)
                        if len(events) == 3:
                            return

            nursery.start_soon(collect)
            await trio.sleep(0.3)  # Listen has no snapshot: subscribe before writing
            await s.threads.create(db, "other", [{"_id": "x", "title": "ignored"}])
            await s.threads.create(db, "todo", [{"_id": "a", "title": "one"}])
            await s.threads.save(db, "todo", [{"_id": "a", "title": "two"}])
            await s.threads.delete(db, "todo", ["a"])
            with trio.fail_after(10):
                while len(events) < 3:
                    await trio.sleep(0.05)
        assert [(e.collection, e.instance_id, e.action) for e in events] == [
            ("todo", "a", ListenAction.CREATE),
            ("todo", "a", ListenAction.SAVE),
            ("todo", "a", ListenAction.DELETE),
        ]
        assert events[0].instance is not None and events[2].instance is None

        # A cancelled listener ends its call and frees its worker thread.
        limiter = s.rpc.bridge.listen_limiter
        with trio.move_on_after(0.5) as scope:
            async for _ in s.threads.listen(db):
                pass
        assert scope.cancelled_caught
        with trio.fail_after(5):
            while limiter.borrowed_tokens:
                await trio.sleep(0.02)
        await s.threads.delete_db(db)

    run_with_session(account_config, body)
