"""A real hub in a subprocess, for end-to-end tests: ``with HubProcess() as hub: ...``.

The hub runs ``bucketfs hub serve`` (with this interpreter) with a temporary data directory (or one you
pass), listening on a free 127.0.0.1 port (``transport="tcp"``) or on a unix socket in the data
directory (``transport="unix"``). Entering waits for the ready line; leaving stops the hub with
SIGTERM (SIGKILL after a grace period) and removes the temporary directory. ``kill()`` simulates a
crash; ``restart()`` starts it again on the same data directory and address.

:class:`HubClient` wraps the generated stubs with the metadata a call needs (API key, fresh
signature, token, thread headers) for tests that speak the wire directly.

``create_key()`` creates API keys in the hub's store as ``bucketfs hub keys create`` does (it works
while the hub runs); ``cli()`` runs other ``bucketfs hub`` commands on the data directory.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from bucketfs.auth.apisig import api_key_metadata
from bucketfs.auth.identity import Identity
from bucketfs.auth.threadid import ThreadID
from bucketfs.hub.accounts import DEFAULT_ACCOUNT, Accounts
from bucketfs.hub.caller import KeyType
from bucketfs.hub.server import STORE_FILE
from bucketfs.hub.store import open_store
from bucketfs.proto import hubd_pb2_grpc, threads_pb2, threads_pb2_grpc, usersd_pb2_grpc

READY_PREFIX = "bucketfs hub listening on "
#: a permissive collection schema: ``_id``, ``name`` (required string), ``n`` (integer)
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
#: ``bucketfs hub`` run with this interpreter (only the hub's part of the CLI is imported, so the
#: hub starts fast)
HUB_CLI = (sys.executable, "-c", "from bucketfs.cli.hub import hub; hub(prog_name='bucketfs hub')")


_RUNNING: weakref.WeakSet[HubProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    """Never leave a hub behind when the interpreter exits (e.g. a test run interrupted)."""
    for hub in list(_RUNNING):
        hub.kill()


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HubProcessError(RuntimeError):
    """The hub subprocess did not start, or a CLI call against its data dir failed."""


class HubProcess:
    """Start and stop a ``bucketfs hub serve`` subprocess; see the module docstring."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        transport: str = "tcp",
        listen: str | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        if transport not in ("tcp", "unix"):
            raise ValueError("transport must be 'tcp' or 'unix'")
        self._tmp = tempfile.TemporaryDirectory(prefix="bucketfs-hub-")
        self.data_dir = Path(data_dir) if data_dir is not None else Path(self._tmp.name) / "data"
        #: the hub's stderr (logs), appended across restarts
        self.log_path = Path(self._tmp.name) / "hub.log"
        self.transport = transport
        self.extra_args = extra_args
        self.env = {**os.environ, **(env or {})}
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        #: the ``--listen`` value (chosen from ``transport`` unless given)
        self.listen = listen if listen is not None else self._choose_listen()
        self.address = ""  # as printed in the ready line, usable as a grpc target

    def _choose_listen(self) -> str:
        if self.transport == "unix":
            return f"unix:{self.data_dir / 'hub.sock'}"
        return f"127.0.0.1:{free_tcp_port()}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> HubProcess:
        if self.proc is not None and self.proc.poll() is None:
            raise HubProcessError("hub already running")
        self._close_pipe()  # of a previous run that exited on its own
        cmd = [*HUB_CLI, "serve", "--data", str(self.data_dir), "--listen", self.listen]
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                [*cmd, *self.extra_args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=self.env,
            )
        _RUNNING.add(self)
        try:
            self.address = self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        seen = []
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=0.2):
                    if self.proc.poll() is not None:
                        break
                    continue
                line = self.proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
                if line.startswith(READY_PREFIX):
                    return line[len(READY_PREFIX) :].strip()
        raise HubProcessError(
            f"hub did not become ready (exit {self.proc.poll()}); stdout: {''.join(seen)!r}; "
            f"log: {self.log_text()[-2000:]}"
        )

    def log_text(self) -> str:
        """Everything the hub wrote to stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_errors(self) -> list[str]:
        """Log lines showing an unexpected hub error (ERROR records, tracebacks); tests assert
        this is empty, so a handler failing by accident fails the test."""
        return [
            line
            for line in self.log_text().splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` (then SIGKILL); returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close_pipe()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL the hub (a crash), and reap it."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._close_pipe()

    def restart(self) -> HubProcess:
        """Stop (if running) and start again with the same data dir and listen address."""
        self.stop()
        return self.start()

    def _close_pipe(self) -> None:
        proc = self.proc
        if proc is not None and proc.stdout is not None and not proc.stdout.closed:
            proc.stdout.close()

    def __enter__(self) -> HubProcess:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the hub and remove the temporary directory (logs, default data dir)."""
        try:
            self.stop()
        finally:
            self._tmp.cleanup()

    # -- keys --------------------------------------------------------------------------------

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``bucketfs hub <args> --data <data dir>``; raises on a non-zero exit."""
        cmd = [*HUB_CLI, *args, "--data", str(self.data_dir)]
        result = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env, check=False, timeout=60
        )
        if result.returncode != 0:
            raise HubProcessError(f"{' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def create_key(
        self, type: str = "account", secure: bool = True, account: str | None = None
    ) -> tuple[str, str]:
        """Create an API key in the hub's store (what ``bucketfs hub keys create`` does, without
        a subprocess; works while the hub runs). Returns ``(key, secret)``."""
        store = open_store(str(self.data_dir / STORE_FILE))
        try:
            record = Accounts(store).create_key(
                account or DEFAULT_ACCOUNT, KeyType(type), secure=secure
            )
        finally:
            store.close()
        return record.key, record.secret


@dataclass
class HubClient:
    """The generated stubs on one channel, plus the credentials to put in call metadata.

    ``md()`` builds fresh metadata (a new API signature each time, the token if any, and the
    thread headers); ``get_token()`` runs GetToken; ``new_db()`` creates a thread DB with
    collections of :data:`SCHEMA`."""

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
    """Make :class:`HubClient` objects for one hub with fresh keys; ``close()`` closes them all."""

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
