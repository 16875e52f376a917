"""End-to-end tests of ``bucketfs mount``/``status``/``umount`` with real processes: a hub
subprocess (or the embedded hub), the daemonised mount, the kernel's FUSE mount."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bucketfs.cli.main import cli
from bucketfs.cli.mount import RuntimeDir, _some, request
from bucketfs.embedded import CLI
from bucketfs.testing.hubproc import HubProcess

from .conftest import UserEnv, mounted, wait_for


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    with HubProcess() as running:
        yield running


@pytest.fixture(scope="module")
def user_key(hub: HubProcess) -> tuple[str, str]:
    return hub.create_key(type="user")


def hub_flags(hub: HubProcess, key: tuple[str, str]) -> list[str]:
    return ["--hub", hub.address, "--api-key", key[0], "--api-secret", key[1]]


def test_mount_status_write_umount_remount(
    user: UserEnv, hub: HubProcess, user_key: tuple[str, str]
) -> None:
    mnt = user.mountpoint()
    result = user.run("mount", str(mnt), *hub_flags(hub, user_key))
    assert result.returncode == 0, (result.stderr, user.logs())
    assert mounted(mnt)
    assert sorted(os.listdir(mnt)) == ["buckets", "threads"]

    info = user.status(mnt)
    assert info["hub"] == hub.address
    assert info["embedded_hub"] is False
    assert str(info["identity"]) == user.ok("identity", "show").strip()
    assert info["mountpoint"] == str(mnt)
    assert info["pending"] == [] and info["dirty_files"] == 0

    (mnt / "buckets" / "docs").mkdir()
    (mnt / "buckets" / "docs" / "note.txt").write_text("kept across mounts\n")
    assert user.status(mnt)["buckets"] == ["docs"]
    human = user.ok("status", str(mnt))
    assert f"hub:         {hub.address}" in human and "buckets:     docs" in human
    assert "cache:       " in human and " of 10.0 GiB in " in human

    again = user.run("mount", str(mnt), *hub_flags(hub, user_key))
    assert again.returncode == 3 and "already mounted" in again.stderr

    pid = int(str(info["pid"]))
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    assert str(mnt).encode() in cmdline and user_key[1].encode() not in cmdline
    user.ok("umount", str(mnt))
    assert not mounted(mnt)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the daemon to be reaped")
    gone = user.run("status", str(mnt))
    assert gone.returncode == 6 and "nothing is mounted" in gone.stderr
    assert user.run("umount", str(mnt)).returncode == 6

    (user.root / "link").symlink_to(mnt.parent)  # the same mountpoint through a symlink
    user.ok("mount", str(user.root / "link" / mnt.name), *hub_flags(hub, user_key))
    assert (mnt / "buckets" / "docs" / "note.txt").read_text() == "kept across mounts\n"
    assert user.status(mnt)["mountpoint"] == str(mnt)
    user.ok("umount", str(mnt))
    for text in (user.logs(), human):
        assert user_key[1] not in text  # the secret is never printed or logged


def test_wrong_secret_and_unreachable_hub(
    user: UserEnv, hub: HubProcess, user_key: tuple[str, str]
) -> None:
    mnt = user.mountpoint()
    _, other_secret = hub.create_key(type="user")
    bad = user.run(
        "mount",
        str(mnt),
        "--hub",
        hub.address,
        "--api-key",
        user_key[0],
        "--api-secret",
        other_secret,
    )
    assert bad.returncode == 5, bad.stderr
    assert hub.address in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert other_secret not in bad.stderr + user.logs()

    unknown = user.run("mount", str(mnt), "--hub", hub.address, "--api-key", "bnokey")
    assert unknown.returncode == 5 and "API key not found" in unknown.stderr

    dead = f"unix:{user.root / 'nothing.sock'}"
    down = user.run("mount", str(mnt), "--hub", dead, "--api-key", user_key[0])
    assert down.returncode == 4, down.stderr
    assert dead in down.stderr and len(down.stderr.strip().splitlines()) == 1
    assert not mounted(mnt)


def test_bad_mountpoints_and_arguments(user: UserEnv) -> None:
    runner = CliRunner(env=user.env)  # in-process: every case fails before the daemon starts

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args))
        return result.exit_code, result.output

    code, out = run("mount", str(user.home / "missing"))
    assert code == 3 and "does not exist" in out
    (user.home / "file").write_text("x")
    code, out = run("mount", str(user.home / "file"))
    assert code == 3 and "not a directory" in out
    code, out = run("mount", str(user.mountpoint()), "--cache-max-size", "huge")
    assert code == 1 and "--cache-max-size" in out
    assert run("mount")[0] == 2
    assert run("mount", str(user.mountpoint()), "--bogus")[0] == 2
    code, out = run("mount", str(user.mountpoint()), "--identity", str(user.home / "no-id"))
    assert code == 1 and "no-id does not exist" in out
    code, out = run("mount", str(user.mountpoint()), "--hub", "127.0.0.1:1")
    assert code == 5 and "no API key for hub 127.0.0.1:1" in out
    code, out = run("umount", "--force", "/proc")  # never touches mounts that are not ours
    assert code == 6 and "nothing is mounted by bucketfs" in out
    code, out = run("status", str(user.mountpoint()))
    assert code == 6 and "nothing is mounted by bucketfs" in out
    assert run("status") == (0, "")  # no mounts: an empty list
    assert not user.hub.pid_file.exists()  # validation failures start nothing


def test_embedded_default_provisions_and_reuses(user: UserEnv) -> None:
    mnt = user.mountpoint()
    user.ok("mount", str(mnt))
    info = user.status(mnt)
    assert info["embedded_hub"] is True and info["hub"] == user.hub.address
    for secret_file in (user.config_file, user.identity_file):
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    first_config = tomllib.loads(user.config_file.read_text())
    key = first_config["embedded"]["api_key"]
    hub_pid = user.hub.pid()
    assert hub_pid is not None and user.hub.log_file.exists()

    (mnt / "buckets" / "photos").mkdir()
    (mnt / "buckets" / "photos" / "cat.txt").write_bytes(b"meow" * 1000)
    user.ok("umount", str(mnt))
    assert user.hub.pid() == hub_pid  # the embedded hub outlives the mount

    user.ok("mount", str(mnt))
    assert user.hub.pid() == hub_pid  # reused, not restarted
    assert tomllib.loads(user.config_file.read_text()) == first_config  # same key reused
    assert (mnt / "buckets" / "photos" / "cat.txt").read_bytes() == b"meow" * 1000
    assert first_config["embedded"]["api_secret"] not in user.logs()
    user.ok("umount", str(mnt))

    os.kill(hub_pid, signal.SIGTERM)  # the documented way to stop it
    wait_for(lambda: user.hub.pid() is None, 15, "the embedded hub to stop")
    user.ok("mount", str(mnt))  # starts it again, with the same key
    assert user.hub.pid() not in (None, hub_pid)
    assert tomllib.loads(user.config_file.read_text())["embedded"]["api_key"] == key
    assert (mnt / "buckets" / "photos" / "cat.txt").read_bytes() == b"meow" * 1000
    user.ok("umount", str(mnt))

    assert user.hub.stop()
    shutil.rmtree(user.hub.data_dir)  # hub data lost: the recorded key is refused, a new one made
    user.ok("mount", str(mnt))
    assert tomllib.loads(user.config_file.read_text())["embedded"]["api_key"] != key
    assert os.listdir(mnt / "buckets") == []
    user.ok("umount", str(mnt))


def test_read_only_mount_ends_on_sigterm(
    user: UserEnv, hub: HubProcess, user_key: tuple[str, str]
) -> None:
    mnt = user.mountpoint()
    flags = ["--read-only", "--cache-max-size", "64M", "--debug"]
    out = user.run("mount", str(mnt), *hub_flags(hub, user_key), *flags)
    assert out.returncode == 0 and "log file" in out.stderr, out.stderr
    assert "options:     read_only, debug" in user.ok("status", str(mnt))
    info = user.status(mnt)
    options = info["options"]
    assert isinstance(options, dict)
    assert options["read_only"] is True and options["cache_max_size"] == 64 * 1024**2
    with pytest.raises(OSError):
        (mnt / "buckets" / "nope").mkdir()

    pid = int(str(info["pid"]))
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not mounted(mnt), 30, "the daemon to unmount")
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the daemon to exit")
    assert user.run("status", str(mnt)).returncode == 6


def test_dead_mount_needs_force(user: UserEnv, hub: HubProcess, user_key: tuple[str, str]) -> None:
    mnt = user.mountpoint()
    user.ok("mount", str(mnt), *hub_flags(hub, user_key))
    pid = int(str(user.status(mnt)["pid"]))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the daemon to die")

    gone = user.run("status", str(mnt))
    assert gone.returncode == 6 and "is gone" in gone.stderr
    remount = user.run("mount", str(mnt), *hub_flags(hub, user_key))
    assert remount.returncode == 3 and "umount --force" in remount.stderr
    plain = user.run("umount", str(mnt))
    assert plain.returncode == 6 and "--force" in plain.stderr
    forced = user.run("umount", "--force", str(mnt))
    assert forced.returncode == 0, forced.stderr
    assert not mounted(mnt)
    user.ok("mount", str(mnt), *hub_flags(hub, user_key))
    user.ok("umount", str(mnt))


def test_foreground_mount(user: UserEnv, hub: HubProcess, user_key: tuple[str, str]) -> None:
    mnt = user.mountpoint()
    proc = subprocess.Popen(
        [*CLI, "mount", "-f", str(mnt), *hub_flags(hub, user_key)],
        env=user.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: user.run("status", str(mnt)).returncode == 0, 60, "the mount")
        user.ok("umount", str(mnt))
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "mounted" in err  # the log goes to stderr in the foreground
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_pending_writes_block_umount(user: UserEnv) -> None:
    mnt = user.mountpoint()
    with HubProcess() as own_hub:
        flags = hub_flags(own_hub, own_hub.create_key(type="user"))
        user.ok("mount", str(mnt), *flags)
        (mnt / "buckets" / "b").mkdir()
        holder = subprocess.Popen(  # keeps a written, unflushed file open
            [sys.executable, "-c", HOLD_OPEN, str(mnt / "buckets" / "b" / "f.txt")],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "written\n"
            own_hub.stop()
            refused = user.run("umount", str(mnt), "--timeout", "5")
            assert refused.returncode == 7, refused.stderr
            assert "pending writes not uploaded: buckets/b/f.txt" in refused.stderr
            assert mounted(mnt)
            assert "buckets/b/f.txt" in user.status(mnt)["pending"]  # type: ignore[operator]
            forced = user.run("umount", "--force", str(mnt), "--timeout", "5")
            assert "giving up on pending writes: buckets/b/f.txt" in forced.stderr
            assert forced.returncode == 3 and "busy" in forced.stderr  # the file is still open
        finally:
            holder.kill()
            holder.communicate()
        user.ok("umount", "--force", str(mnt), "--timeout", "5")
        assert not mounted(mnt)


HOLD_OPEN = """
import sys, time
f = open(sys.argv[1], "w")
f.write("data")
f.flush()
print("written", flush=True)
time.sleep(600)
"""


def test_control_socket(user: UserEnv, hub: HubProcess, user_key: tuple[str, str]) -> None:
    mnt = user.mountpoint()
    user.ok("mount", str(mnt), *hub_flags(hub, user_key))
    runtime = RuntimeDir(user.runtime_dirs[0])
    assert stat.S_IMODE(runtime.control.stat().st_mode) == 0o600
    assert request(runtime.control, {"op": "nope"}, 10) == {
        "ok": False,
        "error": "unknown request 'nope'",
    }
    flushed = request(runtime.control, {"op": "flush", "timeout": 5}, 10)
    assert flushed == {"ok": True, "result": {"flushed": True, "pending": []}}
    pid = int(str(user.status(mnt)["pid"]))
    reply = request(runtime.control, {"op": "unmount"}, 30)
    assert reply["ok"] and reply["result"]["unmounting"] is True
    wait_for(lambda: not mounted(mnt), 30, "the daemon to unmount")
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the daemon to exit")
    assert not runtime.control.exists() and not runtime.info.exists()


def test_concurrent_first_mounts_share_hub_and_key(user: UserEnv) -> None:
    first, second = user.mountpoint("one"), user.mountpoint("two")
    procs = [
        subprocess.Popen(
            [*CLI, "mount", str(mnt)],
            env=user.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mnt in (first, second)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    one, two = user.status(first), user.status(second)
    assert one["hub"] == two["hub"] == user.hub.address
    assert one["identity"] == two["identity"]
    assert user.logs().count("provisioned API key") == 1
    assert user.logs().count("started the embedded hub") == 1
    listed = json.loads(user.ok("status", "--json"))
    assert sorted(m["mountpoint"] for m in listed) == [str(first), str(second)]
    assert str(second) in user.ok("status")
    (first / "buckets" / "shared").mkdir()
    wait_for(lambda: "shared" in os.listdir(second / "buckets"), 30, "the bucket in mount two")
    user.ok("umount", str(first))
    user.ok("umount", str(second))


def _mkdir(path: Path) -> bool:
    """mkdir, False while the mount still takes the hub for down (SEMANTICS: unreachable)."""
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        if exc.errno not in (errno.EHOSTDOWN, errno.ETIMEDOUT):
            raise
        return False
    return True


def test_mount_restarts_a_crashed_embedded_hub(user: UserEnv) -> None:
    mnt = user.mountpoint()
    user.ok("mount", str(mnt))
    (mnt / "buckets" / "before").mkdir()
    crashed = user.hub.pid()
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)
    wait_for(lambda: user.hub.pid() not in (None, crashed), 60, "the hub to be restarted")
    wait_for(user.hub.healthy, 30, "the restarted hub to answer")
    wait_for(lambda: _mkdir(mnt / "buckets" / "after"), 10, "the mount to see the hub back")
    assert sorted(user.status(mnt)["buckets"]) == ["after", "before"]  # type: ignore[arg-type]
    assert "restarting it" in user.logs()
    user.ok("umount", str(mnt))


def test_a_long_write_back_queue_is_named_in_one_short_line() -> None:
    paths = [f"buckets/b/f{i}" for i in range(3409)]
    line = _some(paths)
    assert (
        line == "buckets/b/f0, buckets/b/f1, buckets/b/f2, buckets/b/f3, buckets/b/f4 and 3404 more"
    )
    assert _some(paths[:2]) == "buckets/b/f0, buckets/b/f1"
