"""Untar and ``rm -rf`` with every operation durable when it returns: the ``local-fsync`` target.

A synchronous bucketfs mount returns from ``close()`` once the file is in the hub under its name,
and from ``unlink()``/``rmdir()`` once the hub has the change. The fastest a local disk can give
the same promise is to ``fsync`` each file before its close and its directory after each change
of it. GNU tar and rm cannot be told to do that (tar has no per-file fsync; an ``LD_PRELOAD``
shim or a ``sync`` mount would change more than the durability), so the ``local-fsync`` target
runs these two small Python programs instead of ``tar -xf`` and ``rm -rf``:

* :func:`extract_fsync` — the tarball's members were read into memory before the clock starts
  (:func:`read_members`), so the time is the creates, writes and fsyncs alone; per member:
  ``mkdir`` or ``open(O_CREAT)``, ``write``, ``futimens`` (tar sets mtimes too), ``fsync``,
  ``close``, then ``fsync`` of the parent directory;
* :func:`remove_fsync` — bottom-up: ``unlink``/``rmdir`` of each entry, then ``fsync`` of its
  directory.

Both leave out Python's parsing and walking costs as far as they can, so the limit they give is,
if anything, faster than a port of tar would be (the ratio errs against bucketfs).
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Member:
    name: str
    is_dir: bool
    mode: int
    mtime_ns: int
    data: bytes


def read_members(tarball: Path) -> list[Member]:
    """Every directory and regular file of ``tarball``, with its bytes, in archive order."""
    members = []
    with tarfile.open(tarball) as tar:
        for info in tar:
            if not (info.isdir() or info.isfile()):
                continue
            handle = tar.extractfile(info) if info.isfile() else None
            data = handle.read() if handle is not None else b""
            mtime_ns = int(info.mtime * 1_000_000_000)
            members.append(Member(info.name, info.isdir(), info.mode, mtime_ns, data))
    return members


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def extract_fsync(members: list[Member], dest: Path) -> None:
    """Create ``members`` below ``dest``, each durable (content and name) before the next."""
    for member in members:
        path = dest / member.name
        if member.is_dir:
            path.mkdir(mode=member.mode & 0o7777 | 0o700, exist_ok=True)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            fd = os.open(path, flags, member.mode & 0o7777)
            try:
                os.write(fd, member.data)
                os.utime(fd, ns=(member.mtime_ns, member.mtime_ns))
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_path(path.parent)


def remove_fsync(root: Path) -> None:
    """``rm -rf root`` with the directory of every removed entry fsynced after the removal."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name in filenames:
                os.unlink(name, dir_fd=fd)
                os.fsync(fd)
            for name in dirnames:
                os.rmdir(name, dir_fd=fd)
                os.fsync(fd)
        finally:
            os.close(fd)
    os.rmdir(root)
    _fsync_path(root.parent)
