"""The official Textile JS SDK (``@textile/hub``) and esbuild, installed from npm for the tests.

Installed once per machine into ``~/.cache/bucketfs-tests/npm`` (``BUCKETFS_TEST_NPM_CACHE``
overrides it) beside the IPFS reference importer, and reused. Like that reference this is a
required check: without node/npm or the registry, :func:`ensure_installed` raises (no skip).
"""

from __future__ import annotations

from pathlib import Path

import npm_packages
from npm_packages import beside, install

PACKAGES = {"@textile/hub": "6.3.4", "esbuild": "0.28.2"}
HERE = Path(__file__).parent
PURPOSE = "the Textile SDK tests"

__all__ = ["ensure_installed", "install_script", "tool"]


def tool(name: str) -> str:
    return npm_packages.tool(name, PURPOSE)


def ensure_installed() -> Path:
    """Install the pinned packages if needed; return the directory holding node_modules."""
    return install(PACKAGES, marker="@textile/hub", purpose=PURPOSE, timeout=600)


def install_script(name: str) -> Path:
    """Copy the script ``name`` from this directory next to node_modules (so ``require`` finds
    the packages); returns its path there."""
    return beside(ensure_installed(), HERE / name)
