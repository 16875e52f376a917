"""Group commit: one durability barrier shared by every change that waits for it at once.

A barrier (``syncfs``, ``fsync`` of a log) costs milliseconds whether it covers one change or a
hundred. :class:`GroupBarrier` lets many threads share it without weakening what each is
promised: :meth:`GroupBarrier.sync` returns only after a barrier that **started after the call
began** has completed, so it covers everything the caller wrote before calling. While one
barrier runs, the callers that arrive wait together and the first of them runs the next barrier
for all of them (the classic leader/follower group commit).

A barrier that fails fails every caller it would have covered (an fsync error is never retried
into a false success: the kernel may have dropped the dirty pages already).

Items: a caller may hand over what the barrier must cover (e.g. the paths to fsync when the
store cannot sync the whole filesystem); the barrier callable receives every item of its group.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

#: failures remembered for callers still waiting on them (barriers are numbered, oldest dropped)
_KEEP_ERRORS = 64


class GroupBarrier(Generic[T]):
    """Run ``barrier(items)`` once for each group of concurrent :meth:`sync` calls."""

    def __init__(self, barrier: Callable[[list[T]], None]) -> None:
        self._barrier = barrier
        self._cond = threading.Condition()
        self._started = 0  # barriers started (the number of the last one)
        self._completed = 0  # the number of the last barrier that completed
        self._running = False
        self._pending: list[T] = []
        self._errors: dict[int, BaseException] = {}

    @property
    def barriers(self) -> int:
        """Barriers run so far."""
        return self._completed

    def sync(self, items: Iterable[T] = ()) -> None:
        """Return once a barrier that started after this call began (and covers ``items``) has
        completed; raise what that barrier raised."""
        with self._cond:
            self._pending.extend(items)
            target = self._started + 1  # the next barrier to start is the first to cover us
            while self._completed < target:
                if self._running:
                    self._cond.wait()
                    continue
                self._lead()
            error = self._errors.get(target)
        if error is not None:
            raise OSError(f"durability barrier failed: {error}") from error

    def _lead(self) -> None:
        """Run one barrier for everything pending (called with the condition held)."""
        self._running = True
        self._started += 1
        number = self._started
        items, self._pending = self._pending, []
        self._cond.release()
        error: BaseException | None = None
        try:
            self._barrier(items)
        except BaseException as exc:
            error = exc
        finally:
            self._cond.acquire()
        if error is not None:
            self._errors[number] = error
            for old in [n for n in self._errors if n <= number - _KEEP_ERRORS]:
                del self._errors[old]
        self._completed = number
        self._running = False
        self._cond.notify_all()
