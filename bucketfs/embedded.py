"""The embedded hub: the local hub ``bucketfs mount`` uses when no hub is configured.

It is an ordinary ``bucketfs hub serve --data DATA --listen unix:DATA/hub.sock`` process, with
``DATA = paths.hub_data_dir()`` (``~/.local/share/bucketfs/hub``). :meth:`EmbeddedHub.ensure`
reuses it when its socket answers gRPC health, and otherwise starts it detached from the caller
(its own session, reparented to init, stdout and stderr appended to ``DATA/hub.log``, pid in
``DATA/hub.pid``); a lock file makes concurrent mounts start at most one. :func:`provision`
creates a user API key in its store and an identity when they are missing and records the key in the
config file (mode 0600), so later mounts reuse them. Stop it with :meth:`EmbeddedHub.stop`, or
``kill $(cat DATA/hub.pid)``.

Caveat: ``ensure`` and ``stop`` block (subprocesses, polling); call them from a worker thread in
async code.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bucketfs import config, paths
from bucketfs.auth.identity import Identity
from bucketfs.auth.privatefile import ensure_private_dir
from bucketfs.errors import AlreadyExists, BucketfsError, Unavailable

log = logging.getLogger("bucketfs.embedded")

#: the ``bucketfs`` command run with this interpreter, and its ``hub`` group alone (faster)
CLI = (sys.executable, "-c", "from bucketfs.cli.main import cli; cli(prog_name='bucketfs')")
HUB_CLI = (sys.executable, "-c", "from bucketfs.cli.hub import hub; hub(prog_name='bucketfs hub')")
HEALTH_METHOD = "/grpc.health.v1.Health/Check"
#: how long a running hub that missed a quick health check gets before it is deemed hung
SLOW_HEALTH_TIMEOUT = 10.0
_SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}
#: starts argv[2:] in a new session with output appended to argv[1], prints its pid and exits,
#: so that the hub is reparented to init and never becomes a zombie of a long-lived mount.
_LAUNCHER = (
    "import subprocess, sys\n"
    "out = open(sys.argv[1], 'ab')\n"
    "p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=out,\n"
    "                     start_new_session=True, close_fds=True)\n"
    "print(p.pid)\n"
)


def health(address: str, timeout: float = 2.0) -> bool:
    """True when the gRPC server at ``address`` answers the standard health check SERVING."""
    from bucketfs.remote.bridge import open_channel  # grpc: only when needed

    channel = open_channel(address)
    try:
        check = channel.unary_unary(  # no serializers: raw bytes both ways
            HEALTH_METHOD, request_serializer=None, response_deserializer=None
        )
        return bool(check(b"", timeout=timeout) == _SERVING)
    except Exception:  # grpc.RpcError (unreachable, deadline) or a broken server: not healthy
        return False
    finally:
        channel.close()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


class EmbeddedHub:
    """The embedded hub of one data directory (default: ``paths.hub_data_dir()``)."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = (data_dir if data_dir is not None else paths.hub_data_dir()).absolute()
        self.socket = self.data_dir / "hub.sock"
        self.pid_file = self.data_dir / "hub.pid"
        self.log_file = self.data_dir / "hub.log"
        self.address = f"unix:{self.socket}"

    def __repr__(self) -> str:
        return f"EmbeddedHub({str(self.data_dir)!r})"

    def pid(self) -> int | None:
        """The pid of the running embedded hub, or None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if process_alive(pid) else None

    def healthy(self, timeout: float = 2.0) -> bool:
        return self.socket.exists() and health(self.address, timeout)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive, across processes, while starting the hub or provisioning a key."""
        ensure_private_dir(self.data_dir)
        fd = os.open(self.data_dir / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def ensure(self, timeout: float = 30.0) -> bool:
        """Make sure the hub runs and answers; returns True if it was started by this call.

        Raises :class:`~bucketfs.errors.Unavailable` (with the end of its log) when it cannot.
        """
        if self.healthy():
            return False
        with self.lock():
            if self.healthy():
                return False
            self._start(timeout)
            return True

    def _start(self, timeout: float) -> None:
        old = self.pid()
        if old is not None:  # alive but not answering: slow (busy machine), or hung
            if self.healthy(timeout=SLOW_HEALTH_TIMEOUT):
                return
            log.warning("embedded hub pid %d does not answer; stopping it", old)
            self._terminate(old, 10.0)
        cmd = [*HUB_CLI, "serve", "--data", str(self.data_dir), "--listen", self.address]
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(self.log_file), *cmd],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if launched.returncode != 0:
            raise Unavailable(f"cannot start the embedded hub: {launched.stderr.strip()}")
        pid = int(launched.stdout.strip())
        self.pid_file.write_text(f"{pid}\n")
        os.chmod(self.pid_file, 0o600)
        log.info("started the embedded hub (pid %d) on %s", pid, self.address)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy(timeout=1.0):
                return
            if not process_alive(pid):
                break
            time.sleep(0.1)
        tail = self.log_tail()
        if process_alive(pid):
            self._terminate(pid, 5.0)
        raise Unavailable(
            f"the embedded hub on {self.address} did not start (log {self.log_file}): {tail}"
        )

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    @staticmethod
    def _terminate(pid: int, timeout: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if process_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the running hub (SIGTERM, SIGKILL after ``timeout``); False if none ran."""
        pid = self.pid()
        if pid is None:
            return False
        self._terminate(pid, timeout)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return True

    def create_user_key(self) -> tuple[str, str]:
        """A new secure user API key in this hub's store; returns ``(key, secret)``.

        Like ``bucketfs hub keys create --type user``, this opens the store directly, which is
        safe while the hub runs (SQLite transactions), and saves starting an interpreter.
        """
        from bucketfs.hub.accounts import DEFAULT_ACCOUNT, Accounts
        from bucketfs.hub.caller import KeyType
        from bucketfs.hub.server import STORE_FILE
        from bucketfs.hub.store import open_store

        ensure_private_dir(self.data_dir)
        store = open_store(str(self.data_dir / STORE_FILE))
        try:
            os.chmod(self.data_dir / STORE_FILE, 0o600)
            record = Accounts(store).create_key(DEFAULT_ACCOUNT, KeyType.USER, secure=True)
        finally:
            store.close()
        return record.key, record.secret


def ensure_identity(path: Path) -> Identity:
    """Load the identity at ``path``, generating and saving one (mode 0600) if it is missing."""
    try:
        return Identity.load(path)
    except BucketfsError:
        if path.exists():
            raise
    new = Identity.generate()
    try:
        new.save(path, overwrite=False)
    except AlreadyExists:  # another mount created it meanwhile
        return Identity.load(path)
    log.info("created identity %s in %s", new.public_key, path)
    return new


def provision(settings: config.Settings, hub: EmbeddedHub, *, renew: bool = False) -> None:
    """Fill ``settings`` with the embedded hub's address and credentials.

    Uses the API key in the flags/env/config when one is given; otherwise the ``[embedded]`` key
    recorded in the config, creating (and recording) a user key when there is none or ``renew``
    is set (the recorded one was refused, e.g. after the hub data was deleted).
    """
    settings.hub = hub.address
    if settings.api_key:
        return
    refused = settings.embedded_key if renew else None
    with hub.lock():  # concurrent first mounts provision one key, not one each
        recorded = config.read_config().get(config.EMBEDDED_TABLE, {})
        key, secret = recorded.get("api_key"), recorded.get("api_secret")
        if not key or key == refused:
            key, secret = hub.create_user_key()
            config.update_config({}, embedded={"api_key": key, "api_secret": secret})
            log.info("provisioned API key %s on the embedded hub", key)
    settings.embedded_key, settings.embedded_secret = key, secret
    settings.api_key, settings.api_secret = key, secret
