"""A connection to one hub: configuration, channel, credentials and the three typed clients.

``await HubSession.connect(HubConfig(...))`` opens one gRPC channel, obtains a user token when
the config has an identity (cache first, GetToken otherwise), and makes one cheap authenticated
call so that a wrong address, an unknown key or a bad secret fail here with a clear message
rather than on the first file operation. ``aclose`` closes the channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import grpc

from bucketfs import errors
from bucketfs.auth.identity import Identity
from bucketfs.proto import usersd_pb2
from bucketfs.remote.bridge import Bridge, open_channel
from bucketfs.remote.buckets import BucketsClient
from bucketfs.remote.retry import RetryPolicy
from bucketfs.remote.rpc import Rpc
from bucketfs.remote.threads import ThreadsClient
from bucketfs.remote.tokens import TokenStore
from bucketfs.remote.users import UsersClient


@dataclass
class HubConfig:
    """Where the hub is and how to authenticate to it."""

    address: str  # "unix:/path" or "host:port"
    api_key: str
    api_secret: str | None  # None for an insecure key
    identity: Identity | None  # user keys: GetToken with it; token cached in token_cache
    token_cache: TokenStore | None = None
    timeout: float = 8.0  # deadline of one attempt of a unary call, seconds (within the budget)
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # its budget: the deadline of a call
    signature_ttl: timedelta = timedelta(minutes=30)  # validity of each fresh API signature
    max_threads: int = 32  # worker threads reading streams (and as many for Listen)

    def __repr__(self) -> str:
        return (
            f"HubConfig(address={self.address!r}, api_key={self.api_key!r}, "
            f"api_secret={'<redacted>' if self.api_secret else None}, "
            f"identity={'<redacted>' if self.identity else None})"
        )


class HubSession:
    """One channel to one hub and the typed clients over it. Create with ``connect``."""

    def __init__(self, config: HubConfig, channel: grpc.Channel) -> None:
        self.config = config
        self._channel = channel
        self.rpc = Rpc(
            Bridge(channel, max_threads=config.max_threads),
            address=config.address,
            api_key=config.api_key,
            api_secret=config.api_secret,
            identity=config.identity,
            token_cache=config.token_cache,
            timeout=config.timeout,
            retry=config.retry,
            signature_ttl=config.signature_ttl,
        )
        self.buckets = BucketsClient(self.rpc)
        self.threads = ThreadsClient(self.rpc)
        self.users = UsersClient(self.rpc)

    @property
    def address(self) -> str:
        return self.config.address

    @classmethod
    async def connect(cls, config: HubConfig) -> HubSession:
        """Open the session and check that the hub is reachable and accepts the credentials."""
        session = cls(config, open_channel(config.address))
        try:
            await session.check()
        except BaseException:
            await session.aclose()
            raise
        return session

    async def check(self) -> None:
        """Reachability + auth: a token (for identities), then one authenticated read."""
        try:
            await self.rpc.tokens.get()
            await self.rpc.unary(
                "/api.usersd.pb.APIService/ListThreads",
                usersd_pb2.ListThreadsRequest(),
                usersd_pb2.ListThreadsResponse,
                idempotent=True,
            )
        except errors.Unsupported:
            pass  # a hub without the users service: reachable, auth is checked per call
        except (errors.Unavailable, errors.TimedOut):
            raise  # their message already names the hub
        except errors.BucketfsError as err:
            raise type(err)(f"cannot use hub {self.address}: {err.message}") from None

    async def aclose(self) -> None:
        self.rpc.health.close()
        self._channel.close()

    async def __aenter__(self) -> HubSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
