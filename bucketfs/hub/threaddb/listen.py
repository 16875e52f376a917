"""Listen bus of the ThreadDB engine: filters, events and bounded per-listener queues.

A listener receives the actions committed after it subscribed (no initial snapshot). Each
listener has a bounded queue (``QUEUE_LIMIT`` actions). Unlike upstream, which keeps one pending
action and silently drops the rest, a listener whose queue overflows is marked broken: its next
``get`` raises :class:`ListenerOverflow`, so the server can end the stream with an error and the
client knows it must re-read state and listen again. Nothing is ever dropped silently.

Payloads are fetched when an event is handed out (``get``), so they show the instance's current
state at send time, as upstream does. An instance deleted meanwhile is delivered with an empty
payload (a DELETE event follows) instead of ending the stream. An instance the collection's
read filter hides from the listener is not delivered at all (upstream ends the stream with
``instance not found``); its DELETE still is, as upstream.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bucketfs.errors import BucketfsError, NotFound

QUEUE_LIMIT = 10_000

# filter enum (ListenRequest.Filter.Action)
FILTER_ALL, FILTER_CREATE, FILTER_SAVE, FILTER_DELETE = 0, 1, 2, 3
# reply enum (ListenReply.Action) — numbered differently from the filter enum
ACTION_CREATE, ACTION_SAVE, ACTION_DELETE = 0, 1, 2
_FILTER_OF_ACTION = {
    ACTION_CREATE: FILTER_CREATE,
    ACTION_SAVE: FILTER_SAVE,
    ACTION_DELETE: FILTER_DELETE,
}


class ListenerOverflow(BucketfsError):
    """The listener fell too far behind; re-read state and listen again."""

    temporary = True

    def __init__(self, message: str = "", *, wire_code: str | None = "ABORTED") -> None:
        super().__init__(message, wire_code=wire_code)


@dataclass(frozen=True)
class ListenFilter:
    """One OR-ed filter; empty collection / instance id and action ALL (0) match anything."""

    collection: str = ""
    instance_id: str = ""
    action: int = FILTER_ALL


@dataclass(frozen=True)
class ListenEvent:
    """One delivered action; ``action`` uses the reply enum (CREATE=0 SAVE=1 DELETE=2)."""

    collection: str
    instance_id: str
    action: int
    instance: bytes


@dataclass(frozen=True)
class Action:
    """A committed change, as published on the bus (payload fetched later)."""

    collection: str
    instance_id: str
    action: int


def matches(filters: Sequence[ListenFilter], action: Action) -> bool:
    """Whether ``action`` passes ``filters`` (OR of filters, AND inside one; none = all)."""
    if not filters:
        return True
    for f in filters:
        if f.collection and f.collection != action.collection:
            continue
        if f.instance_id and f.instance_id != action.instance_id:
            continue
        if f.action not in (FILTER_ALL, _FILTER_OF_ACTION[action.action]):
            continue
        return True
    return False


class Hidden:
    """What a fetch returns for an instance the read filter hides from this listener."""


HIDDEN = Hidden()
Fetch = Callable[[str, str], bytes | Hidden | None]


class Listener:
    """A subscription to one database's committed actions. Thread-safe."""

    def __init__(
        self,
        filters: Sequence[ListenFilter],
        fetch: Fetch,
        on_close: Callable[[Listener], None],
        limit: int = QUEUE_LIMIT,
    ) -> None:
        self._filters = tuple(filters)
        self._fetch = fetch
        self._on_close = on_close
        self._limit = limit
        self._queue: collections.deque[Action] = collections.deque()
        self._cond = threading.Condition()
        self._error: BucketfsError | None = None
        self._closed = False

    def _publish(self, actions: Sequence[Action]) -> None:
        with self._cond:
            if self._closed or self._error is not None:
                return
            wanted = [a for a in actions if matches(self._filters, a)]
            if not wanted:
                return
            if len(self._queue) + len(wanted) > self._limit:
                self._queue.clear()
                self._error = ListenerOverflow(
                    f"listener overflow: more than {self._limit} pending events; "
                    "re-read state and listen again"
                )
            else:
                self._queue.extend(wanted)
            self._cond.notify_all()

    def _fail(self, error: BucketfsError) -> None:
        with self._cond:
            if self._error is None:
                self._error = error
            self._queue.clear()
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> ListenEvent | None:
        """Next event, or None after ``timeout`` seconds (None = wait forever).

        Raises ListenerOverflow if events were lost, NotFound("db not found") if the database
        was deleted, and returns None at once after ``close``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            action = self._next(deadline)
            if action is None:
                return None
            payload: bytes | Hidden | None = b""
            if action.action != ACTION_DELETE:
                payload = self._fetch(action.collection, action.instance_id)
            if isinstance(payload, Hidden):
                continue
            return ListenEvent(action.collection, action.instance_id, action.action, payload or b"")

    def _next(self, deadline: float | None) -> Action | None:
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                if self._closed:
                    return None
                if self._queue:
                    return self._queue.popleft()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        """Unsubscribe; wakes a blocked ``get``, which returns None."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._on_close(self)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    """Routes committed actions of each database to its listeners."""

    def __init__(self, queue_limit: int = QUEUE_LIMIT) -> None:
        self._queue_limit = queue_limit
        self._lock = threading.Lock()
        self._listeners: dict[bytes, set[Listener]] = {}

    def subscribe(self, db_id: bytes, filters: Sequence[ListenFilter], fetch: Fetch) -> Listener:
        listener = Listener(filters, fetch, lambda lst: self._remove(db_id, lst), self._queue_limit)
        with self._lock:
            self._listeners.setdefault(db_id, set()).add(listener)
        return listener

    def _remove(self, db_id: bytes, listener: Listener) -> None:
        with self._lock:
            group = self._listeners.get(db_id)
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[db_id]

    def publish(self, db_id: bytes, actions: Sequence[Action]) -> None:
        if not actions:
            return
        with self._lock:
            targets = list(self._listeners.get(db_id, ()))
        for listener in targets:
            listener._publish(actions)

    def drop_db(self, db_id: bytes) -> None:
        """End every listener of a deleted database with NotFound."""
        with self._lock:
            targets = list(self._listeners.pop(db_id, ()))
        for listener in targets:
            listener._fail(NotFound("db not found"))
