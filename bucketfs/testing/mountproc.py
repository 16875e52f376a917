"""Run a bucketfs mount in a subprocess (pyfuse3 allows one mount per process) for tests.

As a program: ``python -m bucketfs.testing.mountproc MOUNTPOINT --cache-dir DIR [--read-only]
[--plain] [--write-back]`` mounts a ``Vfs`` over an in-process ``FakeHub`` (``--plain``: without the bucketfs
extensions, like a plain Textile hub), or with ``--hub ADDRESS --api-key K --api-secret S`` over
a real hub, and prints ``ready`` when the kernel mount is up. SIGUSR1 takes the fake hub
offline, SIGUSR2 brings it back; SIGTERM/SIGINT flush and unmount cleanly.

``MountProcess`` starts and stops such a process: ``with MountProcess(mnt, cache) as m:``.
"""

from __future__ import annotations

import argparse
import logging
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import trio

READY = "ready"


async def _session(args: argparse.Namespace) -> tuple[object, object]:
    """(session, fake hub or None) for the command line."""
    from bucketfs.testing.fakehub import ALL_EXTENSIONS, PLAIN_TEXTILE, FakeHub, FakeSession

    if not args.hub:
        hub = FakeHub(PLAIN_TEXTILE if args.plain else ALL_EXTENSIONS)
        return FakeSession(hub), hub
    from bucketfs.remote.session import HubConfig, HubSession

    config = HubConfig(args.hub, args.api_key, args.api_secret or None, None, timeout=args.timeout)
    return await HubSession.connect(config), None


async def _serve(args: argparse.Namespace) -> None:
    from bucketfs.fuse.mount import run_mount
    from bucketfs.testing.fakehub import FakeHub
    from bucketfs.vfs import Vfs

    session, hub = await _session(args)
    vfs = Vfs(
        session,  # type: ignore[arg-type]
        cache_dir=args.cache_dir,
        cache_max_bytes=args.cache_max_bytes,
        read_only=args.read_only,
    )
    if args.write_back:
        vfs.enable_write_back(args.cache_dir / "journal")
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
    with trio.open_signal_receiver(*signals) as received:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for sig in received:
                    if sig in (signal.SIGUSR1, signal.SIGUSR2) and isinstance(hub, FakeHub):
                        hub.offline = sig == signal.SIGUSR1
                    elif sig in (signal.SIGTERM, signal.SIGINT):
                        nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await run_mount(
                args.mountpoint,
                vfs,
                read_only=args.read_only,
                allow_other=args.allow_other,
                debug=False,
                ready=lambda: print(READY, flush=True),
            )
            nursery.cancel_scope.cancel()
    aclose = getattr(session, "aclose", None)
    if aclose is not None:
        await aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mountproc")
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--cache-max-bytes", type=int, default=1 << 30)
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--write-back", action="store_true", help="write-back mode (journal)")
    parser.add_argument("--allow-other", action="store_true", help="other users may use it")
    parser.add_argument("--hub", default="", help="a real hub's address instead of the fake")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--api-secret", default="")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-call deadline (s)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("BFS_DEBUG") else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    trio.run(_serve, args)


class MountProcess:
    """A mount subprocess; stopping it flushes, unmounts and waits for the exit."""

    def __init__(
        self,
        mountpoint: Path,
        cache_dir: Path,
        *,
        read_only: bool = False,
        plain: bool = False,
        write_back: bool = False,
        allow_other: bool = False,
        hub: tuple[str, str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.mountpoint = mountpoint
        self.cache_dir = cache_dir
        self.args = [str(mountpoint), "--cache-dir", str(cache_dir)]
        if read_only:
            self.args.append("--read-only")
        if plain:
            self.args.append("--plain")
        if write_back:
            self.args.append("--write-back")
        if allow_other:
            self.args.append("--allow-other")
        if hub is not None:  # (address, API key, API secret) of a real hub
            self.args += ["--hub", hub[0], "--api-key", hub[1], "--api-secret", hub[2]]
        self.log_path = log_path or cache_dir.parent / f"{mountpoint.name}-mount.log"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> MountProcess:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bucketfs.testing.mountproc", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            ready = bool(sel.select(timeout)) and self.proc.stdout.readline().strip() == READY
        if not ready:
            self.stop()
            raise RuntimeError(f"mount did not come up: {self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 60.0) -> int:
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
        if os.path.ismount(self.mountpoint):
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
