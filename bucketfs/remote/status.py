"""The one translation from gRPC status to ``bucketfs.errors`` on the client side (STYLE §2).

Textile reports many failures as status UNKNOWN with a Go error text (reference/WIRE.md §3.8,
§4.9), so the text is matched before the status code. ``temporary`` on the returned error says
whether a retry may help; the retry loop (``remote/retry.py``) decides what is retried.
"""

from __future__ import annotations

import grpc

from bucketfs import errors

# (lower-case substring of the status details, error class), first match wins.
_TEXTS: tuple[tuple[str, type[errors.BucketfsError]], ...] = (
    ("update is non-fast-forward", errors.Conflict),
    ("node is a directory", errors.IsADirectory),
    ("not a directory", errors.NotADirectory),
    ("not empty", errors.NotEmpty),
    ("invalid thread token", errors.Unauthenticated),
    ("thread token not found", errors.Unauthenticated),
    ("instance not found", errors.NotFound),
    ("no link named", errors.NotFound),
    ("could not resolve path", errors.NotFound),
    ("collection not found", errors.NotFound),
    ("db not found", errors.NotFound),
    ("thread not found", errors.NotFound),
    ("can't create already existing instance", errors.AlreadyExists),
    ("already registered", errors.AlreadyExists),
    ("already exists", errors.AlreadyExists),
    ("unique constraint violation", errors.AlreadyExists),
    ("storage quota exhausted", errors.QuotaExceeded),
    ("exceeds quota", errors.QuotaExceeded),
    ("app denied net record body", errors.PermissionDenied),
    ("permission denied", errors.PermissionDenied),
    ("instance doesn't correspond to schema", errors.InvalidArgument),
    ("name may only contain", errors.InvalidArgument),
    ("source is root directory", errors.InvalidArgument),
    (".textileseed are not allowed", errors.InvalidArgument),
    ("missing _id attribute", errors.InvalidArgument),
    ("db required", errors.InvalidArgument),
)

_CODES: dict[grpc.StatusCode, type[errors.BucketfsError]] = {
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: errors.InvalidArgument,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.UNIMPLEMENTED: errors.Unsupported,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.QuotaExceeded,
    grpc.StatusCode.ABORTED: errors.Conflict,
    grpc.StatusCode.DATA_LOSS: errors.CorruptData,
    grpc.StatusCode.UNAVAILABLE: errors.HubUnreachable,
    grpc.StatusCode.CANCELLED: errors.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.TimedOut,
}

# Codes whose details are matched against _TEXTS before the code itself decides.
_TEXT_CODES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)

# Texts with which a hub rejects a (cached) user token: forget it and run GetToken again.
_TOKEN_REJECTIONS = ("bad authorization", "invalid thread token", "thread token not found")


def status_of(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    """The status code and details of a failed call (UNKNOWN when grpc gives neither)."""
    code = getattr(err, "code", None)
    details = getattr(err, "details", None)
    status = code() if callable(code) else None
    text = details() if callable(details) else None
    return status or grpc.StatusCode.UNKNOWN, text or ""


def is_token_rejection(err: grpc.RpcError) -> bool:
    """Whether the hub refused the bearer token (stale cache, hub identity changed)."""
    code, details = status_of(err)
    text = details.lower()
    if code not in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNKNOWN,
    ):
        return False
    return any(marker in text for marker in _TOKEN_REJECTIONS)


def error_from_status(
    code: grpc.StatusCode, details: str, *, address: str = "", method: str = ""
) -> errors.BucketfsError:
    """Map one gRPC status to the bucketfs error a caller can act on."""
    text = details.lower()
    cls: type[errors.BucketfsError] | None = None
    if code in _TEXT_CODES:
        cls = next((c for marker, c in _TEXTS if marker in text), None)
    if cls is None:
        cls = _CODES.get(code, errors.BucketfsError)
    if cls in (errors.HubUnreachable, errors.Unavailable, errors.TimedOut):
        where = f"hub {address}" if address else "hub"
        what = f" ({method})" if method else ""
        verb = "did not answer in time" if cls is errors.TimedOut else "is unreachable"
        return cls(f"{where} {verb}{what}: {details or code.name}")
    return cls(details or code.name)


def error_from_rpc(
    err: grpc.RpcError, *, address: str = "", method: str = ""
) -> errors.BucketfsError:
    """``error_from_status`` for a raised ``grpc.RpcError``."""
    code, details = status_of(err)
    return error_from_status(code, details, address=address, method=method)
