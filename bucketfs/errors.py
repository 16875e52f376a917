"""The project's error vocabulary, shared by every layer.

Each class names one failure a user can act on. The FUSE adapter maps them to errno with one
table (``bucketfs.fuse.errno_table``), the hub maps them to gRPC status with one decorator, and
the remote clients map gRPC status back to them. ``temporary`` says whether retrying may help.
"""

from __future__ import annotations


class BucketfsError(Exception):
    """Base class of every error bucketfs raises on purpose."""

    temporary = False

    def __init__(self, message: str = "", *, wire_code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        #: gRPC status code name to use on the wire instead of the class default, for the
        #: errors whose code WIRE.md fixes (many upstream errors travel as UNKNOWN + text).
        self.wire_code = wire_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotFound(BucketfsError):
    """No such file, bucket, thread, collection or instance."""


class AlreadyExists(BucketfsError):
    """The name is taken."""


class NotEmpty(BucketfsError):
    """The directory, bucket, database or collection is not empty."""


class IsADirectory(BucketfsError):
    """The path is a directory where a file was expected."""


class NotADirectory(BucketfsError):
    """The path is a file where a directory was expected."""


class CrossDevice(BucketfsError):
    """The operation would cross a bucket or database boundary."""


class InvalidArgument(BucketfsError):
    """The input is malformed or violates a schema."""


class PermissionDenied(BucketfsError):
    """The hub refused the caller access."""


class Unauthenticated(BucketfsError):
    """Credentials are missing, unknown, malformed or expired."""


class Unsupported(BucketfsError):
    """The operation is not supported here."""


class NameTooLong(BucketfsError):
    """A file name is longer than ``NAME_MAX`` bytes."""


class FileTooLarge(BucketfsError):
    """A file would grow past the largest size the mount stores."""


class QuotaExceeded(BucketfsError):
    """A storage or usage quota is exhausted."""


class NoSpace(BucketfsError):
    """The local cache or staging area is full."""


class ReadOnly(BucketfsError):
    """The mount or object is read-only."""


class Conflict(BucketfsError):
    """The update is not a fast-forward of the state it was based on."""

    temporary = True


class Unavailable(BucketfsError):
    """The hub cannot be reached right now."""

    temporary = True


class HubUnreachable(Unavailable):
    """The hub refused the connection or cannot be reached (not running, network down)."""


class TimedOut(BucketfsError):
    """The hub did not answer in time."""

    temporary = True


class CorruptData(BucketfsError):
    """Stored bytes do not match their content address or are otherwise damaged."""
