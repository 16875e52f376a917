"""What this mount knows of each bucket's root, and which content it stored itself.

``BucketLedger`` is the one owner of the bucket roots the mount sends as the fast-forward check
(``root``) of its changes: every other part asks it (``root``) and tells it (``learn`` for what
the hub said, ``stored`` for what a change of ours produced, ``forget`` when nothing is known).

It also remembers, per path, the CIDs of the content this mount stored there (the last few per
path, for the most recent paths). That is the conflict rule's memory: when the hub refuses a
change because the bucket moved on, the path's current CID is compared with the content the
change started from *and* with what this mount stored there itself. Content of our own is never
another client's change, whatever our caches believed when the handle was opened (a listing
fetched before our last push finished, an upload made just before a crash). Only a CID that
neither the change started from nor this mount stored means someone else changed the file; then
ours is written beside it (``conflict_name``).

All of it runs in the mount's trio thread; no lock is needed.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque

#: paths whose stored CIDs are remembered (the least recently stored are forgotten first)
MAX_PATHS = 100_000
#: CIDs remembered per path
PER_PATH = 4


def conflict_name(path: str) -> str:
    """Where our version of ``path`` goes when someone else changed it meanwhile."""
    return f"{path}.conflict-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"


class BucketLedger:
    """Bucket key → root last known here; (key, path) → CIDs this mount stored there."""

    def __init__(self) -> None:
        self._roots: dict[str, str] = {}
        self._stored: OrderedDict[tuple[str, str], deque[str]] = OrderedDict()

    # -- roots ----------------------------------------------------------------------------

    def root(self, key: str) -> str | None:
        """The root our caches of the bucket are consistent with (None: unknown)."""
        return self._roots.get(key)

    def learn(self, key: str, root: str) -> None:
        """The hub said the bucket is at ``root`` (a Root call, a listing, an unchecked change)."""
        self._roots[key] = root

    def learn_if_unknown(self, key: str, root: str) -> None:
        self._roots.setdefault(key, root)

    def forget(self, key: str) -> None:
        self._roots.pop(key, None)

    # -- content of our own ----------------------------------------------------------------

    def stored(self, key: str, path: str, cid: str, root: str = "") -> None:
        """A change of ours stored ``cid`` at ``path`` (and left the bucket at ``root``)."""
        if root:
            self._roots[key] = root
        if not cid:
            return
        pk = (key, path)
        cids = self._stored.pop(pk, None)
        if cids is None:
            cids = deque(maxlen=PER_PATH)
            while len(self._stored) >= MAX_PATHS:
                self._stored.popitem(last=False)
        if cid not in cids:
            cids.append(cid)
        self._stored[pk] = cids

    def is_ours(self, key: str, path: str, cid: str) -> bool:
        """Whether this mount stored ``cid`` at ``path`` itself (recently)."""
        cids = self._stored.get((key, path))
        return bool(cid) and cids is not None and cid in cids

    def older(self, key: str, path: str, cid: str, than: str) -> bool:
        """Whether ``cid`` is content this mount stored at ``path`` before ``than``, which it
        stored later: a listing that shows ``cid`` was fetched before our newer change."""
        cids = self._stored.get((key, path))
        if cids is None or cid == than or cid not in cids or than not in cids:
            return False
        return list(cids).index(cid) < list(cids).index(than)

    def moved(self, key: str, src: str, dst: str) -> None:
        """Our rename of ``src`` to ``dst``: what we stored there moves along."""
        for k, path in [pk for pk in self._stored if pk[0] == key]:
            if path == src or path.startswith(src + "/"):
                self._stored[(k, dst + path[len(src) :])] = self._stored.pop((k, path))
