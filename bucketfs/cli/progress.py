"""Progress of the uploads while ``bucketfs umount`` waits for them, and ``status --watch``.

The numbers come from the daemon's ``status`` (the write-back queue's totals: changes, files and
bytes still to upload; the open files not pushed yet; the last errors), polled on a second
control connection while the flush request runs; the rate is how fast the queue's bytes fall
between polls. On a terminal the progress is one line rewritten in place; otherwise a plain line
every few seconds. Per-file progress (bytes of each file sent of its total, rate, how long it
waited, the last error) is in ``bucketfs status`` (``transfers``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

#: seconds between two status polls while waiting
POLL = 0.5
#: seconds between two plain progress lines when not on a terminal
PLAIN_EVERY = 5.0


def size(value: object) -> str:
    if not isinstance(value, int | float):
        return "?"
    if value < 1024:
        return f"{int(value)} B"
    units = ("KiB", "MiB", "GiB", "TiB")
    scaled, index = value / 1024, 0
    while scaled >= 1024 and index < len(units) - 1:
        scaled, index = scaled / 1024, index + 1
    return f"{scaled:.1f} {units[index]}"


class Progress:
    """Renders successive daemon statuses as a progress line."""

    def __init__(self, stream: TextIO, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.start = time.monotonic()
        self._last: tuple[float, int] | None = None
        self.rate: float | None = None  # bytes/s, smoothed
        self._plain_at = 0.0
        self._shown = False

    def line(self, status: dict[str, Any], now: float) -> str:
        wb = status.get("write_back")
        if isinstance(wb, dict) and isinstance(wb.get("pending_bytes"), int):
            left = wb["pending_bytes"]
            self._measure(now, left)
            text = f"uploading: {wb.get('pending_changes')} change(s), {size(left)} left"
            if self.rate:
                text += f", {size(self.rate)}/s"
                if self.rate > 0 and left:
                    text += f", about {left / self.rate:.0f} s to go"
        else:
            text = f"uploading: {status.get('dirty_files')} file(s) not pushed yet"
        text += f", waited {now - self.start:.0f} s"
        errors = status.get("last_errors") or []
        if errors:
            text += f"; last error: {str(errors[-1])[:120]}"
        return text

    def _measure(self, now: float, left: int) -> None:
        if self._last is not None and now > self._last[0]:
            sample = max(0.0, (self._last[1] - left) / (now - self._last[0]))
            self.rate = sample if self.rate is None else 0.7 * self.rate + 0.3 * sample
        self._last = (now, left)

    def update(self, status: dict[str, Any]) -> None:
        now = time.monotonic()
        text = self.line(status, now)
        if self.tty:
            self.stream.write("\r\033[K" + "bucketfs: " + text)
        elif now - self._plain_at >= PLAIN_EVERY:
            self._plain_at = now
            self.stream.write("bucketfs: " + text + "\n")
        else:
            return
        self._shown = True
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def wait_with_progress(
    call: Callable[[], dict[str, Any]],
    poll: Callable[[], dict[str, Any]],
    progress: Progress,
) -> dict[str, Any]:
    """Run ``call`` (a blocking request) in a thread; meanwhile show ``poll()`` every POLL
    seconds. Returns what ``call`` returned, or raises what it raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="bucketfs-flush", daemon=True)
    worker.start()
    try:
        while True:
            worker.join(POLL)
            if not worker.is_alive():
                break
            try:
                progress.update(poll())
            except Exception:  # a status poll that fails only costs a progress line
                continue
    finally:
        progress.close()
    if "error" in outcome:
        raise outcome["error"]
    result: dict[str, Any] = outcome["result"]
    return result
