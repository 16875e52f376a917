"""End to end: a file closed while the hub is down is kept, shown as pending in ``bucketfs
status``, pushed when the hub is back, and ``umount`` waits for it; lookup misses are not errors."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from bucketfs.testing.hubproc import HubProcess

from .conftest import UserEnv, mounted, wait_for


def _flags(hub: HubProcess) -> list[str]:
    key, secret = hub.create_key(type="user")
    return ["--hub", hub.address, "--api-key", key, "--api-secret", secret]


def test_close_while_hub_down_is_pushed_when_it_is_back(user: UserEnv, tmp_path: Path) -> None:
    mnt = user.mountpoint()
    with HubProcess(tmp_path / "hubdata") as hub:
        flags = _flags(hub)
        user.ok("mount", str(mnt), *flags)
        b = mnt / "buckets" / "b"
        b.mkdir()
        assert not (b / "missing").exists()  # an ordinary lookup miss
        assert user.status(mnt)["last_errors"] == []
        f = (b / "f.txt").open("w")
        f.write("survives the outage\n")
        f.flush()  # in the mount's staging file, not yet in the hub
        hub.stop()
        with pytest.raises(OSError) as info:
            f.close()  # close(2) reports that the hub does not have it (SEMANTICS: flush)
        assert info.value.errno in (errno.EHOSTDOWN, errno.ETIMEDOUT)  # SEMANTICS: unreachable
        # the kernel's release fails too: the data stays, listed, retried in the background
        wait_for(lambda: user.status(mnt)["retrying_pushes"] == 1, 60, "a background retry")
        status = user.status(mnt)
        assert status["pending"] == ["buckets/b/f.txt"] and status["dirty_files"] == 1
        refused = user.run("umount", str(mnt), "--timeout", "3")
        assert refused.returncode == 7 and "buckets/b/f.txt" in refused.stderr
        assert mounted(mnt)
        hub.start()
        wait_for(lambda: not user.status(mnt)["pending"], 60, "the retried push")
        assert user.status(mnt)["retrying_pushes"] == 0
        user.ok("umount", str(mnt), "--timeout", "30")
        assert not mounted(mnt)
        user.ok("mount", str(mnt), *flags)  # a fresh look at what the hub has
        assert (mnt / "buckets" / "b" / "f.txt").read_text() == "survives the outage\n"
        user.ok("umount", str(mnt), "--timeout", "30")
