"""Where bucketfs keeps its files (DESIGN.md §6), following the XDG base directory spec.

===============  ============================  =================================================
what             default                       overridden by
===============  ============================  =================================================
config dir       ``~/.config/bucketfs``        ``BUCKETFS_CONFIG_DIR``, then ``XDG_CONFIG_HOME``
cache dir        ``~/.cache/bucketfs``         ``BUCKETFS_CACHE_DIR``, then ``XDG_CACHE_HOME``
data dir         ``~/.local/share/bucketfs``   ``BUCKETFS_DATA_DIR``, then ``XDG_DATA_HOME``
===============  ============================  =================================================

``BUCKETFS_*`` variables name the bucketfs directory itself (``~`` is expanded, a relative path is
taken from the current directory); ``XDG_*`` variables name the base to which ``bucketfs`` is
appended and, as the spec says, are ignored when empty or relative. The environment is read on
every call, so tests and sub-processes may change it. Nothing here creates directories.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "bucketfs"


def _resolve(own_var: str, xdg_var: str, default_base: str) -> Path:
    own = os.environ.get(own_var)
    if own:
        return Path(own).expanduser().absolute()
    base = os.environ.get(xdg_var, "")
    if not base or not os.path.isabs(base):
        base = str(Path.home() / default_base)
    return Path(base) / APP


def config_dir() -> Path:
    """Configuration and the identity."""
    return _resolve("BUCKETFS_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")


def cache_dir() -> Path:
    """Token cache, content caches and upload journals (per mount, below this directory)."""
    return _resolve("BUCKETFS_CACHE_DIR", "XDG_CACHE_HOME", ".cache")


def data_dir() -> Path:
    """Persistent data: the embedded hub's database and blocks."""
    return _resolve("BUCKETFS_DATA_DIR", "XDG_DATA_HOME", os.path.join(".local", "share"))


def config_file() -> Path:
    return config_dir() / "config.toml"


def identity_file() -> Path:
    """The user's Ed25519 identity (mode 0600)."""
    return config_dir() / "identity"


def token_cache_file() -> Path:
    """Thread tokens by hub + API key + identity (mode 0600)."""
    return cache_dir() / "tokens.json"


def hub_data_dir() -> Path:
    """The embedded hub's SQLite database and block store."""
    return data_dir() / "hub"
