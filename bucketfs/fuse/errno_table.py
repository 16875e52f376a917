"""The one table from ``bucketfs.errors`` to errno, and the logging rule for EIO.

Lookup walks the exception's MRO, so a more specific subclass (e.g. the vfs's
``XattrUnsupported``) can map differently from its base. Anything unexpected becomes EIO, and
EIO is never returned without an error log line naming the hub address and the cause.
"""

from __future__ import annotations

import errno
import logging

from bucketfs import errors
from bucketfs.vfs.tree import XattrUnsupported

log = logging.getLogger("bucketfs.fuse")

ERRNO: dict[type[BaseException], int] = {
    errors.NotFound: errno.ENOENT,
    errors.AlreadyExists: errno.EEXIST,
    errors.NotEmpty: errno.ENOTEMPTY,
    errors.IsADirectory: errno.EISDIR,
    errors.NotADirectory: errno.ENOTDIR,
    errors.CrossDevice: errno.EXDEV,
    errors.InvalidArgument: errno.EINVAL,
    errors.PermissionDenied: errno.EACCES,
    errors.Unauthenticated: errno.EACCES,
    XattrUnsupported: errno.ENOTSUP,
    errors.Unsupported: errno.EPERM,
    errors.NameTooLong: errno.ENAMETOOLONG,
    errors.FileTooLarge: errno.EFBIG,
    errors.QuotaExceeded: errno.EDQUOT,
    errors.NoSpace: errno.ENOSPC,
    errors.ReadOnly: errno.EROFS,
    errors.Conflict: errno.EBUSY,
    errors.TimedOut: errno.ETIMEDOUT,
    errors.HubUnreachable: errno.EHOSTDOWN,
    errors.Unavailable: errno.EIO,
    errors.CorruptData: errno.EIO,
}

# errors that are routine answers, not failures worth a warning
QUIET = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR, errno.EXDEV}


def to_errno(exc: BaseException) -> int:
    """The errno for ``exc`` (EIO when it is not a bucketfs error)."""
    for cls in type(exc).__mro__:
        code = ERRNO.get(cls)
        if code is not None:
            return code
    return errno.EIO


def report(op: str, exc: BaseException, hub: str) -> int:
    """Map ``exc`` for operation ``op`` and log it as its errno deserves; returns the errno."""
    code = to_errno(exc)
    if code == errno.EIO:
        log.error(
            "%s failed: EIO (hub %s): %s: %s",
            op,
            hub,
            type(exc).__name__,
            exc,
            exc_info=not isinstance(exc, errors.BucketfsError),
        )
    elif code not in QUIET:
        log.warning("%s failed: %s (hub %s): %s", op, errno.errorcode.get(code, code), hub, exc)
    return code
