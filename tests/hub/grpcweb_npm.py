"""The official Textile JS SDK (``@textile/hub``) and esbuild, installed from npm for the tests.

Installed once per machine into ``~/.cache/bucketfs-tests/npm`` (``BUCKETFS_TEST_NPM_CACHE``
overrides it) beside the IPFS reference importer, and reused. Like that reference this is a
required check: without node/npm or the registry, :func:`ensure_installed` raises (no skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGES = ("@textile/hub@6.3.4", "esbuild@0.28.2")
HERE = Path(__file__).parent


def cache_dir() -> Path:
    """The same npm cache as tests/ipfs/reference.py."""
    default = Path.home() / ".cache" / "bucketfs-tests" / "npm"
    return Path(os.environ.get("BUCKETFS_TEST_NPM_CACHE", default))


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is required for the Textile SDK tests and is not on PATH")
    return found


def ensure_installed() -> Path:
    """Install the pinned packages if needed; return the directory holding node_modules."""
    target = cache_dir() / "-".join(p.replace("@", "_").replace("/", "_") for p in PACKAGES)
    if (target / "node_modules" / "@textile" / "hub" / "package.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
    try:
        (staging / "package.json").write_text('{"name": "bucketfs-textile-sdk", "private": true}')
        result = subprocess.run(
            [tool("npm"), "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm install of the Textile SDK failed:\n{result.stderr}")
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():  # another run won the race otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def install_script(name: str) -> Path:
    """Copy the script ``name`` from this directory next to node_modules (so ``require`` finds
    the packages); returns its path there."""
    home = ensure_installed()
    source = HERE / name
    script = home / name
    if not script.exists() or script.read_bytes() != source.read_bytes():
        script.write_bytes(source.read_bytes())
    return script
