"""The mount daemon: daemonising, the mount's lifetime, and its control socket.

``bucketfs mount`` calls :func:`daemonize` (double fork + ``setsid``; the parent returns only once
the daemon reports the mount ready, or the reason it failed) or, with ``-f``, runs
:func:`run_daemon` in the foreground. The daemon connects to the hub (starting the embedded hub
when none is configured), serves the ``Vfs`` with ``run_mount`` and answers requests on a control
socket. Its runtime files live in ``paths.cache_dir()/mounts/<mount id>/``, where the mount id is
derived from the mountpoint, so ``status`` and ``umount`` find them from the mountpoint alone:

* ``control.sock``: unix socket (0600). One JSON request line, one JSON reply line:
  ``{"op": "status"}``, ``{"op": "flush", "timeout": S}``, ``{"op": "unmount", "force": B,
  "timeout": S}``; replies ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": "..."}``.
* ``daemon.json``: pid, mountpoint, log path and content-cache path of the running daemon;
* ``daemon.lock``: held by the daemon while it runs (a second mount there is refused as busy);
* ``mount.log``: the daemon's log (stderr is redirected to it when daemonised).

The daemonised process is a fresh interpreter (``daemon_main``) that reads its settings from a
pipe, so its command line (``ps``) shows the mountpoint but never an API secret.

SIGTERM or SIGINT make the daemon flush and unmount. In the foreground under systemd
(``Type=notify``) it sends ``READY=1`` once mounted and ``STOPPING=1`` when it stops
(``bucketfs.cli.sdnotify``). A mount on the embedded hub restarts it
when it stops answering. Secrets never reach the log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from bucketfs import config, errors, paths
from bucketfs.auth.identity import Identity
from bucketfs.auth.privatefile import ensure_private_dir, write_private
from bucketfs.auth.tokencache import TokenCache
from bucketfs.cli.mount import (
    EXIT_AUTH,
    EXIT_ERROR,
    EXIT_HUB,
    EXIT_MOUNTPOINT,
    RuntimeDir,
    short_socket_path,
)
from bucketfs.cli.sdnotify import notify
from bucketfs.embedded import EmbeddedHub, ensure_identity, provision
from bucketfs.fuse.mount import run_mount
from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.vfs import Vfs

log = logging.getLogger("bucketfs.daemon")

#: seconds between two health checks of the embedded hub by a mount that uses it
HUB_WATCH_INTERVAL = 5.0


class MountFailed(Exception):
    """The mount could not be set up: ``message`` is the one-line reason, ``code`` the exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, MountFailed):
        return exc.code
    if isinstance(exc, errors.Unavailable | errors.TimedOut):
        return EXIT_HUB
    if isinstance(exc, errors.Unauthenticated | errors.PermissionDenied):
        return EXIT_AUTH
    return EXIT_ERROR


# -- the mount ---------------------------------------------------------------------------------


@dataclass
class MountSpec:
    """What to mount where, as the ``mount`` command resolved it."""

    mountpoint: Path
    settings: config.Settings
    read_only: bool = False
    allow_other: bool = False
    debug: bool = False
    #: the SOURCE column of the mount table (the fstab form's SOURCE)
    fsname: str = "bucketfs"


def pending_paths(vfs: Vfs) -> list[str]:
    """Mount-relative paths of the open files whose changes are not pushed yet."""
    found = []
    for ino, of in vfs.open_files.items():
        if not of.dirty or of.unlinked:
            continue
        names: list[str] = []
        with contextlib.suppress(errors.NotFound):
            node = vfs.inodes.get(ino)
            while node.parent != node.ino:
                names.append(node.name)
                node = vfs.inodes.get(node.parent)
        found.append("/".join(reversed(names)) or f"inode {ino}")
    return sorted(found) + vfs.pending_paths()  # write-back: the journal's changes


async def _connect(settings: config.Settings, identity: Identity) -> HubSession:
    assert settings.hub and settings.api_key
    hub_config = HubConfig(
        address=settings.hub,
        api_key=settings.api_key,
        api_secret=settings.api_secret,
        identity=identity,
        token_cache=TokenCache(paths.token_cache_file()),
    )
    log.info("connecting to %r", hub_config)
    try:
        return await HubSession.connect(hub_config)
    except errors.NotFound as exc:
        if "API key" not in exc.message:
            raise
        raise errors.Unauthenticated(exc.message) from None  # WIRE: unknown key is NOT_FOUND
    except errors.InvalidArgument as exc:  # e.g. a secret that is not valid multibase
        raise MountFailed(f"{exc.message} (check the API key and secret)", EXIT_AUTH) from None


async def open_session(settings: config.Settings) -> tuple[HubSession, Identity]:
    """Start the embedded hub if needed, load (or create) the identity, connect."""
    explicit_identity = settings.sources.get("identity", "default") != "default"
    if explicit_identity and not settings.identity.exists():
        raise MountFailed(f"identity file {settings.identity} does not exist")
    identity = await trio.to_thread.run_sync(ensure_identity, settings.identity)
    if not settings.embedded:
        return await _connect(settings, identity), identity
    hub = EmbeddedHub()
    await trio.to_thread.run_sync(hub.ensure)
    own_key = not settings.api_key
    await trio.to_thread.run_sync(provision, settings, hub)
    try:
        return await _connect(settings, identity), identity
    except errors.Unauthenticated:
        if not own_key:
            raise
        log.warning("the embedded hub refused the recorded API key; provisioning a new one")
        settings.api_key = None
        await trio.to_thread.run_sync(lambda: provision(settings, hub, renew=True))
        return await _connect(settings, identity), identity


class Daemon:
    """One mount's lifetime: session, vfs, control socket, signals."""

    def __init__(self, spec: MountSpec, runtime: RuntimeDir, ready: Callable[[], None]) -> None:
        self.spec = spec
        self.runtime = runtime
        self._ready = ready
        self.vfs: Vfs | None = None
        self.identity: Identity | None = None
        self.cancel = trio.CancelScope()
        self.cache_dir = spec.settings.cache_dir / runtime.root.name
        self._stopping_sent = False

    def status(self) -> dict[str, Any]:
        assert self.vfs is not None and self.identity is not None
        spec = self.spec
        return {
            **self.vfs.status(),
            "mountpoint": str(spec.mountpoint),
            "hub": spec.settings.hub,
            "embedded_hub": spec.settings.embedded_hub,
            "identity": str(self.identity.public_key),
            "pid": os.getpid(),
            "log": str(self.runtime.log),
            "pending": pending_paths(self.vfs),
            "options": {
                "read_only": spec.read_only,
                "allow_other": spec.allow_other,
                "debug": spec.debug,
                "thread": spec.settings.thread,
                "cache_dir": str(self.cache_dir),
                "cache_max_size": spec.settings.cache_max_size,
                "write_back": spec.settings.write_back,
            },
        }

    async def run(self) -> None:
        spec = self.spec
        session, self.identity = await open_session(spec.settings)
        try:
            ensure_private_dir(self.cache_dir)
            self.vfs = Vfs(
                session,
                cache_dir=self.cache_dir,
                cache_max_bytes=spec.settings.cache_max_size,
                thread_name=spec.settings.thread,
                read_only=spec.read_only,
            )
            if spec.settings.write_back and not spec.read_only:
                self.vfs.enable_write_back(self.cache_dir / "journal")
            async with trio.open_nursery() as nursery:
                await nursery.start(self._serve_control)
                nursery.start_soon(self._watch_signals)
                if spec.settings.embedded_hub:
                    nursery.start_soon(self._watch_embedded_hub)
                with self.cancel:
                    await run_mount(
                        spec.mountpoint,
                        self.vfs,
                        read_only=spec.read_only,
                        allow_other=spec.allow_other,
                        debug=spec.debug,
                        ready=self._on_ready,
                        fsname=spec.fsname,
                    )
                self._stopping("unmounted")
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await session.aclose()

    def _on_ready(self) -> None:
        info = {
            "pid": os.getpid(),
            "mountpoint": str(self.spec.mountpoint),
            "log": str(self.runtime.log),
            "cache_dir": str(self.cache_dir),
            "hub": self.spec.settings.hub,
        }
        write_private(self.runtime.info, json.dumps(info).encode())
        self._ready()
        notify("READY=1", f"STATUS=mounted {self.spec.mountpoint} (hub {self.spec.settings.hub})")

    def _stopping(self, why: str) -> None:
        """Tell systemd (``bucketfs mount -f`` in a ``Type=notify`` unit) that the mount ends."""
        if self._stopping_sent:
            return
        self._stopping_sent = True
        notify("STOPPING=1", f"STATUS=unmounting {self.spec.mountpoint} ({why})")

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("signal %d: flushing and unmounting", signum)
                self._stopping(f"signal {signum}: uploading pending writes")
                self.cancel.cancel()  # run_mount flushes, unmounts and closes the vfs

    async def _watch_embedded_hub(self) -> None:
        """Restart the embedded hub when it stops answering (crash, killed, stopped)."""
        hub = EmbeddedHub()
        misses = 0
        while True:
            await trio.sleep(HUB_WATCH_INTERVAL)
            if await trio.to_thread.run_sync(hub.healthy):
                misses = 0
                continue
            misses += 1
            if misses < 2 and hub.pid() is not None:
                continue  # running but slow to answer: look again before acting
            misses = 0
            log.warning("the embedded hub on %s does not answer; restarting it", hub.address)
            try:
                await trio.to_thread.run_sync(hub.ensure)
            except errors.BucketfsError as exc:
                log.error("%s", exc.message)

    async def _serve_control(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.runtime.control.unlink()
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            with short_socket_path(self.runtime.control) as address:
                await sock.bind(address)
        finally:
            os.umask(old_umask)
        os.chmod(self.runtime.control, 0o600)
        sock.listen(16)
        listener = trio.SocketListener(sock)
        task_status.started()
        try:
            await trio.serve_listeners(self._handle, [listener])
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.runtime.control.unlink()

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with stream:
            data = b""
            with trio.move_on_after(10):
                while not data.endswith(b"\n") and len(data) < 65536:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    data += chunk
            try:
                req = json.loads(data)
                reply: dict[str, Any] = {"ok": True, "result": await self._answer(req)}
            except MountFailed as exc:
                reply = {"ok": False, "error": exc.message}
            except (ValueError, TypeError, AttributeError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:  # a failing request must not end the mount
                log.exception("control request %r failed", data[:200])
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(json.dumps(reply).encode() + b"\n")

    async def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if self.vfs is None:
            raise MountFailed("the mount is not ready")
        if op == "status":
            return self.status()
        if op in ("flush", "unmount"):
            timeout = float(req.get("timeout", 60.0))
            flushed = await self.vfs.flush_all(timeout)
            result: dict[str, Any] = {"flushed": flushed, "pending": pending_paths(self.vfs)}
            if self.vfs.wb is not None and not flushed:
                result["journal"] = str(self.vfs.wb.root)  # kept for the next mount
            if not flushed and req.get("force"):
                await self.vfs.give_up_pending()  # closed files only; open ones stay
            if op == "unmount":
                if not flushed and not req.get("force"):
                    raise MountFailed("pending writes: " + ", ".join(result["pending"]))
                self._stopping("bucketfs umount")
                self.cancel.cancel()
                result["unmounting"] = True
            return result
        raise MountFailed(f"unknown request {op!r}")


# -- process management ------------------------------------------------------------------------


def setup_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def run_daemon(spec: MountSpec, report: Callable[[str | None, int], None]) -> int:
    """Run the mount until it ends; ``report(None, 0)`` once it is ready, or
    ``report(reason, exit_code)`` if it fails first. Returns the exit code."""
    runtime = RuntimeDir.of(spec.mountpoint)
    ensure_private_dir(runtime.root)
    lock_fd = os.open(runtime.lock, os.O_RDWR | os.O_CREAT, 0o600)
    reported = False

    def ready() -> None:
        nonlocal reported
        reported = True
        report(None, 0)

    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MountFailed(
                f"mountpoint {spec.mountpoint} is busy: another bucketfs mount runs there",
                EXIT_MOUNTPOINT,
            ) from None
        trio.run(Daemon(spec, runtime, ready).run)
        return 0
    except BaseException as exc:
        code = exit_code_of(exc)
        reason = exc.message if isinstance(exc, MountFailed | errors.BucketfsError) else None
        if reason is None:
            log.exception("mount daemon failed")
            reason = f"{type(exc).__name__}: {exc}"
        else:
            log.error("%s", reason)
        if not reported:
            report(reason, code)
        return code
    finally:
        with contextlib.suppress(FileNotFoundError):
            runtime.info.unlink()
        os.close(lock_fd)


def spec_to_json(spec: MountSpec) -> str:
    settings = spec.settings
    data = {
        "mountpoint": str(spec.mountpoint),
        "read_only": spec.read_only,
        "allow_other": spec.allow_other,
        "debug": spec.debug,
        "fsname": spec.fsname,
        "settings": {
            f.name: str(v) if isinstance(v, Path) else v
            for f in dataclasses.fields(settings)
            if (v := getattr(settings, f.name)) is not None
        },
    }
    return json.dumps(data)


def spec_from_json(text: str) -> MountSpec:
    data = json.loads(text)
    values = dict(data["settings"])
    for key in ("identity", "cache_dir"):
        values[key] = Path(values[key])
    return MountSpec(
        Path(data["mountpoint"]),
        config.Settings(**values),
        read_only=data["read_only"],
        allow_other=data["allow_other"],
        debug=data["debug"],
        fsname=data["fsname"],
    )


def daemonize(spec: MountSpec) -> tuple[str | None, int]:
    """Start the daemon (double fork, ``setsid``, stdio to the log file, then a fresh
    interpreter that reads the spec from a pipe, so that no secret is in its command line) and
    wait until it reports; returns ``(None, 0)`` when mounted, else ``(reason, exit_code)``."""
    runtime = RuntimeDir.of(spec.mountpoint)
    ensure_private_dir(runtime.root)
    report_r, report_w = os.pipe()
    spec_r, spec_w = os.pipe()
    os.write(spec_w, spec_to_json(spec).encode())  # small: fits in the pipe buffer
    os.close(spec_w)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child processes
        os.close(report_r)
        _become_daemon(spec.mountpoint, runtime, spec_r, report_w)
    os.close(spec_r)
    os.close(report_w)
    os.waitpid(pid, 0)
    with os.fdopen(report_r, "rb") as pipe:
        line = pipe.readline()
    try:
        message = json.loads(line)
        return message.get("error"), int(message.get("code", 0))
    except ValueError:
        return f"the mount daemon exited before the mount was ready; see {runtime.log}", 1


_DAEMON_MAIN = "from bucketfs.cli.daemon import daemon_main; daemon_main()"


def _become_daemon(
    mountpoint: Path, runtime: RuntimeDir, spec_fd: int, report_fd: int
) -> None:  # pragma: no cover - runs in the child processes
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os.chdir("/")
        os.umask(0o077)
        null = os.open(os.devnull, os.O_RDWR)
        logfd = os.open(runtime.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for target, source in ((0, null), (1, logfd), (2, logfd)):
            os.dup2(source, target)
        os.environ.pop("NOTIFY_SOCKET", None)  # a daemonised mount is not systemd's main pid
        os.set_inheritable(spec_fd, True)
        os.set_inheritable(report_fd, True)
        argv = [sys.executable, "-c", _DAEMON_MAIN, str(spec_fd), str(report_fd), str(mountpoint)]
        os.execv(sys.executable, argv)
    finally:
        os._exit(1)


def daemon_main() -> None:  # pragma: no cover - the daemon process
    """Entry point of the exec'd daemon: ``-c ... SPEC_FD REPORT_FD MOUNTPOINT``."""
    spec_fd, report_fd = int(sys.argv[1]), int(sys.argv[2])
    with os.fdopen(spec_fd, "rb") as pipe:
        spec = spec_from_json(pipe.read().decode())
    setup_logging(spec.debug)

    def report(reason: str | None, exit_code: int) -> None:
        message = {"error": reason, "code": exit_code}
        with contextlib.suppress(OSError):
            os.write(report_fd, json.dumps(message).encode() + b"\n")
            os.close(report_fd)

    code = 1
    try:
        code = run_daemon(spec, report)
    finally:
        logging.shutdown()
        os._exit(code)
