"""Run the gRPC-Web bridge in a thread of the hub with its own asyncio event loop.

:class:`GrpcWebServer` binds ``HOST:PORT`` (port 0 picks one), opens a ``grpc.aio`` channel to
the hub's gRPC address (``0.0.0.0``/``::`` become loopback) and serves the aiohttp application
of :mod:`.web`. ``stop()`` stops accepting, ends the calls still in flight after ``grace``
seconds with ``UNAVAILABLE`` (open ``Listen`` streams would otherwise never end; their clients
get trailers saying so) and joins the thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import grpc
import grpc.aio
from aiohttp import web

from bucketfs.errors import InvalidArgument

from .bridge import Channels
from .web import Bridge

log = logging.getLogger(__name__)

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}


def hub_target(address: str) -> str:
    """A grpc target that reaches the hub listening on ``address`` from the same machine."""
    if address.startswith("unix:"):
        return address
    host, _, port = address.rpartition(":")
    return f"{_WILDCARDS.get(host, host)}:{port}"


def split_listen(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InvalidArgument(f"--grpc-web address must be HOST:PORT, not {address!r}")
    return host.strip("[]"), int(port)


class GrpcWebServer:
    """The bridge's thread, loop, channel and HTTP site; see the module docstring."""

    def __init__(self, hub_address: str, listen: str, max_message: int) -> None:
        self.target = hub_target(hub_address)
        self.host, self.port = split_listen(listen)
        self.max_message = max_message
        self.address = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="grpc-web", daemon=True)
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._grace = 0.0

    def start(self) -> str:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            self._thread.join()
            raise InvalidArgument(
                f"cannot serve gRPC-Web on {self.host}:{self.port}: {self._error}"
            )
        log.info("gRPC-Web serving http://%s (forwarding to %s)", self.address, self.target)
        return self.address

    def stop(self, grace: float = 1.0) -> None:
        if not self._thread.is_alive():
            return
        self._grace = grace
        stopping = self._stopping
        if stopping is not None:
            self._loop.call_soon_threadsafe(stopping.set)
        self._thread.join()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except Exception as exc:
            self._error = exc
        finally:
            try:
                self._finish_tasks()
                self._loop.close()
            finally:
                self._started.set()

    def _finish_tasks(self) -> None:
        """Cancel what is left (e.g. request streams of calls the hub already answered)."""
        loop = self._loop
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())

    async def _serve(self) -> None:
        options = [
            ("grpc.max_receive_message_length", self.max_message),
            ("grpc.max_send_message_length", self.max_message),
        ]
        channel = grpc.aio.insecure_channel(self.target, options=options)
        sync_channel = grpc.insecure_channel(self.target, options=options)
        bridge = Bridge(Channels(channel, sync_channel), self.max_message)
        runner = web.AppRunner(bridge.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._stopping = asyncio.Event()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                self._error = exc
                return
            host, port = runner.addresses[0][:2]
            self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            self._started.set()
            await self._stopping.wait()
            await site.stop()
            await bridge.stop_calls(self._grace)
        finally:
            await runner.cleanup()
            await channel.close(None)
            sync_channel.close()
