"""What this mount knows of each bucket's root, and which content it stored itself.

``BucketLedger`` is the one owner of the bucket roots the mount sends as the fast-forward check
(``root``) of its changes: every other part asks it (``root``) and tells it (``learn`` for what
the hub said, ``stored`` for what a change of ours produced, ``forget`` when nothing is known).

It also remembers, per path, the CIDs of the content this mount stored there (the last few per
path, for the most recent paths), in order: a listing fetched before our newer change finished
shows an older CID of ours, and ``older`` lets the vfs refuse to take the node back to it (the
next read would return stale bytes, a read-modify-write would drop our change). The conflict
rule itself compares a path's CID with what the change started from (``WriteOps.path_checked``);
``conflict_name`` is where our version goes when someone else changed it.

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

    def older(self, key: str, path: str, cid: str, than: str) -> bool:
        """Whether ``cid`` is content this mount stored at ``path`` before ``than``, which it
        stored later: a listing that shows ``cid`` was fetched before our newer change."""
        cids = self._stored.get((key, path))
        if cids is None or cid == than or cid not in cids or than not in cids:
            return False
        return list(cids).index(cid) < list(cids).index(than)

    def moved(self, key: str, src: str, dst: str, is_dir: bool) -> None:
        """Our rename of ``src`` to ``dst``: what we stored there moves along (a directory's
        paths below it too: a scan, rare; a file's is one entry)."""
        if not is_dir:
            cids = self._stored.pop((key, src), None)
            if cids is not None:
                self._stored[(key, dst)] = cids
            return
        for k, path in [pk for pk in self._stored if pk[0] == key]:
            if path == src or path.startswith(src + "/"):
                self._stored[(k, dst + path[len(src) :])] = self._stored.pop((k, path))
