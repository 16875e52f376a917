"""Fixtures for the hub server tests: real hub subprocesses and thin gRPC clients over the
generated stubs (no bucketfs client code, so these tests check the wire, not our client)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from bucketfs.testing.hubproc import SCHEMA, HubClient, HubClients, HubProcess, free_tcp_port

Client = HubClient  # the name the tests use
__all__ = ["Client", "HubClients"]  # import them from bucketfs.testing.hubproc in new tests


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    """One TCP hub per test module (tests use their own keys and threads)."""
    with HubProcess(extra_args=("--challenge-timeout", "1")) as proc:
        yield proc
        assert_clean_log(proc)


@contextlib.contextmanager
def gateway_hub(*, clean_log: bool = False) -> Iterator[HubProcess]:
    """A hub with the HTTP gateway on a free port (``proc.gateway``), for modules that override
    ``hub``; no traceback in its log afterwards (no error at all with ``clean_log``)."""
    gateway = f"127.0.0.1:{free_tcp_port()}"
    with HubProcess(extra_args=("--gateway", gateway)) as proc:
        proc.gateway = gateway  # type: ignore[attr-defined]
        yield proc
        if clean_log:
            assert_clean_log(proc)
        log = proc.log_text()
    assert "Traceback" not in log, log[-3000:]


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
