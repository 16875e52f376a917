"""Whether the hub answers: the one owner of the "hub is down" state of a session.

Every call of a session asks ``HubHealth`` before it starts and tells it how it ended:

* a call that fails because the hub refused the connection (``HubUnreachable``) or did not
  answer before the call's deadline (``TimedOut``) marks the hub *down*; the call itself still
  retries within its own budget (``remote/retry.py``), so a hub that restarts within it is used;
* while the hub is down, a new call fails at once with an error of the same kind, naming the
  hub and how long it has been down, instead of each waiting the full budget again; one
  background task probes the hub (a health check that connects as soon as it listens) every
  ``PROBE_PAUSE`` seconds, and the first answer, to it or to any call, marks the hub up;
* a hub that stops answering is noticed before the deadline: while a unary call has waited
  ``STALL`` seconds and nothing was heard from the hub for as long, a watchdog sends a health
  check; no answer within ``PROBE_TIMEOUT`` marks the hub down (``TimedOut``) and ends the
  calls waiting on it (with the fast-fail error), so that a caller with a fallback (a cached
  listing) answers after about ``STALL + PROBE_TIMEOUT`` seconds, not the whole budget; a hub
  that answers the check is only slow, and its calls keep their deadline;
* any answer of the hub, errors included, counts as "heard": streams (which have no deadline,
  transfers take as long as they take) are opened only after the hub was heard within
  ``QUIET`` seconds, or after a health check within the call budget, so that a stopped hub
  fails a push or pull instead of hanging it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from bucketfs import errors

log = logging.getLogger("bucketfs.remote")
T = TypeVar("T")

PROBE_PAUSE = 0.25  # seconds between probes while the hub is down (each waits for a connection)
PROBE_TIMEOUT = 1.5  # seconds one probe waits for the hub to connect and answer
STALL = 1.5  # seconds a call waits, with nothing heard from the hub, before the watchdog asks
QUIET = 2.0  # seconds without a word from the hub after which a stream is preceded by a check

#: errors that say the hub cannot be used now (not: the hub said no)
DOWN = (errors.HubUnreachable, errors.TimedOut)


class HubHealth:
    """Up/down state of one hub, the probe while it is down, and the last time it was heard.

    ``probe`` returns whether the hub answered within the given seconds (``Bridge.wait_ready``).
    All methods run in the trio thread of the session.
    """

    def __init__(self, address: str, probe: Callable[[float], Awaitable[bool]]) -> None:
        self.address = address
        self._probe = probe
        self.cause: errors.BucketfsError | None = None  # why the hub is down; None: up
        self.since = 0.0  # trio time the hub went down
        self.heard = -QUIET  # trio time of the last answer
        self.outages = 0  # times the hub went down (status, tests)
        self._scope = trio.CancelScope()
        self._probing = False
        self._closed = False
        self._waiting: dict[trio.CancelScope, float] = {}  # calls in flight: their start
        self._watching = False

    @property
    def down(self) -> bool:
        return self.cause is not None

    def check(self) -> None:
        """Raise at once while the hub is down (the fast-fail state)."""
        cause = self.cause
        if cause is None:
            return
        took = trio.current_time() - self.since
        err = type(cause)(
            f"hub {self.address} is unreachable (for {took:.0f} s, checked every "
            f"{PROBE_PAUSE:g} s in the background): {cause.message}"
        )
        err.hub_down = True  # type: ignore[attr-defined]  # never retried (retry.py)
        raise err

    def quiet(self) -> bool:
        """Whether nothing was heard from the hub for ``QUIET`` seconds."""
        return trio.current_time() - self.heard > QUIET

    async def watched(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run one attempt of a unary call under the stall watchdog (module docstring)."""
        with trio.CancelScope() as scope:
            self._waiting[scope] = trio.current_time()
            if not self._watching and not self._closed:
                self._watching = True
                trio.lowlevel.spawn_system_task(self._watchdog, name="bucketfs hub watchdog")
            try:
                return await attempt()
            finally:
                del self._waiting[scope]
        self.check()  # the watchdog ended the call: the hub is down
        raise AssertionError("unreachable")  # pragma: no cover

    async def _watchdog(self) -> None:
        try:
            while self._waiting and not self._closed:
                await trio.sleep(STALL / 3)
                now = trio.current_time()
                stalled = [s for s, t in self._waiting.items() if now - t > STALL]
                if not stalled or now - self.heard <= STALL or self.cause is not None:
                    continue
                if await self._probe(PROBE_TIMEOUT):
                    self.heard = trio.current_time()
                    continue
                took = trio.current_time() - min(self._waiting.values(), default=now)
                self.outcome(
                    errors.TimedOut(
                        f"hub {self.address} did not answer for {took:.1f} s "
                        f"(not even a health check within {PROBE_TIMEOUT:.1f} s)"
                    )
                )
                for scope in stalled:
                    scope.cancel()
        except Exception as exc:  # the channel was closed under the check
            log.debug("hub %s: watchdog ended: %s", self.address, exc)
        finally:
            self._watching = False

    def answered(self) -> None:
        """The hub answered something (a reply or an error of its own): it is up."""
        self.heard = trio.current_time()
        if self.cause is not None:
            took = self.heard - self.since
            self.cause = None
            log.warning("hub %s answers again (after %.1f s)", self.address, took)

    def outcome(self, err: errors.BucketfsError) -> None:
        """A call ended with ``err``: the hub is down, or it answered."""
        if not isinstance(err, DOWN):
            if type(err) is not errors.Unavailable:  # e.g. a call we cancelled ourselves
                self.answered()
            return
        if self.cause is None:
            self.cause, self.since = err, trio.current_time()
            self.outages += 1
            log.warning(
                "hub %s unreachable: %s; calls that need it fail at once until it answers",
                self.address,
                err.message,
            )
        if not self._probing and not self._closed:
            self._probing = True
            trio.lowlevel.spawn_system_task(self._probe_loop, name="bucketfs hub probe")

    async def _probe_loop(self) -> None:
        self._scope = trio.CancelScope()
        try:
            with self._scope:
                while self.cause is not None:
                    if await self._probe(PROBE_TIMEOUT):
                        self.answered()
                        return
                    await trio.sleep(PROBE_PAUSE)
        except Exception as exc:  # the channel was closed under the probe: stop probing
            log.debug("hub %s: probe ended: %s", self.address, exc)
        finally:
            self._probing = False

    def close(self) -> None:
        """Stop probing (the session is closing)."""
        self._closed = True
        self._scope.cancel()
