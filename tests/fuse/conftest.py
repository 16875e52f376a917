"""Fixtures for real FUSE mounts: a mount subprocess over a fake hub (bucketfs.testing.mountproc)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bucketfs.testing.mountproc import MountProcess

if not os.path.exists("/dev/fuse"):  # pragma: no cover - the CI machine has FUSE
    raise RuntimeError("these tests need /dev/fuse")


@pytest.fixture(scope="module")
def mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MountProcess]:
    base = tmp_path_factory.mktemp("mnt")
    with MountProcess(base / "mnt", base / "cache") as m:
        yield m
        log = m.log()
    assert " ERROR " not in log and "Traceback" not in log, log


@pytest.fixture
def bucket(mount: MountProcess, request: pytest.FixtureRequest) -> Path:
    """A fresh bucket named after the test."""
    path = mount.mountpoint / "buckets" / request.node.name.replace("[", "-").rstrip("]")[:60]
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of part of the source tree, ``bucketfs/{vfs,fuse,ipfs}`` (the checkout
    changes under our feet while other work goes on)."""
    package = Path(__file__).resolve().parents[2] / "bucketfs"
    root = tmp_path_factory.mktemp("src") / "bucketfs"
    for sub in ("vfs", "fuse", "ipfs"):
        shutil.copytree(package / sub, root / sub, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def sh(cmd: str, cwd: Path) -> str:
    """Run a shell command; fail the test with its output if it fails."""
    res = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{cmd}: {res.stdout}\n{res.stderr}"
    return res.stdout
