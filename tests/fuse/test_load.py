"""The many-writers + lister load (scripts/e2elib/load.py) at a small size: 8 processes create
distinct files in one directory through one synchronous mount while a second mount of the same
identity lists it; every file is under its own name with its bytes through the mount, a fresh
mount and the hub, and no ``.conflict-`` name appears. scripts/loadtest runs the full 8 x 200."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from e2elib.env import Env
from e2elib.load import load


def test_eight_writers_and_a_lister(tmp_path: Path) -> None:
    with Env(tmp_path) as env:
        result = load(env, writers=8, files=40)
    assert result.failures == [], result.failures
    assert result.listings > 0
