"""``run_mount``: mount a ``Vfs`` with pyfuse3 and serve it until unmounted or cancelled.

pyfuse3 allows one mount per process. The ordered teardown: stop serving, push dirty files
(``Vfs.flush_all``), unmount, close the vfs. ``ready()`` is called once the kernel mount is up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pyfuse3
import trio

from bucketfs.fuse.ops import BucketOperations
from bucketfs.vfs import Vfs

log = logging.getLogger("bucketfs.fuse")

FLUSH_TIMEOUT = 60.0


def mount_options(
    *, read_only: bool, allow_other: bool, debug: bool, fsname: str = "bucketfs"
) -> set[str]:
    """The FUSE mount options; ``fsname`` is the SOURCE column of the mount table (an fstab
    mount's SOURCE, so that umount(8) finds its ``helper=`` option)."""
    options = set(pyfuse3.default_options)
    options |= {f"fsname={fsname}", "subtype=bucketfs"}
    if read_only:
        options.add("ro")
    if allow_other:
        options.add("allow_other")
    if debug:
        options.add("debug")
    return options


async def run_mount(
    mountpoint: Path,
    vfs: Vfs,
    *,
    read_only: bool,
    allow_other: bool,
    debug: bool,
    ready: Callable[[], None] | None = None,
    fsname: str = "bucketfs",
) -> None:
    """Serve ``vfs`` at ``mountpoint`` until it is unmounted (returns) or this task is cancelled
    (unmounts cleanly, then re-raises the cancellation)."""
    await vfs.start()
    ops = BucketOperations(vfs)
    pyfuse3.init(
        ops,
        str(mountpoint),
        mount_options(read_only=read_only, allow_other=allow_other, debug=debug, fsname=fsname),
    )
    unmounted = False
    try:
        log.info("mounted %s (hub %s)", mountpoint, vfs.hub_address)
        if ready is not None:
            ready()
        await pyfuse3.main()
        unmounted = True
    finally:
        with trio.CancelScope(shield=True):
            if not await vfs.flush_all(FLUSH_TIMEOUT):
                log.error(
                    "unmounting %s with changes not pushed to hub %s", mountpoint, vfs.hub_address
                )
            pyfuse3.close(unmount=not unmounted)
            await vfs.close()
            log.info("unmounted %s", mountpoint)
