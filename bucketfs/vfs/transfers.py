"""Uploads in progress, for ``bucketfs status``: per file, bytes sent of how many, the rate, how
long it waited before it started, and the last error.

``Transfers`` is the one owner of that state: the synchronous push and the write-back uploader
``begin`` a transfer, send its bytes through ``counted`` and ``end`` it (with the error, if
any). Finished transfers leave at once; failed ones are kept (the last ``KEEP_FAILED``) so that
``status`` can say why a file is still waiting. Downloads are reported by the fetcher
(``Fetcher.downloads``), which owns them. All of it runs in the mount's trio thread.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

KEEP_FAILED = 20


@dataclass
class Transfer:
    path: str
    total: int
    waited: float  # seconds from the close (or queueing) to the start of the upload
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    error: str = ""
    ended: float = 0.0

    def info(self, now: float) -> dict[str, object]:
        running = max((self.ended or now) - self.started, 1e-9)
        return {
            "path": self.path,
            "done": self.done,
            "total": self.total,
            "rate": round(self.done / running),  # bytes per second since it started
            "waited_s": round(self.waited, 3),
            "running_s": round(running, 3),
            "last_error": self.error,
        }


class Transfers:
    """The uploads in progress (see the module docstring)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._active: dict[int, Transfer] = {}
        self._failed: deque[Transfer] = deque(maxlen=KEEP_FAILED)

    def begin(self, path: str, total: int, queued_at: float | None = None) -> int:
        """A new upload of ``total`` bytes; ``queued_at`` (``time.time()``) is when the file was
        closed or queued, if it waited."""
        waited = max(0.0, time.time() - queued_at) if queued_at else 0.0
        tid = next(self._ids)
        self._active[tid] = Transfer(path, total, waited)
        return tid

    async def counted(self, tid: int, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """``chunks``, counted as they are sent."""
        async for chunk in chunks:
            t = self._active.get(tid)
            if t is not None:
                t.done += len(chunk)
            yield chunk

    def end(self, tid: int, error: BaseException | None = None) -> None:
        t = self._active.pop(tid, None)
        if t is not None and error is not None:
            t.error, t.ended = f"{type(error).__name__}: {error}", time.monotonic()
            self._failed.append(t)

    @contextlib.contextmanager
    def uploading(self, files: Sequence[tuple[str, int, float | None]]) -> Iterator[list[int]]:
        """``begin`` each (path, total, queued_at), ``end`` them all when the block is left
        (with its error, if it raised)."""
        tids = [self.begin(*f) for f in files]
        try:
            yield tids
        except BaseException as exc:
            for tid in tids:
                self.end(tid, exc)
            raise
        for tid in tids:
            self.end(tid)

    def status(self) -> dict[str, list[dict[str, object]]]:
        now = time.monotonic()
        return {
            "uploads": [t.info(now) for t in self._active.values()],
            "failed_uploads": [t.info(now) for t in self._failed],
        }
