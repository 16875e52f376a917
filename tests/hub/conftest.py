"""Fixtures for the hub server tests: real hub subprocesses and thin gRPC clients over the
generated stubs (no bucketfs client code, so these tests check the wire, not our client)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bucketfs.auth.identity import Identity
from bucketfs.testing.hubproc import SCHEMA, HubClient, HubProcess

Client = HubClient  # the name the tests use


class HubClients:
    """Make clients for one hub; closes them at teardown."""

    def __init__(self, hub: HubProcess) -> None:
        self.hub = hub
        self._clients: list[HubClient] = []

    def account(self, secure: bool = True, account: str | None = None) -> HubClient:
        key, secret = self.hub.create_key(type="account", secure=secure, account=account)
        return self._add(HubClient(self.hub.address, key, secret if secure else None))

    def user(self, identity: Identity | None = None, secure: bool = True) -> HubClient:
        """A user-key client that already holds a token for ``identity`` (fresh if None)."""
        key, secret = self.hub.create_key(type="user", secure=secure)
        client = self._add(HubClient(self.hub.address, key, secret if secure else None))
        client.get_token(identity or Identity.generate())
        return client

    def raw(self, key: str, secret: str | None) -> HubClient:
        return self._add(HubClient(self.hub.address, key, secret))

    def _add(self, client: HubClient) -> HubClient:
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
    assert not proc.log_errors(), proc.log_text()[-3000:]


@pytest.fixture
def clients(hub: HubProcess) -> Iterator[HubClients]:
    made = HubClients(hub)
    yield made
    made.close()


@pytest.fixture
def alice(clients: HubClients) -> HubClient:
    """An account-key client with a thread DB ``db`` (collection ``things``) in ``alice.db``."""
    client = clients.account()
    client.db = client.new_db()
    return client


@pytest.fixture
def schema() -> bytes:
    """A permissive collection schema with ``_id``, ``name`` (required) and ``n``."""
    return SCHEMA
