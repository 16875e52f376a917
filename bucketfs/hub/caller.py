"""Who is calling: the :class:`Caller` the auth interceptor resolves for each RPC, kept in a
context variable that handlers read with :func:`current_caller`.

The interceptor runs inside the handler's worker thread and sets the variable for exactly the
duration of the call, so a handler (and anything it calls) sees the right caller without it being
passed around.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Iterator
from dataclasses import dataclass

from bucketfs.errors import Unauthenticated


class KeyType(enum.Enum):
    """The two kinds of API key (WIRE §5 ``KeyType``; UNSPECIFIED behaves as ACCOUNT)."""

    ACCOUNT = "account"
    USER = "user"


@dataclass(frozen=True)
class Caller:
    """The authenticated party of one call.

    ``identity`` is the acting public key string (the account identity for account keys, the
    token subject for user keys); threads created by the call are owned by ``identity`` and
    ``api_key``. ``token`` is the bearer token as received (empty for account keys); ``thread``
    and ``thread_name`` are the ``x-textile-thread`` / ``x-textile-thread-name`` headers.
    """

    identity: str
    api_key: str
    key_type: KeyType
    account: str
    token: str = ""
    thread: str = ""
    thread_name: str = ""

    def __repr__(self) -> str:
        return (
            f"Caller(identity={self.identity!r}, api_key={self.api_key!r}, "
            f"key_type={self.key_type.value}, account={self.account!r}, "
            f"token={'<redacted>' if self.token else ''!r}, thread={self.thread!r})"
        )


_CURRENT: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "bucketfs_hub_caller", default=None
)


def current_caller() -> Caller:
    """The caller of the RPC being handled; ``Unauthenticated`` outside an authenticated call."""
    caller = _CURRENT.get()
    if caller is None:
        raise Unauthenticated("Session or API key required")
    return caller


def current_caller_or_none() -> Caller | None:
    """Like :func:`current_caller` but ``None`` for unauthenticated methods (health, Signup)."""
    return _CURRENT.get()


@contextlib.contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    """Make ``caller`` the current caller for the body of the ``with`` block."""
    token = _CURRENT.set(caller)
    try:
        yield
    finally:
        _CURRENT.reset(token)
