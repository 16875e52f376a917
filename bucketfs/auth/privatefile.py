"""Private files for secrets: directories created 0700, files written atomically with mode 0600.

Every secret bucketfs keeps on disk (the identity, the token cache) goes through these helpers,
so that a crash never leaves a half-written file and no other user can ever read one. A file is
written to a temporary sibling opened with ``O_EXCL`` and mode 0600, flushed with ``fsync``, and
then renamed (or, with ``overwrite=False``, hard-linked so an existing file is never replaced) over
the target; the directory is then fsynced so the rename survives a power cut.

Caveat: only directories this module creates get mode 0700; existing parents are left alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from bucketfs.durable import fsync_dir
from bucketfs.errors import AlreadyExists, PermissionDenied

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


class InsecureFile(PermissionDenied):
    """A secret file is readable or writable by users other than its owner."""


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700 (existing ones are kept)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR_MODE)
        os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask


def write_private(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomically replace (or, without ``overwrite``, create) ``path`` with ``data``, mode 0600.

    Raises :class:`~bucketfs.errors.AlreadyExists` when ``overwrite`` is false and ``path`` exists.
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise AlreadyExists(f"{path} already exists") from None
            finally:
                os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def read_private(path: Path, *, what: str) -> bytes:
    """Read a secret file, refusing it when group or others have any permission on it.

    Like ssh with private keys: a secret that others could read must be treated as leaked, and a
    file others can write could be replaced behind our back. ``what`` names the file in errors.
    Raises :class:`FileNotFoundError` when missing and :class:`InsecureFile` when too open.
    """
    with open(path, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if mode & 0o077:
            raise InsecureFile(
                f"{what} {path} is accessible by other users (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
        return handle.read()
