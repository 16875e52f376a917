"""The errno table: specific errno per error, EIO only with a log line naming the hub."""

from __future__ import annotations

import errno
import logging

import pytest

from bucketfs import errors
from bucketfs.fuse.errno_table import report, to_errno
from bucketfs.vfs.tree import XattrUnsupported


def test_every_project_error_has_an_errno() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type)
        and issubclass(c, errors.BucketfsError)
        and c is not errors.BucketfsError
    ]
    for cls in classes:
        assert to_errno(cls("x")) != 0
    assert to_errno(errors.NotFound("instance not found", wire_code="UNKNOWN")) == errno.ENOENT
    assert to_errno(XattrUnsupported("x")) == errno.ENOTSUP  # subclass before its base
    assert to_errno(errors.Unsupported("x")) == errno.EPERM
    assert to_errno(RuntimeError("bug")) == errno.EIO


def test_eio_is_logged_with_the_hub_address(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bucketfs.fuse"):
        assert (
            report("read", errors.Unavailable("connection refused"), "unix:/run/hub.sock")
            == errno.EIO
        )
        assert report("lookup", errors.NotFound("x"), "unix:/run/hub.sock") == errno.ENOENT
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "unix:/run/hub.sock" in caplog.text and "connection refused" in caplog.text
    caplog.clear()
