"""The layering check passes on the package and catches a violation in a synthetic tree."""

from __future__ import annotations

import re
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


def test_bench_harness_rules(tmp_path: Path) -> None:
    """scripts/benchlib beside the package: nullfs.py may import pyfuse3, nothing else there may,
    and the package must not import the bench."""
    pkg = tmp_path / "bucketfs"
    (pkg / "vfs").mkdir(parents=True)
    (pkg / "vfs" / "a.py").write_text("from benchlib.targets import TARGETS\n")
    bench = tmp_path / "scripts" / "benchlib"
    bench.mkdir(parents=True)
    (bench / "nullfs.py").write_text("import pyfuse3\nimport trio\n")
    (bench / "targets.py").write_text("import os\nimport pyfuse3\nimport grpc\n")
    result = run(pkg)
    assert result.returncode == 1
    out = result.stdout
    assert "benchlib/nullfs.py:" not in out
    assert "vfs/a.py:1: the package must not import the bench" in out
    assert "scripts/benchlib/targets.py:2: imports pyfuse3" in out
    assert "scripts/benchlib/targets.py:3: imports grpc" in out
    (pkg / "vfs" / "a.py").unlink()
    (bench / "targets.py").write_text("import os\n")
    result = run(pkg)
    assert result.returncode == 0, result.stdout
    assert "2 bench modules" in result.stdout


def test_real_bench_harness_checked() -> None:
    """The real check covers scripts/benchlib (its nullfs imports pyfuse3 and passes)."""
    result = run(ROOT / "bucketfs")
    assert re.search(r", [1-9][0-9]* bench modules", result.stdout), result.stdout
    assert "import pyfuse3" in (ROOT / "scripts" / "benchlib" / "nullfs.py").read_text()
