"""A real mount over a real hub process that stops answering (SIGSTOP) or dies (SIGKILL).

What was known keeps serving (stat, ls of cached directories and of the bucket list), a
synchronous create fails within the call budget with the errno docs/SEMANTICS.md names
(ETIMEDOUT for a hub that does not answer, EHOSTDOWN for one that refuses connections), later
calls that need the hub fail at once, write-back creates are accepted, and the mount recovers
without a remount once the hub is back. Durations are printed (``-s``) and only bounded
generously.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bucketfs.testing.hubproc import HubProcess
from bucketfs.testing.mountproc import MountProcess

BOUND = 12.0  # seconds: the call budget (8 s) plus generous slack for a loaded machine


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.monotonic()
    try:
        result: object = fn()
    except OSError as exc:
        result = exc
    return time.monotonic() - start, result


def known(b: Path) -> list[str]:
    os.stat(b / "f")
    os.stat(b / "d" / "inner")
    assert sorted(os.listdir(b.parent)) == ["b"]
    assert sorted(os.listdir(b / "d")) == ["inner"]
    return sorted(os.listdir(b))


@pytest.mark.parametrize("outage", ["stopped", "killed"])
@pytest.mark.parametrize("write_back", [False, True], ids=["sync", "write-back"])
def test_hub_unreachable_while_mounted(tmp_path: Path, outage: str, write_back: bool) -> None:
    with HubProcess() as hub:
        key, secret = hub.create_key(type="account")
        with MountProcess(
            tmp_path / "mnt",
            tmp_path / "cache",
            hub=(hub.address, key, secret),
            write_back=write_back,
        ) as m:
            b = m.mountpoint / "buckets" / "b"
            b.mkdir()
            (b / "f").write_text("x")
            (b / "d").mkdir()
            (b / "d" / "inner").write_text("y")
            assert known(b) == ["d", "f"]
            assert hub.proc is not None
            pid = hub.proc.pid
            if outage == "stopped":
                os.kill(pid, signal.SIGSTOP)
            else:
                hub.kill()
            try:
                time.sleep(1.2)  # past the listing, entry and attribute timeouts
                took, listed = timed(lambda: known(b))
                print(f"\n{outage} {'wb' if write_back else 'sync'}: known names {took:.2f} s")
                assert listed == ["d", "f"], listed
                assert took < BOUND
                again, listed = timed(lambda: known(b))
                print(f"  known names again {again:.2f} s")
                assert listed == ["d", "f"]
                took, made = timed(lambda: (b / "g").write_text("z"))
                print(f"  create g: {took:.2f} s -> {made!r}")
                assert took < BOUND
                if write_back:
                    assert made == 1  # accepted into the journal
                    assert (b / "g").read_text() == "z"
                else:
                    expected = errno.ETIMEDOUT if outage == "stopped" else errno.EHOSTDOWN
                    assert isinstance(made, OSError), made
                    assert made.errno == expected, errno.errorcode.get(made.errno or 0)
                    took, made = timed(lambda: (b / "h").write_text("z"))
                    print(f"  create h (hub known down): {took:.2f} s -> {made!r}")
                    assert isinstance(made, OSError) and made.errno == expected
                    assert took < BOUND
            finally:
                if outage == "stopped":
                    os.kill(pid, signal.SIGCONT)
                else:
                    hub.restart()
            start = time.monotonic()
            while True:
                try:
                    (b / "later").write_text("w")
                    break
                except OSError:
                    assert time.monotonic() - start < 30, "no recovery after the hub came back"
                    time.sleep(0.2)
            print(f"  recovered after {time.monotonic() - start:.2f} s")
            want = ["d", "f", "g", "later"] + ([] if write_back else ["h"])  # sync: closes retried
            assert sorted(os.listdir(b)) == sorted(want)
            log = m.log()
    assert f"hub {hub.address}" in log
    if not write_back:
        name = "ETIMEDOUT" if outage == "stopped" else "EHOSTDOWN"
        assert f"{name} (hub {hub.address})" in log, log
