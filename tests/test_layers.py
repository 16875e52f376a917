"""The layering check passes on the package and catches a violation in a synthetic tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_layers.py"


def run(package: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(package)], capture_output=True, text=True, check=False
    )


def test_package_respects_layers() -> None:
    result = run(ROOT / "bucketfs")
    assert result.returncode == 0, result.stdout


def test_violations_are_reported(tmp_path: Path) -> None:
    pkg = tmp_path / "bucketfs"
    (pkg / "vfs").mkdir(parents=True)
    (pkg / "hub").mkdir()
    (pkg / "ipfs").mkdir()
    (pkg / "vfs" / "a.py").write_text("import pyfuse3\nimport grpc\n")
    (pkg / "hub" / "b.py").write_text("from bucketfs.vfs import inodes\nimport nacl.signing\n")
    (pkg / "ipfs" / "c.py").write_text("import trio\n")
    result = run(pkg)
    assert result.returncode == 1
    out = result.stdout
    assert "vfs/a.py:1: imports pyfuse3" in out
    assert "vfs/a.py:2: imports grpc" in out
    assert "hub/b.py:1: hub/ must not import bucketfs.vfs" in out
    assert "hub/b.py:2: imports nacl.signing" in out
    assert "ipfs/c.py:1: ipfs/ must not import trio" in out
