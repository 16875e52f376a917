"""Helia's ``@helia/verified-fetch`` (npm), the independent trustless-gateway client of the
gateway tests, installed once per machine as tests/ipfs/reference.py installs the JS importer
(``~/.cache/bucketfs-tests/npm``, override with ``BUCKETFS_TEST_NPM_CACHE``). A missing node/npm
or registry raises instead of skipping: the check is required.

undici is held at 7.x: the 8.x that @libp2p/http pulls in needs Node 22, Debian ships Node 20.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from npm_packages import beside, install, tool

PACKAGES = {"@helia/verified-fetch": "8.0.4", "@helia/http": "4.0.7", "helia": "7.1.15"}
OVERRIDES = {"undici": "7.16.0"}
SCRIPT = Path(__file__).with_name("verified_fetch.mjs")
PURPOSE = "the verified-fetch tests"


def ensure_installed() -> Path:
    """Install the pinned packages if needed; return the directory holding node_modules."""
    return install(PACKAGES, marker="@helia/verified-fetch", purpose=PURPOSE, overrides=OVERRIDES)


def verified_fetch(gateway_url: str, urls: list[str]) -> list[dict[str, object]]:
    """Run verified-fetch on ``urls`` (``ipfs://…``, optionally ``URL|Accept``) against only
    ``gateway_url``; one dict per URL (``status``, ``type``, ``body`` base64 or ``error``)."""
    script = beside(ensure_installed(), SCRIPT)
    result = subprocess.run(
        [tool("node", PURPOSE), str(script), gateway_url, *urls],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if len(lines) != len(urls):
        raise RuntimeError(f"verified-fetch failed:\n{result.stdout}\n{result.stderr}")
    return lines
