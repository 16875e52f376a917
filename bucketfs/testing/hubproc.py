"""A real hub in a subprocess, for end-to-end tests: ``with HubProcess() as hub: ...``.

The hub runs ``bucketfs hub serve`` (with this interpreter) with a temporary data directory (or one you
pass), listening on a free 127.0.0.1 port (``transport="tcp"``) or on a unix socket in the data
directory (``transport="unix"``). Entering waits for the ready line; leaving stops the hub with
SIGTERM (SIGKILL after a grace period) and removes the temporary directory. ``kill()`` simulates a
crash; ``restart()`` starts it again on the same data directory and address.

``create_key()`` creates API keys in the hub's store as ``bucketfs hub keys create`` does (it works
while the hub runs); ``cli()`` runs other ``bucketfs hub`` commands on the data directory.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from bucketfs.hub.accounts import DEFAULT_ACCOUNT, Accounts
from bucketfs.hub.caller import KeyType
from bucketfs.hub.server import STORE_FILE
from bucketfs.hub.store import open_store

READY_PREFIX = "bucketfs hub listening on "
#: ``bucketfs hub`` run with this interpreter (only the hub's part of the CLI is imported, so the
#: hub starts fast)
HUB_CLI = (sys.executable, "-c", "from bucketfs.cli.hub import hub; hub(prog_name='bucketfs hub')")


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
