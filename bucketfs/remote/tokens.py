"""User tokens: the GetToken challenge flow and the on-disk cache (WIRE §2.5, §2.6).

A session with an identity needs ``authorization: bearer <token>`` on every call. ``Tokens``
keeps the token in memory, reads and writes the on-disk cache (keyed by hub address, API key
and identity), runs GetToken when there is none, and ``refresh`` forgets a token the hub
rejected and fetches a new one. Concurrent callers share one GetToken run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from bucketfs.auth.challenge import answer_challenge
from bucketfs.auth.identity import Identity, PublicKey


class TokenStore(Protocol):
    """What the remote layer needs from a token cache (``bucketfs.auth.tokencache``)."""

    def get(self, hub: str, api_key: str, identity: PublicKey) -> str | None: ...

    def put(self, hub: str, api_key: str, identity: PublicKey, token: str) -> None: ...

    def forget(self, hub: str, api_key: str, identity: PublicKey) -> None: ...


#: runs the GetToken exchange: key string + signer → token
Exchange = Callable[[str, Callable[[bytes], bytes]], Awaitable[str]]


class Tokens:
    """The bearer token of one session (``None`` throughout when there is no identity)."""

    def __init__(
        self,
        *,
        hub: str,
        api_key: str,
        identity: Identity | None,
        cache: TokenStore | None,
        exchange: Exchange,
    ) -> None:
        self._hub = hub
        self._api_key = api_key
        self._identity = identity
        self._cache = cache
        self._exchange = exchange
        self._token: str | None = None
        self._lock = trio.Lock()
        #: how many times this session ran GetToken (observable by tests and status)
        self.fetches = 0

    @property
    def enabled(self) -> bool:
        return self._identity is not None

    async def get(self) -> str | None:
        """The current token: from memory, else the cache, else a GetToken run."""
        if self._identity is None:
            return None
        if self._token is not None:
            return self._token
        async with self._lock:
            if self._token is None:
                cached = None
                if self._cache is not None:
                    cached = await trio.to_thread.run_sync(
                        self._cache.get, self._hub, self._api_key, self._identity.public_key
                    )
                self._token = cached or await self._fetch()
            return self._token

    async def refresh(self, rejected: str | None) -> str | None:
        """Forget ``rejected`` (the token the hub refused) and fetch a new one."""
        if self._identity is None:
            return None
        async with self._lock:
            if self._token is not None and self._token != rejected:
                return self._token  # another task already refreshed it
            self._token = None
            if self._cache is not None:
                await trio.to_thread.run_sync(
                    self._cache.forget, self._hub, self._api_key, self._identity.public_key
                )
            self._token = await self._fetch()
            return self._token

    async def _fetch(self) -> str:
        assert self._identity is not None
        identity = self._identity
        self.fetches += 1
        token = await self._exchange(
            str(identity.public_key), lambda challenge: answer_challenge(identity, challenge)
        )
        if self._cache is not None:
            await trio.to_thread.run_sync(
                self._cache.put, self._hub, self._api_key, identity.public_key, token
            )
        return token
