"""fsync helpers shared by every layer that promises durability on a local disk.

A renamed or newly created file is durable only once its directory entry is, so writers fsync
the file and then its directory (the hub's block store, the mount's write-back journal, the
private key and token files of auth/).
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path, flags: int = os.O_RDONLY) -> None:
    """Open ``path`` with ``flags`` and fsync it."""
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """fsync the directory ``path`` (makes the entries created or renamed in it durable)."""
    fsync_path(path, os.O_RDONLY | os.O_DIRECTORY)
