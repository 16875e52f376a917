"""A failure-injecting wrapper around a hub session's clients, for the mount's tests (STYLE §4).

``FaultySession(session)`` has the shape of ``bucketfs.remote.session.HubSession`` (it also wraps
``bucketfs.testing.fakehub.FakeSession``): ``buckets``, ``threads`` and ``users`` forward every
call to the real clients, except that rules can make chosen calls fail or slow down::

    faulty = FaultySession(session)
    faulty.fail("buckets.push_path", errors.Unavailable, nth=2)      # the 2nd push fails
    faulty.fail("threads.*", errors.TimedOut("slow"), nth=1, count=3) # the next 3 threads calls
    faulty.delay("buckets.pull_path", 0.5)                            # every pull starts late
    faulty.fail("buckets.pull_path", errors.Unavailable, after_items=2)  # breaks mid-stream

Method names are ``<client>.<method>`` and patterns use ``fnmatch``. ``nth`` counts the calls
matching the rule from the moment it was added (1 = the next one); ``count`` is how many
consecutive calls fail (None = all from then on). For stream methods (``pull_path``,
``listen``, ``find_all``) the fault fires when the stream is first read, or after
``after_items`` items. ``calls`` counts every call by name. Rules may be added while calls run.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import trio

from bucketfs import errors

ErrorSpec = BaseException | type[BaseException]


@dataclass
class Rule:
    """One fault: which calls, what happens."""

    pattern: str
    error: ErrorSpec | None = None  # None: only the delay applies
    delay: float = 0.0
    nth: int = 1
    count: int | None = 1
    after_items: int = 0  # streams: items delivered before the fault
    seen: int = 0  # matching calls since the rule was added
    fired: int = 0  # times the fault was applied

    def applies(self, name: str) -> bool:
        """Count a call and say whether the fault applies to it."""
        if not fnmatch.fnmatchcase(name, self.pattern):
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        if self.count is not None and self.seen >= self.nth + self.count:
            return False
        self.fired += 1
        return True

    def exception(self, name: str) -> BaseException:
        error = self.error
        if isinstance(error, type):
            return error(f"injected fault in {name}")
        if isinstance(error, errors.BucketfsError):
            return type(error)(error.message)  # a fresh instance per raise
        assert error is not None
        return error


class FaultySession:
    """See the module docstring. Attributes other than the clients pass through."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.rules: list[Rule] = []
        self.calls: Counter[str] = Counter()
        self.buckets = _FaultyClient("buckets", session.buckets, self)
        self.threads = _FaultyClient("threads", session.threads, self)
        self.users = _FaultyClient("users", session.users, self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def fail(
        self,
        pattern: str,
        error: ErrorSpec,
        *,
        nth: int = 1,
        count: int | None = 1,
        after_items: int = 0,
        delay: float = 0.0,
    ) -> Rule:
        """Make calls matching ``pattern`` raise ``error`` (a class or an instance)."""
        rule = Rule(pattern, error, delay, nth, count, after_items)
        self.rules.append(rule)
        return rule

    def delay(
        self, pattern: str, seconds: float, *, nth: int = 1, count: int | None = None
    ) -> Rule:
        """Make calls matching ``pattern`` wait ``seconds`` before they start."""
        rule = Rule(pattern, None, seconds, nth, count)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (the call counts stay)."""
        self.rules.clear()

    def _match(self, name: str) -> list[Rule]:
        self.calls[name] += 1
        return [rule for rule in list(self.rules) if rule.applies(name)]

    async def aclose(self) -> None:
        await self._session.aclose()

    async def __aenter__(self) -> FaultySession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _apply(rules: list[Rule], name: str, items: int | None) -> None:
    """Sleep and raise as the rules say; ``items`` = items delivered so far (None: unary)."""
    for rule in rules:
        if items is not None and items != rule.after_items:
            continue
        if rule.delay:
            await trio.sleep(rule.delay)
        if rule.error is not None:
            raise rule.exception(name)


class _FaultyClient:
    """Forwards attribute access to one client, wrapping its methods."""

    def __init__(self, prefix: str, inner: Any, owner: FaultySession) -> None:
        self._prefix = prefix
        self._inner = inner
        self._owner = owner

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._inner, attr)
        if attr.startswith("_") or not callable(target):
            return target
        name = f"{self._prefix}.{attr}"
        if inspect.iscoroutinefunction(target):
            return self._unary(name, target)
        return self._streaming(name, target)

    def _unary(self, name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            await _apply(self._owner._match(name), name, None)
            return await target(*args, **kwargs)

        return call

    def _streaming(self, name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            result = target(*args, **kwargs)
            if not hasattr(result, "__anext__"):
                return result
            return _FaultyStream(name, result, self._owner._match(name))

        return call


class _FaultyStream:
    """An async iterator that applies stream rules around the real one."""

    def __init__(self, name: str, inner: AsyncIterator[Any], rules: list[Rule]) -> None:
        self._name = name
        self._inner = inner
        self._rules = rules
        self._items = 0

    def __aiter__(self) -> _FaultyStream:
        return self

    async def __anext__(self) -> Any:
        try:
            await _apply(self._rules, self._name, self._items)
        except BaseException:
            await self.aclose()
            raise
        item = await self._inner.__anext__()
        self._items += 1
        return item

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> _FaultyStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
