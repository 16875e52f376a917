"""The ``buckets/`` directory: which bucket each directory name stands for.

Buckets live in the thread DB named ``buckets`` (found with ``users.get_thread``, created with
``threads.new_db`` on the first ``mkdir``, as the official JS client does). Bucket names are free
text and not unique, so directory names are derived: a bucket whose name is unique, valid as a
file name and does not contain ``~`` shows as its name; among buckets sharing a name the oldest
(by creation time, then key) keeps the plain name and the others show as
``<name>~<last 8 characters of the key>``; a bucket whose name cannot be a file name (empty,
``.``, ``..``, contains ``/`` or NUL) shows as its key.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from bucketfs.errors import InvalidArgument, TimedOut, Unavailable
from bucketfs.vfs.backend import RootLike, SessionLike

LIST_TTL = 1.0
WATCHED_TTL = 30.0  # while the buckets DB's Listen stream is subscribed (its events invalidate)


def _valid(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\0" not in name


def check_bucket_name(name: str) -> None:
    """Refuse names ``mkdir`` cannot turn into a bucket showing under that same name."""
    if not _valid(name) or "~" in name or name.startswith(".") or len(name.encode()) > 255:
        raise InvalidArgument(f"{name!r} cannot be a bucket name (no '~', no leading '.')")


def dir_names(roots: Sequence[RootLike]) -> dict[str, RootLike]:
    """Directory name → bucket, by the rule in this module's docstring."""
    groups: dict[str, list[RootLike]] = {}
    for root in roots:
        groups.setdefault(root.name, []).append(root)
    out: dict[str, RootLike] = {}
    for name, members in groups.items():
        members.sort(key=lambda r: (r.created_at, r.key))
        for i, root in enumerate(members):
            if not _valid(name):
                out[root.key] = root
            elif i == 0 and "~" not in name:
                out[name] = root
            else:
                out[f"{name}~{root.key[-8:]}"] = root
    return out


class BucketIndex:
    """The buckets of one thread DB by directory name, refreshed after ``LIST_TTL`` seconds, or
    ``WATCHED_TTL`` if fetched while the DB's Listen stream was subscribed (``watch_since``)."""

    def __init__(self, session: SessionLike, thread_name: str) -> None:
        self.session = session
        self.thread_name = thread_name
        self.thread: str | None = None
        self.by_name: dict[str, RootLike] = {}
        self._fetched = -1e9
        self._started = -1e9
        self.watch_since: float | None = None
        self._listed = False  # listed once: while the hub is unreachable, by_name serves

    async def thread_id(self, create: bool) -> str | None:
        if self.thread is None:
            found = await self.session.users.get_thread(self.thread_name)
            if found is not None:
                self.thread = found[0]
            elif create:
                self.thread = await self.session.threads.new_db(self.thread_name)
        return self.thread

    def invalidate(self) -> None:
        self._fetched = -1e9

    def fresh(self) -> bool:
        since = self.watch_since
        ttl = WATCHED_TTL if since is not None and self._started >= since else LIST_TTL
        return time.monotonic() - self._fetched <= ttl

    async def names(self) -> dict[str, RootLike]:
        if not self.fresh():
            started = time.monotonic()
            try:
                thread = await self.thread_id(create=False)
                roots = await self.session.buckets.list(thread) if thread else []
            except (Unavailable, TimedOut):
                if not self._listed:
                    raise
                return self.by_name  # hub unreachable: the buckets last listed keep serving
            self.by_name = dir_names(roots)
            self._fetched, self._started = time.monotonic(), started
            self._listed = True
        return self.by_name

    def name_of(self, key: str) -> str | None:
        return next((n for n, r in self.by_name.items() if r.key == key), None)
