"""The one translation table from ``bucketfs.errors`` to gRPC status, and the decorator that
applies it to every hub handler (unary and streaming alike).

Handlers raise :mod:`bucketfs.errors` classes; :func:`grpc_errors` turns them into a status with
the class's default code (or the error's ``wire_code`` where WIRE.md fixes another one) and the
error's message as details. Any other exception becomes ``UNKNOWN`` with a precise one-line text
(never a traceback, never empty) and is logged with its traceback on the hub side. When the
client has already gone (cancelled stream), the handler just ends.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import grpc

from bucketfs import errors

log = logging.getLogger(__name__)

#: class -> gRPC code; the first matching base class wins (checked in this order).
CODE_BY_CLASS: tuple[tuple[type[errors.BucketfsError], grpc.StatusCode], ...] = (
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.Unsupported, grpc.StatusCode.UNIMPLEMENTED),
    (errors.Conflict, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.QuotaExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.NotEmpty, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.TimedOut, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
)

F = TypeVar("F", bound=Callable[..., Any])


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC code and details the hub sends for ``exc``."""
    if isinstance(exc, errors.BucketfsError):
        message = exc.message or type(exc).__name__
        if exc.wire_code:
            code = getattr(grpc.StatusCode, exc.wire_code, None)
            if isinstance(code, grpc.StatusCode):
                return code, message
        for cls, code in CODE_BY_CLASS:
            if isinstance(exc, cls):
                return code, message
        return grpc.StatusCode.UNKNOWN, message
    text = str(exc) or "no details"
    return grpc.StatusCode.UNKNOWN, f"internal hub error: {type(exc).__name__}: {text}"


def _already_aborted(context: grpc.ServicerContext) -> bool:
    code = getattr(context, "code", None)
    return callable(code) and code() is not None


def _client_gone(context: grpc.ServicerContext, exc: Exception) -> bool:
    """The client cancelled or the call ended: there is nobody to report the error to."""
    return isinstance(exc, grpc.RpcError) or not context.is_active()


def _abort(context: grpc.ServicerContext, exc: Exception) -> None:
    if not isinstance(exc, errors.BucketfsError):
        log.error("unexpected error in hub handler", exc_info=exc)
    code, message = status_for(exc)
    context.abort(code, message)


def grpc_errors(func: F) -> F:
    """Decorate a servicer method ``(self, request_or_iterator, context)`` so that raised errors
    end the call with the mapped status. Works for plain and generator (streaming) methods."""
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def stream_wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from func(self, request, context)
            except Exception as exc:
                if _already_aborted(context):
                    raise
                if _client_gone(context, exc):
                    return
                _abort(context, exc)

        return cast(F, stream_wrapper)

    @functools.wraps(func)
    def unary_wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return func(self, request, context)
        except Exception as exc:
            if _already_aborted(context):
                raise
            if _client_gone(context, exc):
                return None
            _abort(context, exc)

    return cast(F, unary_wrapper)
