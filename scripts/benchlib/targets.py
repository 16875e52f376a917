"""The filesystems ``scripts/bench`` compares, all below one base directory on the same disk.

* :class:`LocalTarget` — a plain directory (the limit);
* :class:`LocalFsyncTarget` — the same directory where every file is fsynced at close and every
  directory change is fsynced (``benchlib.durable``): the limit for per-close durability;
* :class:`RcloneTarget` — ``rclone mount --vfs-cache-mode writes`` of an rclone local remote;
* :class:`NullfsTarget` — ``benchlib/nullfs.py``, an in-memory pyfuse3 filesystem whose
  handlers do nothing: the ceiling of a Python FUSE daemon on the machine;
* :class:`BucketfsTarget` — ``bucketfs mount -f`` (the real CLI, in a subprocess with its config,
  cache and data directories below the base) over a hub of its own (:class:`HubProcess`);
* :class:`BucketfsWritebackTarget` — the same with ``--write-back``.

Each target has ``workdir`` (where workloads create files), ``cold()`` (forget every cache before
a cold measurement: a fresh mount for the FUSE targets, then the kernel's page cache is dropped),
``populate()`` (many small files put where the daemon finds them after ``cold()``, the fastest way
for that target: ``benchlib.populate``) and ``processes()`` (name -> pid of the processes whose
memory and profile matter). Use them as context managers; leaving stops every process the target
started.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from benchlib.populate import push_files, write_files
from bucketfs.testing.hubproc import HubClient, HubProcess, free_tcp_port

#: the ``bucketfs`` console script of this interpreter's environment
BUCKETFS_CLI = str(Path(sys.executable).parent / "bucketfs")
#: the directory holding ``benchlib`` (``scripts/``), for the subprocesses that import it
SCRIPTS_DIR = Path(__file__).resolve().parent.parent


def drop_page_cache() -> bool:
    """``sync; echo 3 > /proc/sys/vm/drop_caches``; False when not permitted (not root)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
    except OSError:
        return False
    return True


def wait_mounted(path: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Wait until ``path`` is a mount point; raise with the log if ``proc`` died or it timed out."""
    deadline = time.monotonic() + timeout
    while not os.path.ismount(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"mount at {path} did not come up (exit {proc.poll()}): {text}")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 60.0) -> None:
    """Wait for ``proc`` to exit (after an unmount), SIGTERM and then SIGKILL if it does not."""
    if proc is None or proc.poll() is not None:
        return
    for action in (None, proc.terminate, proc.kill):
        if action is not None:
            action()
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue


class Target:
    """A filesystem to measure; subclasses start and stop whatever serves it."""

    name = ""
    #: the phases this target runs (None: all)
    phases: tuple[str, ...] | None = None
    #: untar and rm -rf make every file and directory change durable before going on
    fsync_each = False

    def __init__(self, base: Path, *, drop_caches: bool = True) -> None:
        #: whether ``cold()`` drops the kernel's page cache (machine-wide; needs root)
        self.drop_caches = drop_caches
        self.base = base / self.name
        self.base.mkdir(parents=True, exist_ok=True)
        self.workdir = self.base

    def start(self) -> Target:
        return self

    def cold(self, *, forget: bool = True) -> bool:
        """Forget caches (with ``forget=False``, a FUSE daemon's own on-disk cache is kept: only
        the kernel's caches are dropped); returns whether the page cache was dropped."""
        return self.drop_caches and drop_page_cache()

    def processes(self) -> dict[str, int]:
        return {}

    def populate(self, paths: list[str]) -> None:
        """Create the small files ``workdir/path`` of ``paths``; they are there after ``cold()``."""
        write_files(self.workdir, paths)

    def close(self) -> None:
        """Stop everything; the files stay (the caller removes the base directory)."""

    def __enter__(self) -> Target:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class LocalTarget(Target):
    """A plain directory."""

    name = "local"


class LocalFsyncTarget(Target):
    """A plain directory; untar and rm -rf fsync every file at close and every directory after
    each change (``benchlib.durable``). The other phases would measure the local disk again."""

    name = "local-fsync"
    phases = ("tree",)
    fsync_each = True


class _FuseTarget(Target):
    """A FUSE mount served by one foreground subprocess; ``cold()`` remounts."""

    def __init__(self, base: Path, *, drop_caches: bool = True) -> None:
        super().__init__(base, drop_caches=drop_caches)
        self.mountpoint = self.base / "mnt"
        self.mountpoint.mkdir(exist_ok=True)
        self.workdir = self.mountpoint  # the workloads go through the mount
        self.proc: subprocess.Popen[bytes] | None = None
        self.mounts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def forget_cache(self) -> None:
        """Remove the daemon's on-disk cache between mounts."""

    def mount(self) -> None:
        self.mounts += 1
        log = self.base / f"mount-{self.mounts}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=self.env()
            )
        wait_mounted(self.mountpoint, self.proc, log, 60.0)

    def unmount(self) -> None:
        if os.path.ismount(self.mountpoint):
            subprocess.run(["fusermount3", "-u", str(self.mountpoint)], check=False)
        stop_process(self.proc)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], check=False)
        self.proc = None

    def start(self) -> Target:
        self.mount()
        return self

    def cold(self, *, forget: bool = True) -> bool:
        self.unmount()
        if forget:
            self.forget_cache()
        dropped = self.drop_caches and drop_page_cache()
        self.mount()
        return dropped

    def processes(self) -> dict[str, int]:
        return {"mount": self.proc.pid} if self.proc is not None else {}

    def close(self) -> None:
        self.unmount()


class RcloneTarget(_FuseTarget):
    """``rclone mount`` of a local-disk remote with the write cache rclone users turn on.

    rclone uploads a written file 5 s after its close; a file still waiting at unmount stays in
    its cache for the next mount, so before a cold step removes the cache :meth:`unmount` waits
    (through rclone's remote control, ``vfs/stats``) until nothing is queued, as bucketfs-wb's
    ``umount`` waits for its uploads."""

    name = "rclone"

    def __init__(self, base: Path, *, drop_caches: bool = True) -> None:
        super().__init__(base, drop_caches=drop_caches)
        self.rc_port = free_tcp_port()

    def pending_uploads(self) -> int:
        url = f"http://127.0.0.1:{self.rc_port}/vfs/stats"
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10) as r:
            cache = json.load(r).get("diskCache", {})
        return int(cache.get("uploadsInProgress", 0)) + int(cache.get("uploadsQueued", 0))

    def unmount(self) -> None:
        deadline = time.monotonic() + 600
        while self.proc is not None and self.proc.poll() is None and time.monotonic() < deadline:
            try:
                if self.pending_uploads() == 0:
                    break
            except OSError:
                break  # no remote control: nothing to wait for
            time.sleep(0.2)
        super().unmount()

    def command(self) -> list[str]:
        backing = self.base / "remote"
        backing.mkdir(exist_ok=True)
        return [
            "rclone",
            "mount",
            f":local:{backing}",
            str(self.mountpoint),
            "--vfs-cache-mode",
            "writes",
            "--cache-dir",
            str(self.base / "cache"),
            "--config",
            "/dev/null",
            "--rc",
            "--rc-addr",
            f"127.0.0.1:{self.rc_port}",
            "--rc-no-auth",
        ]

    def forget_cache(self) -> None:
        shutil.rmtree(self.base / "cache", ignore_errors=True)

    def populate(self, paths: list[str]) -> None:
        """Into the local remote's directory (rclone lists it again after a remount)."""
        write_files(self.base / "remote", paths)


class NullfsTarget(_FuseTarget):
    """``benchlib/nullfs.py``: pyfuse3 + trio answering from memory with no work at all, the
    ceiling of any Python FUSE daemon on this machine. Its files live in the daemon's memory, so
    ``cold()`` only drops the page cache (a remount would lose them)."""

    name = "pyfuse3"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "benchlib.nullfs", str(self.mountpoint)]

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH", "")
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(SCRIPTS_DIR), path) if p),
        }

    def cold(self, *, forget: bool = True) -> bool:
        return self.drop_caches and drop_page_cache()


class BucketfsTarget(_FuseTarget):
    """``bucketfs mount -f`` over a hub subprocess; files go to the bucket ``bench``."""

    name = "bucketfs"

    def __init__(self, base: Path, *, drop_caches: bool = True) -> None:
        super().__init__(base, drop_caches=drop_caches)
        self.hub = HubProcess(self.base / "hub")
        self.credentials = ("", "", "")
        self.workdir = self.mountpoint / "buckets" / "bench"

    def start(self) -> Target:
        self.hub.start()
        key, secret = self.hub.create_key(type="account")
        self.credentials = (self.hub.address, key, secret)
        self.mount()
        self.workdir.mkdir(exist_ok=True)
        return self

    def env(self) -> dict[str, str]:
        home = self.base / "home"
        return {
            **os.environ,
            "HOME": str(home),
            "BUCKETFS_CONFIG_DIR": str(home / "config"),
            "BUCKETFS_CACHE_DIR": str(home / "cache"),
            "BUCKETFS_DATA_DIR": str(home / "data"),
        }

    def command(self) -> list[str]:
        address, key, secret = self.credentials
        return [
            BUCKETFS_CLI,
            "mount",
            "-f",
            str(self.mountpoint),
            "--hub",
            address,
            "--api-key",
            key,
            "--api-secret",
            secret,
            "--cache-dir",
            str(self.base / "cache"),
        ]

    def unmount(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # flushes pending uploads first, as a user's umount does
            cmd = [BUCKETFS_CLI, "umount", str(self.mountpoint)]
            subprocess.run(cmd, env=self.env(), check=False, capture_output=True, timeout=600)
        super().unmount()

    def forget_cache(self) -> None:
        shutil.rmtree(self.base / "cache", ignore_errors=True)

    def populate(self, paths: list[str]) -> None:
        """Through the hub, as another client of the same account would write them."""
        address, key, secret = self.credentials
        client = HubClient(address, key, secret)
        try:
            push_files(client, "buckets", self.workdir.name, paths)
        finally:
            client.close()

    def processes(self) -> dict[str, int]:
        found = super().processes()
        if self.hub.proc is not None:
            found["hub"] = self.hub.proc.pid
        return found

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.hub.close()


class BucketfsWritebackTarget(BucketfsTarget):
    """The same as :class:`BucketfsTarget` with ``--write-back``: ``close()`` returns once the
    file is in the mount's journal, uploads run in the background, ``fsync()`` makes the journal
    durable, and ``umount`` (so every ``cold()``) waits until the hub has everything."""

    name = "bucketfs-wb"

    def command(self) -> list[str]:
        return [*super().command(), "--write-back"]


def write_back_supported() -> bool:
    """Whether this bucketfs has a write-back mode (``bucketfs mount --write-back``)."""
    try:
        out = subprocess.run(
            [BUCKETFS_CLI, "mount", "--help"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--write-back" in out


#: the bucketfs targets, in the order of the table
BUCKETFS_TARGETS = ("bucketfs", "bucketfs-wb")
TARGETS: dict[str, type[Target]] = {
    cls.name: cls
    for cls in (
        LocalTarget,
        LocalFsyncTarget,
        RcloneTarget,
        NullfsTarget,
        BucketfsTarget,
        BucketfsWritebackTarget,
    )
}
