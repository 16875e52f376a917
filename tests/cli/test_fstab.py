"""fstab and mount(8): ``mount -t fuse.bucketfs SOURCE DIR -o OPTS`` and ``mount -a -T FSTAB``
run ``mount.fuse3``, which runs ``bucketfs SOURCE DIR -o OPTS``; ``umount DIR`` with the
``helper=bucketfs`` option runs ``umount.bucketfs`` (scripts/), which uploads pending writes or
refuses; without it the kernel unmounts at once and the daemon uploads before it exits.

mount(8) drops PATH from the environment of its helpers, so ``bucketfs`` is found on the default
PATH (``scripts/install`` links it in /usr/local/bin); PYTHONPATH passes, and points it at this
checkout's code."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bucketfs import config
from bucketfs.cli import fstab
from bucketfs.cli.main import cli
from bucketfs.errors import InvalidArgument
from bucketfs.testing.hubproc import HubProcess

from .conftest import UserEnv, mounted, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# -- the option parser and the command-line form ------------------------------------------------


def test_every_mount_flag_has_an_o_spelling() -> None:
    mount = cli.commands["mount"]
    flags = {p.name for p in mount.params if isinstance(p, click.Option)}
    flags -= {"foreground", "options", "source", "api_secret", "help"}
    assert flags == set(fstab.BOOLEAN.values()) | set(fstab.VALUED.values())


@given(st.lists(st.sampled_from([*sorted(fstab.IGNORED), "x-systemd.automount", "comment=x"])))
def test_generic_options_are_ignored(options: list[str]) -> None:
    assert fstab.parse_options([",".join(options)]) == {}


VALUES = st.from_regex(r"[A-Za-z0-9/._:]+", fullmatch=True)
BOOLEANS = sorted(set(fstab.BOOLEAN) - {"ro"})  # ro is read_only's other name


@given(
    st.dictionaries(st.sampled_from(sorted(fstab.VALUED)), VALUES),
    st.dictionaries(st.sampled_from(BOOLEANS), st.booleans()),
    st.lists(st.sampled_from(sorted(fstab.IGNORED))),
    st.randoms(),
)
def test_options_round_trip(
    valued: dict[str, str], boolean: dict[str, bool], ignored: list[str], rnd: random.Random
) -> None:
    words = [f"{k}={v}" for k, v in valued.items()]
    words += [k if v else f"{k}=false" for k, v in boolean.items()] + ignored
    rnd.shuffle(words)
    expected = {fstab.VALUED[k]: v for k, v in valued.items()}
    expected.update({fstab.BOOLEAN[k]: v for k, v in boolean.items()})
    assert fstab.parse_options([",".join(words)]) == expected
    assert fstab.parse_options(words) == expected  # -o given once per option


def test_ro_is_read_only() -> None:
    assert fstab.parse_options(["ro"]) == {"read_only": True}
    assert fstab.parse_options(["defaults,rw"]) == {}


@pytest.mark.parametrize(
    "bad", ["write_bak", "api_secret=s", "cache_dir", "cache_dir=", "write_back=maybe"]
)
def test_bad_options_are_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        fstab.parse_options([bad])


def test_the_fstab_form_never_takes_a_subcommand() -> None:
    commands = set(cli.commands)
    for name in commands:
        assert fstab.fstab_args([name, "/mnt"], commands) == [name, "/mnt"]
    assert fstab.fstab_args(["stauts", "/mnt"], commands) == ["stauts", "/mnt"]  # a typo
    assert fstab.fstab_args(["embedded", "/mnt", "-o", "ro"], commands) == [
        "mount",
        "/mnt",
        "--source",
        "embedded",
        "-o",
        "ro",
    ]
    assert fstab.fstab_args(["hub.example.org:443", "/m"], commands)[:4] == [
        "mount",
        "/m",
        "--source",
        "hub.example.org:443",
    ]


def test_unknown_o_option_is_a_usage_error(user: UserEnv) -> None:
    mnt = user.mountpoint()
    result = user.run("embedded", str(mnt), "-o", "defaults,frobnicate")
    assert result.returncode == 2 and "frobnicate" in result.stderr
    assert not mounted(mnt)


def test_embedded_source_wins_over_a_configured_hub(user: UserEnv) -> None:
    settings = config.resolve({"hub": "embedded"}, environ={"BUCKETFS_HUB": "127.0.0.1:1"})
    assert settings.hub is None and settings.embedded_hub
    assert config.resolve({}, environ={"BUCKETFS_HUB": "127.0.0.1:1"}).embedded_hub is False
    mnt = user.mountpoint()
    user.env["BUCKETFS_HUB"] = "127.0.0.1:1"  # nothing listens there
    user.ok("embedded", str(mnt), "-o", "write_back,noauto")  # the fstab form, run directly
    status = user.status(mnt)
    assert status["embedded_hub"] and status["options"]["write_back"]
    assert mounted(mnt)
    user.ok("umount", str(mnt))


# -- real mount(8) and umount(8) -----------------------------------------------------------------


@pytest.fixture
def system(user: UserEnv) -> Iterator[UserEnv]:
    if os.geteuid() != 0:
        pytest.skip("mount -t fuse.bucketfs needs root")
    if shutil.which("bucketfs", path=DEFAULT_PATH) is None or shutil.which("mount.fuse3") is None:
        pytest.fail("no bucketfs on the default PATH, or no mount.fuse3: run scripts/install")
    user.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), user.env.get("PYTHONPATH")]))
    yield user
    for path in user.mountpoints:  # before the user fixture's fusermount3: mount(8)'s utab too
        if mounted(path):
            subprocess.run(["umount", "-i", "-l", str(path)], check=False, timeout=60)


def _helper_installed() -> bool:
    helper = Path("/sbin/umount.bucketfs")
    return (
        helper.exists() and helper.read_bytes() == (ROOT / "scripts/umount.bucketfs").read_bytes()
    )


def sh(user: UserEnv, *cmd: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=user.env,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if ok:
        assert result.returncode == 0, (cmd, result.stderr, user.logs())
    return result


def test_mount_t_and_mount_a_with_umount_flushing(system: UserEnv, tmp_path: Path) -> None:
    if not _helper_installed():
        pytest.fail(
            "/sbin/umount.bucketfs is not this checkout's scripts/umount.bucketfs: run scripts/install"
        )
    user = system
    mnt = user.mountpoint()
    cache = tmp_path / "cache"
    opts = f"defaults,_netdev,allow_other,write_back,noauto,user,nofail,cache_dir={cache},cache_max_size=1G,helper=bucketfs"
    sh(user, "mount", "-t", "fuse.bucketfs", "embedded", str(mnt), "-o", opts)
    assert mounted(mnt)
    status = user.status(mnt)
    assert status["options"]["write_back"] and status["options"]["allow_other"]
    assert status["options"]["cache_max_size"] == 1 << 30
    assert status["options"]["cache_dir"].startswith(str(cache))
    assert status["embedded_hub"]
    (mnt / "buckets" / "b").mkdir()
    (mnt / "buckets" / "b" / "f.txt").write_bytes(b"through fstab\n" * 100_000)
    sh(user, "umount", str(mnt))  # umount.bucketfs: bucketfs umount, which uploads first
    assert not mounted(mnt)
    assert not user.daemon_pids()

    fstab_file = tmp_path / "fstab"
    fstab_file.write_text(
        f"# a test fstab\nembedded {mnt} fuse.bucketfs defaults,_netdev,ro,helper=bucketfs 0 0\n"
    )
    sh(user, "mount", "-a", "-T", str(fstab_file))
    assert mounted(mnt)
    assert (mnt / "buckets" / "b" / "f.txt").read_bytes() == b"through fstab\n" * 100_000
    assert user.status(mnt)["options"]["read_only"]
    sh(user, "umount", str(mnt))
    assert not mounted(mnt)


def test_umount_refuses_while_pending_writes_cannot_be_uploaded(
    system: UserEnv, tmp_path: Path
) -> None:
    if not _helper_installed():
        pytest.fail(
            "/sbin/umount.bucketfs is not this checkout's scripts/umount.bucketfs: run scripts/install"
        )
    user = system
    mnt = user.mountpoint()
    with HubProcess(tmp_path / "hubdata") as hub:
        key, secret = hub.create_key(type="user")
        user.env.update(BUCKETFS_API_KEY=key, BUCKETFS_API_SECRET=secret)
        sh(
            user,
            "mount",
            "-t",
            "fuse.bucketfs",
            hub.address,
            str(mnt),
            "-o",
            "write_back,helper=bucketfs",
        )
        (mnt / "buckets" / "b").mkdir()
        wait_for(lambda: not user.status(mnt)["pending"], 60, "the mkdir upload")
        with (mnt / "buckets" / "b" / "late.txt").open("w") as late:
            late.write("kept\n")
            hub.stop()
        # write-back: close() put it in the journal; the upload waits for the hub
        user.env["BUCKETFS_UMOUNT_TIMEOUT"] = "3"  # how long umount waits for the uploads
        refused = sh(user, "umount", str(mnt), ok=False)
        assert refused.returncode != 0 and "late.txt" in refused.stderr, refused
        assert "pending writes not uploaded" in refused.stderr
        assert mounted(mnt)
        hub.start()
        del user.env["BUCKETFS_UMOUNT_TIMEOUT"]
        sh(user, "umount", str(mnt))
        assert not mounted(mnt)
        sh(user, "mount", "-t", "fuse.bucketfs", hub.address, str(mnt), "-o", "helper=bucketfs")
        assert (mnt / "buckets" / "b" / "late.txt").read_text() == "kept\n"
        sh(user, "umount", str(mnt))


def test_plain_umount_lets_the_daemon_upload_before_it_exits(
    system: UserEnv, tmp_path: Path
) -> None:
    """Without helper=bucketfs (or with fusermount3 -u) the kernel unmounts first; the daemon
    then uploads the write-back queue and exits."""
    user = system
    mnt = user.mountpoint()
    with HubProcess(tmp_path / "hubdata") as hub:
        key, secret = hub.create_key(type="user")
        user.env.update(BUCKETFS_API_KEY=key, BUCKETFS_API_SECRET=secret)
        sh(user, "mount", "-t", "fuse.bucketfs", hub.address, str(mnt), "-o", "write_back")
        (mnt / "buckets" / "b").mkdir()
        data = os.urandom(8 << 20)
        assert hub.proc is not None
        try:
            with (mnt / "buckets" / "b" / "big").open("wb") as big:
                big.write(data)
                os.kill(hub.proc.pid, signal.SIGSTOP)  # the upload cannot finish yet
            assert user.status(mnt)["pending"]
            pids = user.daemon_pids()
            sh(user, "umount", str(mnt))  # no helper: the kernel unmounts at once
            assert not mounted(mnt) and all(_alive(p) for p in pids)
        finally:
            os.kill(hub.proc.pid, signal.SIGCONT)
        wait_for(lambda: not any(_alive(p) for p in pids), 120, "the daemon to upload and exit")
        log = user.logs()
        assert "unmounted" in log and "changes not pushed" not in log, log
        sh(user, "mount", "-t", "fuse.bucketfs", hub.address, str(mnt))
        assert (mnt / "buckets" / "b" / "big").read_bytes() == data
        assert user.status(mnt)["pending"] == []
        sh(user, "umount", str(mnt))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
