"""Retries in one place (STYLE §8): exponential backoff with full jitter, bounded attempts and
a bounded total time, and an explicit predicate for what may be retried.

Only idempotent calls are retried blindly. A call that is not idempotent is retried only when
the failure proves the request never reached the hub (the connection could not be made).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import trio

from bucketfs import errors

T = TypeVar("T")

# Texts grpc uses when no connection could be made, so the request was never sent.
_NOT_SENT = (
    "failed to connect",
    "connection refused",
    "no such file or directory",
    "dns resolution",
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry temporary failures."""

    attempts: int = 3  # total attempts, including the first
    #: seconds since the first attempt after which no new attempt starts; also the deadline of
    #: a whole unary call (``Rpc.unary``): a hub that does not answer fails a call within it
    budget: float = 8.0
    base_delay: float = 0.1  # seconds before the first retry (upper bound of the jitter)
    max_delay: float = 2.0

    def delay(self, retry: int) -> float:
        """Full-jitter backoff before retry number ``retry`` (0 for the first retry)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2**retry)))


NO_RETRY = RetryPolicy(attempts=1, budget=0.0)


def never_sent(err: BaseException) -> bool:
    """Whether ``err`` says the request did not leave this machine (safe to resend)."""
    return isinstance(err, errors.Unavailable) and any(
        marker in err.message.lower() for marker in _NOT_SENT
    )


def is_retryable(err: BaseException, *, idempotent: bool) -> bool:
    """The retry predicate: unreachable or slow hub, and a call that may be repeated."""
    if not isinstance(err, (errors.Unavailable, errors.TimedOut)):
        return False
    if getattr(err, "hub_down", False):  # the hub was known down when the call started
        return False
    return idempotent or never_sent(err)


async def _sleep(delay: float, patience: float) -> None:
    await trio.sleep(delay)


#: how a retry waits: ``pause(delay, patience)`` sleeps the jittered ``delay`` and may then wait
#: up to ``patience`` seconds more for the hub (e.g. until the channel reconnects)
Pause = Callable[[float, float], Awaitable[None]]


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    idempotent: bool,
    pause: Pause = _sleep,
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or the policy's bounds are reached.

    ``attempt`` raises ``bucketfs.errors`` (already translated); the last error is re-raised.
    Between attempts the remaining budget is shared out: each pause may last up to the budget
    left divided by the attempts left, so a hub that comes back within the budget is used as
    soon as it is back, and one that does not costs at most about ``policy.budget``.
    """
    start = trio.current_time()
    retry = 0
    while True:
        try:
            return await attempt()
        except errors.BucketfsError as err:
            if retry + 1 >= policy.attempts or not is_retryable(err, idempotent=idempotent):
                raise
            delay = policy.delay(retry)
            left = policy.budget - (trio.current_time() - start)
            if delay > left:
                raise
            patience = max(0.0, left / (policy.attempts - retry - 1) - delay)
            retry += 1
            await pause(delay, patience)
