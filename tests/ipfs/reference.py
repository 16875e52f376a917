"""The independent reference: the official JS IPFS UnixFS importer, installed from npm.

The packages are installed once per machine into ``~/.cache/bucketfs-tests/npm`` (override with
``BUCKETFS_TEST_NPM_CACHE``) and reused. Comparing against them is a required check: when node or
npm is missing, or the registry cannot be reached, :func:`reference_cids` raises instead of
letting the test skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGES = ("ipfs-unixfs-importer@17.1.1", "blockstore-core@7.0.1", "multiformats@14.0.5")
SCRIPT = Path(__file__).with_name("reference_import.mjs")


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "bucketfs-tests" / "npm"
    return Path(os.environ.get("BUCKETFS_TEST_NPM_CACHE", default))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is required for the IPFS reference tests and is not on PATH")
    return found


def ensure_installed() -> Path:
    """Install the pinned npm packages if needed; return the directory holding node_modules."""
    target = cache_dir() / "-".join(p.replace("@", "_") for p in PACKAGES)
    if (target / "node_modules" / "ipfs-unixfs-importer" / "package.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
    try:
        (staging / "package.json").write_text(
            '{"name": "bucketfs-ipfs-reference", "private": true}'
        )
        result = subprocess.run(
            [_tool("npm"), "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm install of the IPFS reference failed:\n{result.stderr}")
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():  # another run won the race otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def reference_cids(
    paths: list[Path], chunk_size: int = 262144, max_links: int = 174
) -> dict[Path, tuple[str, int]]:
    """Import each file or tree with the JS importer; map path -> (CID text, DAG size)."""
    home = ensure_installed()
    script = home / SCRIPT.name
    if not script.exists() or script.read_bytes() != SCRIPT.read_bytes():
        script.write_bytes(SCRIPT.read_bytes())
    result = subprocess.run(
        [
            _tool("node"),
            str(script),
            f"--chunk={chunk_size}",
            f"--links={max_links}",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"reference importer failed:\n{result.stderr}")
    out = {}
    for line in result.stdout.splitlines():
        item = json.loads(line)
        out[Path(item["path"])] = (item["cid"], int(item["size"]))
    return out
