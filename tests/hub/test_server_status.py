"""The one errors → gRPC status table of the hub (bucketfs/hub/status.py)."""

from __future__ import annotations

import grpc
import pytest

from bucketfs import errors
from bucketfs.hub.status import status_for

C = grpc.StatusCode


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.NotFound("x"), C.NOT_FOUND),
        (errors.AlreadyExists("x"), C.ALREADY_EXISTS),
        (errors.InvalidArgument("x"), C.INVALID_ARGUMENT),
        (errors.PermissionDenied("x"), C.PERMISSION_DENIED),
        (errors.Unauthenticated("x"), C.UNAUTHENTICATED),
        (errors.Unsupported("x"), C.UNIMPLEMENTED),
        (errors.Conflict("x"), C.FAILED_PRECONDITION),
        (errors.QuotaExceeded("x"), C.RESOURCE_EXHAUSTED),
        (errors.NotEmpty("x"), C.FAILED_PRECONDITION),
        (errors.TimedOut("x"), C.DEADLINE_EXCEEDED),
        (errors.Unavailable("x"), C.UNAVAILABLE),
        (errors.CorruptData("x"), C.UNKNOWN),
        (errors.BucketfsError("x"), C.UNKNOWN),
    ],
)
def test_class_defaults(error: errors.BucketfsError, code: grpc.StatusCode) -> None:
    assert status_for(error) == (code, "x")


def test_wire_code_overrides_the_class() -> None:
    assert status_for(errors.NotFound("instance not found", wire_code="UNKNOWN")) == (
        C.UNKNOWN,
        "instance not found",
    )
    assert (
        status_for(errors.TimedOut("late", wire_code="DEADLINE_EXCEEDED"))[0] == C.DEADLINE_EXCEEDED
    )
    # an unknown code name falls back to the class default rather than failing
    assert status_for(errors.NotFound("x", wire_code="NO_SUCH_CODE"))[0] == C.NOT_FOUND


def test_unexpected_errors_are_precise_one_liners() -> None:
    assert status_for(KeyError("dbID")) == (C.UNKNOWN, "internal hub error: KeyError: 'dbID'")
    assert status_for(RuntimeError()) == (C.UNKNOWN, "internal hub error: RuntimeError: no details")
