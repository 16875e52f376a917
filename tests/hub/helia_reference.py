"""Helia's ``@helia/verified-fetch`` (npm), the independent trustless-gateway client of the
gateway tests, installed once per machine as tests/ipfs/reference.py installs the JS importer
(``~/.cache/bucketfs-tests/npm``, override with ``BUCKETFS_TEST_NPM_CACHE``). A missing node/npm
or registry raises instead of skipping: the check is required.

undici is held at 7.x: the 8.x that @libp2p/http pulls in needs Node 22, Debian ships Node 20.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGES = {"@helia/verified-fetch": "8.0.4", "@helia/http": "4.0.7", "helia": "7.1.15"}
OVERRIDES = {"undici": "7.16.0"}
SCRIPT = Path(__file__).with_name("verified_fetch.mjs")


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "bucketfs-tests" / "npm"
    return Path(os.environ.get("BUCKETFS_TEST_NPM_CACHE", default))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is required for the verified-fetch tests and is not on PATH")
    return found


def ensure_installed() -> Path:
    """Install the pinned packages if needed; return the directory holding node_modules."""
    pins = [f"{n}@{v}" for n, v in PACKAGES.items()] + [f"{n}@{v}" for n, v in OVERRIDES.items()]
    target = cache_dir() / "-".join(p.replace("@", "_").replace("/", "_") for p in pins)
    if (target / "node_modules" / "@helia" / "verified-fetch" / "package.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
    try:
        manifest = {
            "name": "bucketfs-helia-reference",
            "private": True,
            "dependencies": PACKAGES,
            "overrides": OVERRIDES,
        }
        (staging / "package.json").write_text(json.dumps(manifest))
        result = subprocess.run(
            [_tool("npm"), "install", "--no-audit", "--no-fund", "--silent"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm install of @helia/verified-fetch failed:\n{result.stderr}")
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():  # another run won the race otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def verified_fetch(gateway_url: str, urls: list[str]) -> list[dict[str, object]]:
    """Run verified-fetch on ``urls`` (``ipfs://…``, optionally ``URL|Accept``) against only
    ``gateway_url``; one dict per URL (``status``, ``type``, ``body`` base64 or ``error``)."""
    home = ensure_installed()
    script = home / SCRIPT.name
    if not script.exists() or script.read_bytes() != SCRIPT.read_bytes():
        script.write_bytes(SCRIPT.read_bytes())
    result = subprocess.run(
        [_tool("node"), str(script), gateway_url, *urls],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if len(lines) != len(urls):
        raise RuntimeError(f"verified-fetch failed:\n{result.stdout}\n{result.stderr}")
    return lines
