"""Permissions as the kernel enforces them (``default_permissions``) for another user of an
``--allow-other`` mount, in both commit modes: the modes we report are what decides (each
check failed on 982b69d, where any user could write any file of the mount)."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.testing.mountproc import MountProcess

NOBODY = 65534


@pytest.fixture(params=["sync", "write-back"], scope="module")
def shared(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A mount other users can reach: its parent directories are world-searchable."""
    base = Path(tempfile.mkdtemp(prefix="bucketfs-perm-"))
    base.chmod(0o755)
    try:
        with MountProcess(
            base / "mnt", base / "cache", write_back=request.param == "write-back", allow_other=True
        ) as m:
            yield m.mountpoint
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as user and group 65534 (no supplementary groups)."""
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_another_user_gets_eacces_where_the_modes_say_so(shared: Path) -> None:
    b = shared / "buckets" / "perm"
    b.mkdir(exist_ok=True)
    (b / "public").write_text("read me")
    (b / "secret").write_text("not for you")
    os.chmod(b / "secret", 0o600)
    (b / "closed").mkdir(exist_ok=True)
    os.chmod(b / "closed", 0o700)
    assert as_nobody("cat", str(b / "public")).stdout == "read me"
    denied = as_nobody("cat", str(b / "secret"))
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    write = as_nobody("sh", "-c", f"echo x >> {b / 'public'}")
    assert write.returncode != 0 and "Permission denied" in write.stderr
    create = as_nobody("touch", str(b / "mine"))
    assert create.returncode != 0 and "Permission denied" in create.stderr
    listing = as_nobody("ls", str(b / "closed"))
    assert listing.returncode != 0 and "Permission denied" in listing.stderr
    assert (b / "public").read_text() == "read me" and not (b / "mine").exists()


def test_a_sticky_world_writable_directory(shared: Path) -> None:
    b = shared / "buckets" / "sticky"
    b.mkdir(exist_ok=True)
    tmp = b / "tmp"
    tmp.mkdir(exist_ok=True)
    os.chmod(tmp, 0o1777)
    assert stat.S_IMODE(tmp.stat().st_mode) == 0o1777
    (tmp / "roots").write_text("owned by the mounting user")
    made = as_nobody("sh", "-c", f"echo hi > {tmp / 'theirs'}")
    assert made.returncode == 0, made.stderr
    assert (tmp / "theirs").read_text() == "hi\n"
    removed = as_nobody("rm", "-f", str(tmp / "roots"))
    assert removed.returncode != 0 and "not permitted" in removed.stderr
    renamed = as_nobody("mv", str(tmp / "roots"), str(tmp / "moved"))
    assert renamed.returncode != 0
    assert (tmp / "roots").exists() and not (tmp / "moved").exists()
