"""Run a bucketfs mount in a subprocess (pyfuse3 allows one mount per process) for tests.

As a program: ``python -m bucketfs.testing.mountproc MOUNTPOINT --cache-dir DIR [--read-only]
[--plain]`` mounts a ``Vfs`` over an in-process ``FakeHub`` (``--plain``: without the bucketfs
extensions, like a plain Textile hub) and prints ``ready`` when the kernel mount is up. SIGUSR1
takes the fake hub offline, SIGUSR2 brings it back; SIGTERM/SIGINT unmount cleanly.

``MountProcess`` starts and stops such a process; ``with MountProcess(mnt, cache) as m:``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import trio

READY = "ready"


async def _serve(args: argparse.Namespace) -> None:
    from bucketfs.fuse.mount import run_mount
    from bucketfs.testing.fakehub import ALL_EXTENSIONS, PLAIN_TEXTILE, FakeHub, FakeSession
    from bucketfs.vfs import Vfs

    hub = FakeHub(PLAIN_TEXTILE if args.plain else ALL_EXTENSIONS)
    vfs = Vfs(
        FakeSession(hub),
        cache_dir=args.cache_dir,
        cache_max_bytes=args.cache_max_bytes,
        read_only=args.read_only,
    )

    def ready() -> None:
        print(READY, flush=True)

    with trio.open_signal_receiver(
        signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2
    ) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for sig in signals:
                    if sig == signal.SIGUSR1:
                        hub.offline = True
                    elif sig == signal.SIGUSR2:
                        hub.offline = False
                    else:
                        nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await run_mount(
                args.mountpoint,
                vfs,
                read_only=args.read_only,
                allow_other=False,
                debug=False,
                ready=ready,
            )
            nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mountproc")
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--cache-max-bytes", type=int, default=1 << 30)
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--plain", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    trio.run(_serve, args)


class MountProcess:
    """A mount subprocess over a fake hub; stopping it unmounts and waits for the exit."""

    def __init__(
        self,
        mountpoint: Path,
        cache_dir: Path,
        *,
        read_only: bool = False,
        plain: bool = False,
        log_path: Path | None = None,
    ) -> None:
        self.mountpoint = mountpoint
        self.cache_dir = cache_dir
        self.args = [str(mountpoint), "--cache-dir", str(cache_dir)]
        if read_only:
            self.args.append("--read-only")
        if plain:
            self.args.append("--plain")
        self.log_path = log_path or cache_dir.parent / f"{mountpoint.name}-mount.log"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 20.0) -> MountProcess:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bucketfs.testing.mountproc", *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()
        if line.strip() != READY or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"mount did not come up: {self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        """Unmount (SIGTERM: flush, then unmount) and wait; returns the exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], check=False)
        code = self.proc.returncode
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        return code

    def __enter__(self) -> MountProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


if __name__ == "__main__":
    main()
    os._exit(0)
