"""systemd's readiness protocol (sd_notify(3)), written out rather than linked to libsystemd.

A ``Type=notify`` unit runs ``bucketfs mount -f``; systemd passes the address of a datagram
socket in ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). The foreground
mount sends ``READY=1`` once the kernel has the mount (and ``STATUS=`` lines a human can read in
``systemctl status``), and ``STOPPING=1`` when it stops (on SIGTERM, or once the kernel
unmounted it). Without ``NOTIFY_SOCKET``
nothing is sent; a send that fails is logged, never fatal.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("bucketfs.daemon")


def notify(*fields: str) -> bool:
    """Send ``fields`` (``READY=1``, ``STATUS=...``) as one datagram; True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        address = "\0" + address[1:]  # the abstract namespace
    elif not address.startswith("/"):
        return False  # unset, or a kind of address (vsock) this does not speak
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", os.environ["NOTIFY_SOCKET"], exc)
        return False
    return True
