"""Read a blocking iterator (a gRPC request stream) in a thread, so that its consumer can tell
"nothing has arrived yet" from "the stream is still going": PushPaths applies the files completed
so far to the bucket tree, in one batch, whenever the client has nothing more queued.

The queue is bounded (``maxsize`` messages), so memory stays bounded however fast the client
sends. An exception raised by the source is re-raised to the consumer in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class Prefetch(Generic[T]):
    """``get(block=False)`` returns the next item, :data:`EMPTY` if none is ready, or raises
    :class:`StopIteration` at the end."""

    EMPTY = object()

    def __init__(self, source: Iterable[T], maxsize: int = 64) -> None:
        self._source = iter(source)
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:  # delivered to the consumer
            self._put(_Raise(exc))
            return
        self._put(_END)

    def get(self, block: bool = True) -> T | object:
        try:
            item = self._queue.get(block=block)
        except queue.Empty:
            return self.EMPTY
        if item is _END:
            self._queue.put(_END)  # stay at the end
            raise StopIteration
        if isinstance(item, _Raise):
            raise item.exc
        return item

    def close(self) -> None:
        self._stopped.set()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self.get()
            except StopIteration:
                return
            yield item  # type: ignore[misc]


class _Raise:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
