"""``bucketfs mount``, ``bucketfs umount`` and ``bucketfs status``.

``mount`` resolves the settings (flag > ``BUCKETFS_*`` environment > config file > default, see
``bucketfs.config``), checks the mountpoint, and runs the mount daemon (``bucketfs.cli.daemon``):
daemonised, returning once the mount is ready, or in the foreground with ``-f``. ``umount`` and
``status`` talk to the daemon over its control socket, found from the mountpoint (this module
holds the runtime-file layout and the control client; the daemon imports them from here, and
this module imports the daemon only when mounting, so ``status`` and ``umount`` start fast).

Exit status (README.md, "Mounting"): 0 success; 1 other failure; 2 bad usage; 3 mountpoint
missing, not a directory, busy or already mounted; 4 hub unreachable; 5 no API key, or the
credentials were refused; 6 nothing mounted there; 7 pending writes could not be uploaded
(umount without ``--force``).
Every failure is one line on stderr.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from bucketfs import config, paths
from bucketfs.cli import fstab, progress
from bucketfs.embedded import process_alive
from bucketfs.errors import BucketfsError

# exit codes (README.md, "Mounting")
EXIT_ERROR = 1
EXIT_MOUNTPOINT = 3
EXIT_HUB = 4
EXIT_AUTH = 5
EXIT_NOT_MOUNTED = 6
EXIT_PENDING = 7

_MAX_SUN_PATH = 100
PROG = "bucketfs"


# -- runtime files -----------------------------------------------------------------------------


def mount_id(mountpoint: Path) -> str:
    """A stable short name for a mountpoint: a hash of its path with the parent's symlinks
    resolved. The mountpoint itself is never looked at: inside the daemon that would deadlock
    before the FUSE loop runs, and on a dead mount it fails with ENOTCONN."""
    mountpoint = Path(mountpoint).absolute()
    real = os.path.join(os.path.realpath(mountpoint.parent), mountpoint.name)
    return hashlib.sha256(real.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RuntimeDir:
    """The runtime files of the mount at one mountpoint."""

    root: Path

    @classmethod
    def of(cls, mountpoint: Path) -> RuntimeDir:
        return cls(paths.cache_dir() / "mounts" / mount_id(mountpoint))

    @property
    def control(self) -> Path:
        return self.root / "control.sock"

    @property
    def info(self) -> Path:
        return self.root / "daemon.json"

    @property
    def lock(self) -> Path:
        return self.root / "daemon.lock"

    @property
    def log(self) -> Path:
        return self.root / "mount.log"

    def read_info(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.info.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def locked(self) -> bool:
        """True while a daemon holds the lock of this mountpoint."""
        try:
            fd = os.open(self.lock, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


@contextlib.contextmanager
def short_socket_path(path: Path) -> Iterator[str]:
    """A name for ``path`` short enough for a unix socket address (``/proc/self/fd/N/name``)."""
    if len(os.fsencode(path)) <= _MAX_SUN_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def request(control: Path, message: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    """Send one request to a control socket and return the reply (raises OSError, ValueError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        with short_socket_path(control) as address:
            sock.connect(address)
        sock.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data)
    if not isinstance(reply, dict):
        raise ValueError("malformed reply")
    return reply


class Failure(click.ClickException):
    """A one-line error with a documented exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.code


def _mountpoint_arg(text: str) -> Path:
    """The mountpoint as the kernel will name it: absolute, the parent's symlinks resolved (the
    mountpoint itself is not looked at; it may be a dead mount)."""
    path = Path(text).expanduser().absolute()
    return Path(os.path.realpath(path.parent)) / path.name


def _stat_mountpoint(mountpoint: Path) -> os.stat_result | None:
    """``os.stat`` of the mountpoint, None for a dead FUSE mount (daemon gone)."""
    try:
        return os.stat(mountpoint)
    except FileNotFoundError:
        raise Failure(f"mountpoint {mountpoint} does not exist", EXIT_MOUNTPOINT) from None
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            return None
        raise Failure(f"mountpoint {mountpoint}: {exc.strerror}", EXIT_MOUNTPOINT) from None


def check_mountpoint(mountpoint: Path) -> None:
    """Refuse a mountpoint that is missing, not a directory, mounted or in use by a mount."""
    st = _stat_mountpoint(mountpoint)
    if st is None:
        raise Failure(
            f"mountpoint {mountpoint} is a dead mount (its daemon is gone); "
            f"run: bucketfs umount --force {mountpoint}",
            EXIT_MOUNTPOINT,
        )
    if not os.path.isdir(mountpoint):
        raise Failure(f"mountpoint {mountpoint} is not a directory", EXIT_MOUNTPOINT)
    if os.path.ismount(mountpoint):
        raise Failure(f"mountpoint {mountpoint} is already mounted", EXIT_MOUNTPOINT)
    if RuntimeDir.of(mountpoint).locked():
        raise Failure(
            f"mountpoint {mountpoint} is busy: another bucketfs mount runs there",
            EXIT_MOUNTPOINT,
        )
    if not os.access(mountpoint, os.R_OK | os.W_OK | os.X_OK):
        raise Failure(f"mountpoint {mountpoint}: permission denied", EXIT_MOUNTPOINT)


@click.command()
@click.argument("mountpoint", type=_mountpoint_arg)
@click.option(
    "--hub",
    default=None,
    help="Hub address HOST:PORT or unix:PATH, or 'embedded' (the default when none is set).",
)
@click.option("--api-key", default=None, help="API key (default: the embedded hub's).")
@click.option("--api-secret", default=None, help="API secret (prefer BUCKETFS_API_SECRET).")
@click.option(
    "--identity", default=None, help="Identity file (default: ~/.config/bucketfs/identity)."
)
@click.option("--thread", default=None, help="Name of the buckets thread DB (default: buckets).")
@click.option("-f", "--foreground", is_flag=True, help="Stay in the foreground; log to stderr.")
@click.option("--read-only", is_flag=True, help="Mount read-only.")
@click.option("--allow-other", is_flag=True, help="Let other users access the mount.")
@click.option(
    "--cache-dir", default=None, help="Content cache directory (default: ~/.cache/bucketfs)."
)
@click.option(
    "--cache-max-size", default=None, help="Content cache bound, e.g. 10G (default: 10G)."
)
@click.option("--debug", is_flag=True, help="Debug logging (and print the log file's path).")
@click.option(
    "--write-back",
    is_flag=True,
    default=None,
    help="close() returns once the data is in an on-disk journal; uploads run in the background.",
)
@click.option("--source", default=None, hidden=True, help="The fstab form's SOURCE.")
@click.option(
    "-o",
    "options",
    multiple=True,
    metavar="OPT[,OPT...]",
    shell_complete=fstab.complete_options,
    help="Mount options as in fstab: write_back, allow_other, ro (read_only), debug, hub=, "
    "api_key=, identity=, thread=, cache_dir=, cache_max_size=; mount(8)'s generic options "
    "(defaults, noauto, user, _netdev, nofail, rw, dev, suid, exec, x-*...) are ignored.",
)
def mount(
    mountpoint: Path,
    foreground: bool,
    read_only: bool,
    allow_other: bool,
    debug: bool,
    options: tuple[str, ...],
    source: str | None,
    **flags: str | bool | None,
) -> None:
    """Mount buckets and thread DBs at MOUNTPOINT (with no hub configured: the embedded hub).

    \b
    fstab:  embedded  /mnt/hub  fuse.bucketfs  defaults,_netdev,write_back  0 0
    (mount.fuse3 runs: bucketfs SOURCE MOUNTPOINT -o OPTIONS)
    """
    try:
        extra = fstab.parse_options(options)
    except BucketfsError as exc:
        raise click.UsageError(exc.message) from None
    read_only = read_only or bool(extra.pop("read_only", False))
    allow_other = allow_other or bool(extra.pop("allow_other", False))
    debug = debug or bool(extra.pop("debug", False))
    flags = {k: v if v is not None else extra.get(k) for k, v in flags.items()}
    if source is not None and flags.get("hub") is None:
        flags["hub"] = source
    try:
        settings = config.resolve(flags)
    except BucketfsError as exc:
        raise Failure(exc.message) from None
    if settings.hub and not settings.api_key:
        raise Failure(
            f"no API key for hub {settings.hub}: use --api-key, BUCKETFS_API_KEY or api_key "
            f"in {paths.config_file()}",
            EXIT_AUTH,
        )
    if settings.sources["identity"] != "default" and not settings.identity.exists():
        raise Failure(f"identity file {settings.identity} does not exist")
    check_mountpoint(mountpoint)
    from bucketfs.cli import daemon  # the mount's heavy imports, not needed by status/umount

    spec = daemon.MountSpec(mountpoint, settings, read_only, allow_other, debug, source or PROG)
    runtime = RuntimeDir.of(mountpoint)
    if foreground:
        daemon.setup_logging(debug)
        failure: list[tuple[str, int]] = []

        def report(reason: str | None, code: int) -> None:
            if reason is not None:
                failure.append((reason, code))

        code = daemon.run_daemon(spec, report)
        if failure:
            raise Failure(*failure[0])
        if code:
            raise Failure("the mount ended with an error; see the log above", code)
        return
    if debug:
        click.echo(f"bucketfs: log file {runtime.log}", err=True)
    reason, code = daemon.daemonize(spec)
    if reason is not None:
        raise Failure(reason, code or EXIT_ERROR)


def _daemon_info(mountpoint: Path) -> tuple[RuntimeDir, dict[str, Any] | None]:
    runtime = RuntimeDir.of(mountpoint)
    info = runtime.read_info()
    pid = info.get("pid") if info is not None else None
    if not isinstance(pid, int) or pid <= 0 or not process_alive(pid):
        info = None
    return runtime, info


def _ask(runtime: RuntimeDir, message: dict[str, Any], timeout: float | None) -> dict[str, Any]:
    try:
        reply = request(runtime.control, message, timeout)
    except (OSError, ValueError) as exc:
        raise Failure(f"the mount daemon does not answer ({exc})") from None
    if not reply.get("ok"):
        raise Failure(str(reply.get("error")))
    result = reply.get("result")
    return result if isinstance(result, dict) else {}


def bucketfs_mounted(mountpoint: Path) -> bool:
    """True when the kernel has a bucketfs FUSE mount (live or dead) at ``mountpoint``."""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 3 or fields[2] != "fuse.bucketfs":
                continue
            where = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            if where == str(mountpoint):
                return True
    return False


def _not_mounted(mountpoint: Path) -> Failure:
    if _stat_mountpoint(mountpoint) is None:
        return Failure(
            f"the daemon of the mount at {mountpoint} is gone; "
            f"run: bucketfs umount --force {mountpoint}",
            EXIT_NOT_MOUNTED,
        )
    return Failure(f"nothing is mounted by bucketfs at {mountpoint}", EXIT_NOT_MOUNTED)


def fusermount(mountpoint: Path, *, lazy: bool = False) -> None:
    cmd = ["fusermount3", "-u", *(["-z"] if lazy else []), str(mountpoint)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
        raise Failure(f"cannot unmount {mountpoint}: {message}", EXIT_MOUNTPOINT)


@click.command()
@click.argument("mountpoint", type=_mountpoint_arg)
@click.option("--force", is_flag=True, help="Give up on pending writes; unmount a dead mount.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for uploads.")
def umount(mountpoint: Path, force: bool, timeout: float) -> None:
    """Upload pending writes, unmount MOUNTPOINT and wait for its daemon to exit."""
    runtime, info = _daemon_info(mountpoint)
    if info is None:
        if not force or not bucketfs_mounted(mountpoint):
            raise _not_mounted(mountpoint)
        fusermount(mountpoint, lazy=True)
        click.echo(f"bucketfs: lazily unmounted {mountpoint}; unsaved changes are lost", err=True)
        return
    pid = int(info["pid"])
    try:
        _flush(runtime, force, timeout)
    except Failure as exc:
        if not force or exc.code == EXIT_PENDING:
            raise
        click.echo(f"bucketfs: warning: {exc.message}; unmounting lazily", err=True)
        fusermount(mountpoint, lazy=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        _wait_exit(pid, mountpoint, timeout)
        return
    fusermount(mountpoint)
    _wait_exit(pid, mountpoint, timeout)


def _some(paths: list[str], shown: int = 5) -> str:
    """The first ``shown`` of ``paths`` and how many more (a write-back queue can hold
    thousands: one line, not a page)."""
    more = len(paths) - shown
    return ", ".join(paths[:shown]) + (f" and {more} more" if more > 0 else "")


def _flush(runtime: RuntimeDir, force: bool, timeout: float) -> None:
    """Ask the daemon to upload pending writes; refuse (or, with ``force``, warn) if it can't."""
    status = _ask(runtime, {"op": "status"}, 10)
    pending = status.get("pending") or []
    if pending:
        click.echo(
            f"bucketfs: uploading {len(pending)} pending change(s): {_some(pending)}", err=True
        )
    stream = sys.stderr
    result = progress.wait_with_progress(
        lambda: _ask(runtime, {"op": "flush", "timeout": timeout, "force": force}, timeout + 30),
        lambda: _ask(runtime, {"op": "status"}, 5),
        progress.Progress(stream, stream.isatty()),
    )
    if not result.get("flushed"):
        names = _some(result.get("pending") or [])
        if result.get("journal"):
            if not force:
                raise Failure(
                    f"pending writes not uploaded: {names}; retry, or use --force to leave them "
                    f"in the write-back journal for the next mount",
                    EXIT_PENDING,
                )
            click.echo(
                f"bucketfs: warning: not uploaded yet: {names}; they stay in the write-back "
                f"journal {result['journal']} and the next mount uploads them",
                err=True,
            )
            return
        if not force:
            raise Failure(
                f"pending writes not uploaded: {names}; retry, or use --force to lose them",
                EXIT_PENDING,
            )
        click.echo(f"bucketfs: warning: giving up on pending writes: {names}", err=True)


def _wait_exit(pid: int, mountpoint: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            raise Failure(f"unmounted {mountpoint}, but its daemon (pid {pid}) did not exit")
        time.sleep(0.05)


_size = progress.size


def _transfer(t: dict[str, Any]) -> str:
    """``path done of total at rate`` of one transfer in ``status``."""
    where = t.get("path", "")
    rate = f"{_size(t.get('rate'))}/s"
    return f"{where} {_size(t.get('done'))} of {_size(t.get('total'))} at {rate}".strip()


def _human(status: dict[str, Any]) -> str:
    cache = status.get("cache") or {}
    options = status.get("options") or {}
    hub = f"{status.get('hub')}{' (embedded)' if status.get('embedded_hub') else ''}"
    lines = [
        f"mountpoint:  {status.get('mountpoint')} (pid {status.get('pid')})",
        f"hub:         {hub}",
        f"identity:    {status.get('identity')}",
        f"thread:      {options.get('thread')} ({status.get('thread') or 'not created yet'})",
        f"buckets:     {', '.join(status.get('buckets') or []) or '(none)'}",
        f"cache:       {_size(cache.get('used_bytes'))} of {_size(cache.get('max_bytes'))} "
        f"in {cache.get('files', '?')} files ({options.get('cache_dir')})",
        f"open files:  {status.get('open_files')}, dirty: {status.get('dirty_files')}",
        "options:     "
        + (
            ", ".join(
                k for k in ("read_only", "allow_other", "debug", "write_back") if options.get(k)
            )
            or "-"
        ),
        f"log:         {status.get('log')}",
    ]
    wb = status.get("write_back")
    if isinstance(wb, dict):
        lines.append(
            f"write-back:  {wb.get('pending_files')} file(s), {_size(wb.get('pending_bytes'))} "
            f"and {wb.get('pending_changes')} change(s) in all to upload ({wb.get('journal')})"
        )
    else:
        lines.append("write-back:  off (synchronous: close() returns once the hub has the data)")
    transfers = status.get("transfers") or {}
    for t in transfers.get("uploads") or []:
        lines.append(f"uploading:   {_transfer(t)}, waited {t.get('waited_s', 0):.1f} s")
    for t in transfers.get("downloads") or []:
        lines.append(f"download:    {t.get('cid')} {_transfer(t)}")
    for t in transfers.get("failed_uploads") or []:
        lines.append(f"failed:      {t.get('path')}: {t.get('last_error')}")
    for name in status.get("pending") or []:
        lines.append(f"pending:     {name}")
    for err in status.get("last_errors") or []:
        lines.append(f"error:       {err}")
    for item in status.get("conflicts") or []:
        lines.append(f"conflict:    {item}")
    return "\n".join(lines)


def running_mounts() -> list[dict[str, Any]]:
    """The ``daemon.json`` of every running mount daemon of this user."""
    found = []
    for root in sorted((paths.cache_dir() / "mounts").glob("*")):
        info = RuntimeDir(root).read_info() or {}
        pid = info.get("pid")
        if isinstance(pid, int) and pid > 0 and process_alive(pid) and "mountpoint" in info:
            found.append(info)
    return found


@click.command()
@click.argument("mountpoint", type=_mountpoint_arg, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option(
    "--watch", is_flag=True, help="Refresh until interrupted (with --json: one per line)."
)
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes.")
def status(mountpoint: Path | None, as_json: bool, watch: bool, interval: float) -> None:
    """Show the hub, identity, buckets, cache use, open and dirty files, the write-back queue,
    last errors of the mount at MOUNTPOINT; without MOUNTPOINT, list the running mounts."""
    if watch and mountpoint is not None:
        with contextlib.suppress(KeyboardInterrupt):
            _watch(mountpoint, as_json, interval)
        return
    if mountpoint is None:
        mounts = running_mounts()
        if as_json:
            click.echo(json.dumps(mounts, indent=2, sort_keys=True))
        for entry in [] if as_json else mounts:
            click.echo(f"{entry['mountpoint']}  pid {entry['pid']}  hub {entry.get('hub')}")
        return
    runtime, info = _daemon_info(mountpoint)
    if info is None:
        raise _not_mounted(mountpoint)
    result = _ask(runtime, {"op": "status"}, 10)
    click.echo(json.dumps(result, indent=2, sort_keys=True) if as_json else _human(result))


def _watch(mountpoint: Path, as_json: bool, interval: float) -> None:
    """``status --watch``: redraw on a terminal, else one block (or JSON line) per refresh."""
    tty = sys.stdout.isatty()
    while True:
        runtime, info = _daemon_info(mountpoint)
        if info is None:
            raise _not_mounted(mountpoint)
        result = _ask(runtime, {"op": "status"}, 10)
        if as_json:
            click.echo(json.dumps(result, sort_keys=True))
        else:
            if tty:
                click.clear()
            click.echo(f"-- {time.strftime('%H:%M:%S')}\n{_human(result)}")
        time.sleep(interval)
