"""Shell completion: ``bucketfs completion SHELL`` prints click's script, and the script, run by
a real bash the way bash runs it on TAB, completes sub-commands, flags and ``-o`` options."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bucketfs.embedded import CLI

from .conftest import UserEnv


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef bucketfs"), ("fish", "complete")],
)
def test_completion_script_is_printed(user: UserEnv, shell: str, marker: str) -> None:
    script = user.ok("completion", shell)
    assert marker in script and "_BUCKETFS_COMPLETE" in script
    # the same script that click prints for _BUCKETFS_COMPLETE=SHELL_source
    env = {**user.env, "_BUCKETFS_COMPLETE": f"{shell}_source"}
    direct = subprocess.run(
        [*CLI], capture_output=True, text=True, env=env, check=True, timeout=60
    ).stdout
    assert direct == script


def test_unknown_shell_is_refused(user: UserEnv) -> None:
    result = user.run("completion", "tcsh")
    assert result.returncode == 2 and "tcsh" in result.stderr


@pytest.fixture
def bash_complete(user: UserEnv, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Complete a command line in a real bash with the installed script; returns COMPREPLY."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "bucketfs"
    code = "from bucketfs.cli.main import main; main()"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -c "{code}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**user.env, "PATH": f"{bindir}{os.pathsep}{user.env['PATH']}"}
    script = user.ok("completion", "bash")

    def complete(words: list[str]) -> list[str]:
        quoted = " ".join(f"'{w}'" for w in words)
        program = (
            f"{script}\nCOMP_WORDS=({quoted})\nCOMP_CWORD={len(words) - 1}\n"
            '_bucketfs_completion bucketfs\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        result = subprocess.run(
            ["bash", "--norc", "-c", program],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        )
        return result.stdout.split()

    return complete


def test_bash_completes_subcommands_flags_and_mount_options(bash_complete) -> None:  # type: ignore[no-untyped-def]
    assert set(bash_complete(["bucketfs", ""])) >= {
        "mount",
        "umount",
        "status",
        "hub",
        "identity",
        "completion",
    }
    assert bash_complete(["bucketfs", "um"]) == ["umount"]
    assert bash_complete(["bucketfs", "mount", "/mnt", "--write"]) == ["--write-back"]
    assert "--allow-other" in bash_complete(["bucketfs", "mount", "/mnt", "--"])
    assert bash_complete(["bucketfs", "mount", "/mnt", "-o", "write_back,allow"]) == [
        "write_back,allow_other"
    ]
    assert set(bash_complete(["bucketfs", "mount", "/mnt", "-o", "cache"])) == {
        "cache_dir=",
        "cache_max_size=",
    }
    assert bash_complete(["bucketfs", "completion", "z"]) == ["zsh"]
    # the fstab form (bucketfs SOURCE MOUNTPOINT) completes as mount does
    assert bash_complete(["bucketfs", "embedded", "/mnt", "-o", "ro,write"]) == ["ro,write_back"]
