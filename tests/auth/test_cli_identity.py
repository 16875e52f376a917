"""``bucketfs identity create|show`` through click's CliRunner and the installed entry point."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bucketfs.auth.identity import Identity, PublicKey
from bucketfs.cli.main import cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"BUCKETFS_CONFIG_DIR": str(tmp_path / "config")}


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_create_then_show_default_location(tmp_path: Path, env: dict[str, str]) -> None:
    code, out, err = run(["identity", "create"], env)
    assert code == 0, err
    path = tmp_path / "config" / "identity"
    public = PublicKey.from_string(out.strip())
    assert Identity.load(path).public_key == public
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in err
    code, shown, _ = run(["identity", "show"], env)
    assert code == 0 and shown.strip() == str(public)
    secret = Identity.load(path).to_string()
    assert secret not in out + err + shown


def test_create_refuses_to_overwrite_without_force(tmp_path: Path, env: dict[str, str]) -> None:
    code, first, _ = run(["identity", "create"], env)
    assert code == 0
    code, out, err = run(["identity", "create"], env)
    assert code == 1 and out == ""
    assert "already exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert run(["identity", "show"], env)[1] == first
    code, second, _ = run(["identity", "create", "--force"], env)
    assert code == 0 and second != first
    assert run(["identity", "show"], env)[1] == second


def test_explicit_identity_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "elsewhere" / "me.key"
    code, out, _ = run(["identity", "create", "--identity", str(path)], env)
    assert code == 0 and path.exists()
    assert not (tmp_path / "config").exists()
    assert run(["identity", "show", "--identity", str(path)], env)[1] == out


def test_show_missing_corrupt_and_insecure_files(tmp_path: Path, env: dict[str, str]) -> None:
    code, out, err = run(["identity", "show"], env)
    assert code == 1 and out == ""
    assert "no identity file" in err and "bucketfs identity create" in err
    assert len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad"
    bad.write_text("garbage\n")
    bad.chmod(0o600)
    code, _, err = run(["identity", "show", "--identity", str(bad)], env)
    assert code == 1 and "not a valid identity" in err and len(err.strip().splitlines()) == 1
    open_file = tmp_path / "open"
    Identity.generate().save(open_file)
    open_file.chmod(0o644)
    code, _, err = run(["identity", "show", "--identity", str(open_file)], env)
    assert code == 1 and "chmod 600" in err and "Traceback" not in err


def test_create_into_unwritable_place(tmp_path: Path, env: dict[str, str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(["identity", "create", "--identity", str(blocker / "identity")], env)
    assert code == 1 and "cannot write identity file" in err


def test_installed_entry_point(tmp_path: Path) -> None:
    exe = shutil.which("bucketfs", path=os.path.dirname(sys.executable))
    assert exe is not None, "the bucketfs entry point is not installed next to this Python"
    env = {**os.environ, "BUCKETFS_CONFIG_DIR": str(tmp_path / "cfg")}
    missing = subprocess.run([exe, "identity", "show"], env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "no identity file" in missing.stderr and "Traceback" not in missing.stderr
    created = subprocess.run([exe, "identity", "create"], env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    saved = Identity.load(tmp_path / "cfg" / "identity")
    assert created.stdout.strip() == str(saved.public_key)
