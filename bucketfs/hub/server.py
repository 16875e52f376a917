"""The hub server process: one grpcio server (thread pool) hosting every hub service.

:class:`HubServer` owns the data directory (an exclusive lock file, so a second hub on the same
directory fails with a clear message), the hub identity, the metadata store
(``<data>/hub.sqlite3``), the engine and accounts, the gRPC server with the auth interceptor, and
gRPC health, and with ``grpc_web`` the gRPC-Web bridge in front of it (:mod:`bucketfs.hub.grpcweb`).
:func:`run` is what ``bucketfs hub serve`` calls: start, report the address, wait
for SIGTERM/SIGINT, stop accepting, give in-flight calls a grace period, close storage.

Listen addresses are ``HOST:PORT`` (port 0 picks a free one) or ``unix:PATH``; a unix socket gets
mode 0600 in a directory of mode 0700.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bucketfs.auth.privatefile import ensure_private_dir
from bucketfs.errors import AlreadyExists, InvalidArgument
from bucketfs.hub.accounts import Accounts, load_or_create_identity
from bucketfs.hub.interceptor import Authenticator, AuthInterceptor
from bucketfs.hub.servicers import HubContext, HubOptions, register_all
from bucketfs.hub.store import open_store
from bucketfs.hub.threaddb import Engine

if TYPE_CHECKING:
    from bucketfs.hub.grpcweb import GrpcWebServer

log = logging.getLogger(__name__)

STORE_FILE = "hub.sqlite3"
LOCK_FILE = "hub.lock"
SOCKET_FILE = "hub.sock"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_UNIX_PATH = 107  # sun_path holds 108 bytes including the terminating NUL
GRPC_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # permissive keepalive: clients may ping every 10 s, also without active calls
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
    # a second server must not silently share a TCP port with this one
    ("grpc.so_reuseport", 0),
)


@dataclass
class ServeConfig:
    """How to run a hub."""

    data_dir: Path
    listen: str = ""  # default: unix:<data_dir>/hub.sock
    gateway: str = ""
    grpc_web: str = ""  # HOST:PORT of the gRPC-Web bridge, empty for none
    grace: float = 5.0
    max_workers: int = 64
    options: HubOptions = field(default_factory=HubOptions)

    def listen_address(self) -> str:
        return self.listen or f"unix:{self.data_dir / SOCKET_FILE}"


class DataDirLocked(AlreadyExists):
    """Another hub already serves this data directory."""


def lock_data_dir(data_dir: Path) -> int:
    """Take the exclusive lock of ``data_dir`` (returns the fd; closing it releases the lock)."""
    ensure_private_dir(data_dir)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLocked(
            f"another bucketfs hub is already running on {data_dir} (lock file {path} is held)"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _bind(server: grpc.Server, address: str) -> str:
    """Bind ``address`` (``HOST:PORT`` or ``unix:PATH``); returns the address actually bound."""
    if address.startswith("unix:"):
        path = Path(address[len("unix:") :])
        if not path.is_absolute():
            raise InvalidArgument(f"unix socket path must be absolute: {address}")
        if len(os.fsencode(path)) > MAX_UNIX_PATH:
            raise InvalidArgument(f"unix socket path is longer than {MAX_UNIX_PATH} bytes: {path}")
        ensure_private_dir(path.parent)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a previous run (we hold the data dir lock)
        old_umask = os.umask(0o077)
        try:
            server.add_insecure_port(f"unix:{path}")
        except RuntimeError as exc:
            raise InvalidArgument(f"cannot listen on {address}: {exc}") from None
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        return f"unix:{path}"
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InvalidArgument(f"listen address must be HOST:PORT or unix:PATH, not {address!r}")
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise InvalidArgument(f"cannot listen on {address}: {exc}") from None
    if bound == 0:
        raise InvalidArgument(f"cannot listen on {address} (address in use or not local)")
    return f"{host}:{bound}"


class HubServer:
    """A running hub (see the module docstring). ``start()`` returns the bound address."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.address = ""
        self._lock_fd: int | None = None
        self._hub: HubContext | None = None
        self._server: grpc.Server | None = None
        self._grpc_web: GrpcWebServer | None = None
        self._health = health.HealthServicer()

    def start(self) -> str:
        config = self.config
        self._lock_fd = lock_data_dir(config.data_dir)
        try:
            self._hub = self._open_hub()
            self._server = grpc.server(
                futures.ThreadPoolExecutor(config.max_workers, thread_name_prefix="hub"),
                interceptors=[AuthInterceptor(self._authenticator(self._hub))],
                options=GRPC_OPTIONS,
            )
            names = register_all(self._server, self._hub)
            health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
            for name in ["", *names]:
                self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
            self.address = _bind(self._server, config.listen_address())
            self._server.start()
            if config.grpc_web:
                from bucketfs.hub.grpcweb import GrpcWebServer  # aiohttp only when asked for

                self._grpc_web = GrpcWebServer(self.address, config.grpc_web, MAX_MESSAGE_BYTES)
                self._grpc_web.start()
        except BaseException:
            self.close()
            raise
        log.info("hub serving %s from %s", self.address, config.data_dir)
        return self.address

    def _open_hub(self) -> HubContext:
        data_dir = self.config.data_dir
        identity = load_or_create_identity(data_dir)
        store = open_store(str(data_dir / STORE_FILE))
        os.chmod(data_dir / STORE_FILE, 0o600)
        try:
            options = self.config.options
            options.gateway = options.gateway or self.config.gateway
            return HubContext(
                data_dir=data_dir,
                store=store,
                engine=Engine(store),
                accounts=Accounts(store),
                identity=identity,
                options=options,
            )
        except BaseException:
            store.close()
            raise

    @staticmethod
    def _authenticator(hub: HubContext) -> Authenticator:
        return Authenticator(
            hub.accounts, hub.engine, hub.identity.public_key, hub.cross_user_methods
        )

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let in-flight ones finish for ``grace`` seconds, close storage."""
        grace = self.config.grace if grace is None else grace
        if self._grpc_web is not None:  # first: it forwards to the gRPC server
            self._grpc_web.stop(grace)
            self._grpc_web = None
        if self._server is not None:
            self._health.enter_graceful_shutdown()
            done = self._server.stop(grace)
            done.wait()
            self._server = None
        self.close()

    def close(self) -> None:
        if self._grpc_web is not None:
            self._grpc_web.stop(0)
            self._grpc_web = None
        if self._server is not None:  # start() failed after starting the gRPC server
            self._server.stop(0).wait()
            self._server = None
        if self._hub is not None:
            self._hub.close()
            self._hub = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def run(config: ServeConfig, ready: Callable[[str], None]) -> None:
    """Serve until SIGTERM or SIGINT; calls ``ready(address)`` once listening."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = HubServer(config)
    try:
        ready(server.start())
        while not stop.wait(3600):
            pass
        log.info("hub stopping")
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
