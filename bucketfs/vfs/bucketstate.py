"""What the mount knows about each bucket's root, for validating cached listings by root.

A cached listing is valid while its bucket's *generation* is the one it was stored under.
``BucketStates.bump(key)`` starts a new generation (every cached listing of the bucket is then
stale); it happens when the hub's root turns out to differ from the root our caches are
consistent with (``BucketLedger.root(key)``, ``vfs.ledger``) for a reason other than our own changes.

Our own changes are told apart by ``TrackedApi``, a thin wrapper of the buckets client that
watches the calls that change a bucket: the roots they return are remembered per bucket (so
the ``Listen`` event carrying that root is known to be ours; each explains one event, since a
change of modes or times by another client saves the bucket with an unchanged root), calls
still running are counted (an event may arrive before its call returns), and a change made without a root check
(``set_path``, ``move_path``, ``remove_path`` without ``root=``, a refused push, ...) *taints*
the bucket: without a ``Listen`` stream, nothing then proves that no other client changed it
in between, so its next revalidation starts a new generation.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bucketfs.vfs.backend import BucketsApi

#: calls of the buckets client that change a bucket, by name → index of the key argument
MUTATING = {
    "push_path": 1,
    "push_paths": 1,
    "remove_path": 1,
    "set_path_attrs": 1,
    "symlink": 1,
    "set_path": 1,
    "move_path": 1,
    "remove": 1,
}
#: of these, the ones that send a root check when called with ``root=``
ROOT_CHECKED = {"push_path", "push_paths", "remove_path", "symlink", "set_path", "move_path"}
OWN_ROOTS = 1024  # roots remembered per bucket (events come within milliseconds)


@dataclass
class BucketState:
    gen: int = 0
    checked: float = -1e9  # monotonic time our caches were last confirmed against the hub
    tainted: bool = False  # an own change without root check since then
    busy: int = 0  # own changing calls in progress
    changes: int = 0  # own changing calls finished
    own: deque[str] = field(default_factory=lambda: deque(maxlen=OWN_ROOTS))
    held: list[str] = field(default_factory=list)  # event roots waiting for busy == 0


class BucketStates:
    """``BucketState`` per bucket key; ``on_idle(key, roots)`` gets event roots that were held
    while own calls ran and still are not ours once they all returned."""

    def __init__(self) -> None:
        self.by_key: dict[str, BucketState] = {}
        self.on_idle: Callable[[str, list[str]], None] | None = None

    def __getitem__(self, key: str) -> BucketState:
        st = self.by_key.get(key)
        if st is None:
            st = self.by_key[key] = BucketState()
        return st

    def bump(self, key: str) -> int:
        st = self[key]
        st.gen += 1
        st.checked, st.tainted = time.monotonic(), False
        return st.gen

    def is_own(self, key: str, root: str) -> bool | None:
        """Whether ``root`` came from one of our own calls: True, False, or None when a call of
        ours is still running (the root is held until it returns, see ``on_idle``)."""
        st = self[key]
        if root in st.own:
            st.own.remove(root)  # one event per change: a second one with it is not ours
            return True
        if st.busy > 0:
            st.held.append(root)
            return None
        return False

    def started(self, key: str) -> None:
        self[key].busy += 1

    def finished(self, key: str, root: str, checked: bool) -> None:
        st = self[key]
        st.busy -= 1
        st.changes += 1
        if root:
            st.own.append(root)
        if not checked:
            st.tainted = True
        if st.busy <= 0 and st.held:
            foreign = []
            for r in st.held:
                if r in st.own:
                    st.own.remove(r)
                else:
                    foreign.append(r)
            st.held.clear()
            if foreign and self.on_idle is not None:
                self.on_idle(key, foreign)


class TrackedApi:
    """The buckets client with its changing calls reported to ``BucketStates``; every other
    attribute is the client's own."""

    def __init__(self, api: BucketsApi, states: BucketStates) -> None:
        self._api = api
        self._states = states

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._api, name)
        index = MUTATING.get(name)
        if index is None:
            return inner
        states = self._states

        async def call(*args: Any, **kw: Any) -> Any:
            key = str(args[index] if len(args) > index else kw.get("key", ""))
            checked = name in ROOT_CHECKED and bool(kw.get("root"))
            states.started(key)
            result: Any = None
            try:
                result = await inner(*args, **kw)
            except BaseException:
                checked = False  # refused (someone else changed it) or unknown outcome
                raise
            finally:
                checked = checked and not getattr(result, "rebased", False)
                root = getattr(result, "root", result)
                states.finished(key, str(getattr(root, "path", "") or ""), checked)
            return result

        return call
