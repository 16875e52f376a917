"""Pinned npm packages for the hub's tests (the Textile JS SDK, Helia's verified-fetch),
installed once per machine beside tests/ipfs/reference.py's importer into
``~/.cache/bucketfs-tests/npm`` (``BUCKETFS_TEST_NPM_CACHE`` overrides it) and reused. These are
required checks: without node/npm or the registry, :func:`install` raises (no skip)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "bucketfs-tests" / "npm"
    return Path(os.environ.get("BUCKETFS_TEST_NPM_CACHE", default))


def tool(name: str, purpose: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is required for {purpose} and is not on PATH")
    return found


def install(
    packages: Mapping[str, str],
    *,
    marker: str,
    purpose: str,
    overrides: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> Path:
    """Install ``packages`` (name -> version) unless ``node_modules/<marker>`` is there; the
    directory holding ``node_modules``."""
    pins = [f"{n}@{v}" for n, v in {**packages, **(overrides or {})}.items()]
    target = cache_dir() / "-".join(p.replace("@", "_").replace("/", "_") for p in pins)
    if (target / "node_modules" / marker / "package.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
    try:
        manifest: dict[str, object] = {"name": "bucketfs-tests", "private": True}
        manifest["dependencies"] = dict(packages)
        if overrides:
            manifest["overrides"] = dict(overrides)
        (staging / "package.json").write_text(json.dumps(manifest))
        result = subprocess.run(
            [tool("npm", purpose), "install", "--no-audit", "--no-fund", "--silent"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm install for {purpose} failed:\n{result.stderr}")
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():  # another run won the race otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def beside(home: Path, source: Path) -> Path:
    """A copy of the script ``source`` next to ``home``'s node_modules (so imports resolve)."""
    script = home / source.name
    if not script.exists() or script.read_bytes() != source.read_bytes():
        script.write_bytes(source.read_bytes())
    return script
