"""Fixtures for the hub server tests: real hub subprocesses and thin gRPC clients over the
generated stubs (no bucketfs client code, so these tests check the wire, not our client)."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from bucketfs.auth.apisig import api_key_metadata
from bucketfs.auth.identity import Identity
from bucketfs.auth.threadid import ThreadID
from bucketfs.proto import hubd_pb2_grpc, threads_pb2, threads_pb2_grpc, usersd_pb2_grpc
from bucketfs.testing.hubproc import HubProcess

SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {
            "_id": {"type": "string"},
            "name": {"type": "string"},
            "n": {"type": "integer"},
        },
        "required": ["name"],
    }
).encode()
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]


@dataclass
class Client:
    """Stubs on one channel plus the credentials to put in metadata."""

    address: str
    key: str
    secret: str | None
    token: str = ""
    #: the thread DB a fixture made for this client
    db: ThreadID = field(default_factory=ThreadID.new)
    channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        self.threads = threads_pb2_grpc.APIStub(self.channel)
        self.hubd = hubd_pb2_grpc.APIServiceStub(self.channel)
        self.users = usersd_pb2_grpc.APIServiceStub(self.channel)

    def md(
        self, thread: ThreadID | None = None, name: str = "", **extra: str
    ) -> list[tuple[str, str]]:
        metadata = api_key_metadata(self.key, self.secret)
        if self.token:
            metadata.append(("authorization", f"bearer {self.token}"))
        if thread is not None:
            metadata.append(("x-textile-thread", str(thread)))
        if name:
            metadata.append(("x-textile-thread-name", name))
        metadata += list(extra.items())
        return metadata

    def get_token(self, identity: Identity) -> str:
        self.token = get_token(self.threads, self.md(), identity)
        return self.token

    def new_db(self, name: str = "", collections: Sequence[str] = ("things",)) -> ThreadID:
        db = ThreadID.new()
        configs = [threads_pb2.CollectionConfig(name=c, schema=SCHEMA) for c in collections]
        self.threads.NewDB(
            threads_pb2.NewDBRequest(dbID=db.bytes, collections=configs),
            metadata=self.md(name=name),
        )
        return db

    def close(self) -> None:
        self.channel.close()


def get_token(stub: Any, metadata: list[tuple[str, str]], identity: Identity) -> str:
    """Run the GetToken handshake as a client does; returns the token."""
    challenges: queue.Queue[bytes] = queue.Queue()

    def requests() -> Iterator[Any]:
        yield threads_pb2.GetTokenRequest(key=str(identity.public_key))
        challenge = challenges.get(timeout=10)
        yield threads_pb2.GetTokenRequest(signature=identity.sign(challenge))

    for reply in stub.GetToken(requests(), metadata=metadata, timeout=10):
        if reply.WhichOneof("payload") == "challenge":
            challenges.put(reply.challenge)
        else:
            return str(reply.token)
    raise AssertionError("GetToken ended without a token")


class HubClients:
    """Make clients for one hub; closes them at teardown."""

    def __init__(self, hub: HubProcess) -> None:
        self.hub = hub
        self._clients: list[Client] = []

    def account(self, secure: bool = True, account: str | None = None) -> Client:
        key, secret = self.hub.create_key(type="account", secure=secure, account=account)
        return self._add(Client(self.hub.address, key, secret if secure else None))

    def user(self, identity: Identity | None = None, secure: bool = True) -> Client:
        """A user-key client that already holds a token for ``identity`` (fresh if None)."""
        key, secret = self.hub.create_key(type="user", secure=secure)
        client = self._add(Client(self.hub.address, key, secret if secure else None))
        client.get_token(identity or Identity.generate())
        return client

    def raw(self, key: str, secret: str | None) -> Client:
        return self._add(Client(self.hub.address, key, secret))

    def _add(self, client: Client) -> Client:
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    """One TCP hub per test module (tests use their own keys and threads)."""
    with HubProcess(extra_args=("--challenge-timeout", "1")) as proc:
        yield proc
        assert_clean_log(proc)


def assert_clean_log(proc: HubProcess) -> None:
    """The hub logged no unexpected error (tracebacks mean a handler failed by accident)."""
    log = proc.log_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


@pytest.fixture
def clients(hub: HubProcess) -> Iterator[HubClients]:
    made = HubClients(hub)
    yield made
    made.close()


@pytest.fixture
def alice(clients: HubClients) -> Client:
    """An account-key client with a thread DB ``db`` (collection ``things``) in ``alice.db``."""
    client = clients.account()
    client.db = client.new_db()
    return client


@pytest.fixture
def schema() -> bytes:
    """A permissive collection schema with ``_id``, ``name`` (required) and ``n``."""
    return SCHEMA
