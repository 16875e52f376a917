"""The hub's gRPC services, registered from one list.

Each entry of :data:`SERVICES` names a module with a function
``register(server: grpc.Server, hub: HubContext) -> list[str]`` that adds its servicers to
``server`` and returns the full service names it added (for gRPC health). An entry whose module
does not exist yet (an optional service) is skipped; any other import error is raised.

:class:`HubContext` is everything a servicer may use: the ThreadDB engine, the accounts, the
metadata store, the hub identity, the data directory, the gateway address and options; a service
that opens resources of its own registers their cleanup with :meth:`HubContext.on_close`, and a
service that enforces bucket roles itself adds its method paths to
:attr:`HubContext.cross_user_methods` so that callers who do not own the thread reach it.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bucketfs.auth.identity import Identity
from bucketfs.errors import Unsupported
from bucketfs.hub.accounts import Accounts
from bucketfs.hub.interceptor import CROSS_USER_BUCKETS
from bucketfs.hub.status import grpc_errors
from bucketfs.hub.store import MetadataStore
from bucketfs.hub.threaddb import Engine

log = logging.getLogger(__name__)

#: environment variable that sets :attr:`HubOptions.block_sync` (``auto``, ``syncfs``, ``fsync``)
BLOCK_SYNC_ENV = "BUCKETFS_HUB_BLOCK_SYNC"

#: (module, required): modules providing ``register(server, hub)``.
SERVICES: tuple[tuple[str, bool], ...] = (
    ("bucketfs.hub.servicers.threads", True),  # threads.pb.API
    ("bucketfs.hub.servicers.threads_net", True),  # threads.net.pb.API
    ("bucketfs.hub.servicers.hubd", True),  # api.hubd.pb.APIService
    ("bucketfs.hub.servicers.users", True),  # api.usersd.pb.APIService
    # api.bucketsd.pb.APIService + bucketfs.pb.BucketsExtension
    ("bucketfs.hub.servicers.buckets", False),
)


@dataclass
class HubOptions:
    """Tunables of a running hub (defaults are the production values)."""

    #: how long GetToken waits for the signed challenge (WIRE §2.5: one minute)
    challenge_timeout: float = 60.0
    #: public address of the HTTP gateway (``HOST:PORT``), empty when none is served
    gateway: str = ""
    #: how the block store makes a batch durable: ``auto`` (syncfs where available), ``syncfs``
    #: or ``fsync`` (each file and directory); see docs/SELF-HOSTING.md
    block_sync: str = field(default_factory=lambda: os.environ.get(BLOCK_SYNC_ENV, "auto"))


@dataclass
class HubContext:
    """What the servicers of one hub share; see the module docstring."""

    data_dir: Path
    store: MetadataStore
    engine: Engine
    accounts: Accounts
    identity: Identity
    options: HubOptions = field(default_factory=HubOptions)
    #: full method paths exempt from the thread-ownership check because their service enforces
    #: bucket roles itself; starts as the WIRE.md Buckets allow-list, services may add to it
    cross_user_methods: set[str] = field(default_factory=lambda: set(CROSS_USER_BUCKETS))
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` when the hub stops (last registered, first run), before the store closes."""
        self._closers.append(closer)

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:
                log.exception("error while closing a hub service")
        self.store.close()


def register_all(server: grpc.Server, hub: HubContext) -> list[str]:
    """Register every available service of :data:`SERVICES`; returns their full names."""
    names: list[str] = []
    for module_name, required in SERVICES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if required or exc.name != module_name:
                raise
            log.info("optional service module %s is not available", module_name)
            continue
        names += module.register(server, hub)
    return names


def unsupported(method: str, reason: str) -> Unsupported:
    """The error for a method this hub does not offer (UNIMPLEMENTED with a clear text)."""
    return Unsupported(f"{method} is not supported by this hub: {reason}")


def fill_unsupported(cls: type, service: Any, reasons: dict[str, str], default: str) -> None:
    """Give ``cls`` a handler for every method of ``service`` (a protobuf ServiceDescriptor) that
    it does not define, answering UNIMPLEMENTED with ``reasons[name]`` or ``default``."""
    for method in service.methods:
        if method.name in cls.__dict__:
            continue
        setattr(
            cls, method.name, _unsupported_handler(method.name, reasons.get(method.name, default))
        )


def _unsupported_handler(name: str, reason: str) -> Callable[..., Any]:
    @grpc_errors
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        raise unsupported(name, reason)

    handler.__name__ = name
    return handler
