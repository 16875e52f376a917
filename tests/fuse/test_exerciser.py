"""The random file-operation exerciser (scripts/e2elib/exerciser.py) at a small size through a
real mount over a hub subprocess, in both modes, with a second mount of the same identity
changing other paths of the bucket meanwhile: every read equals the model, the files equal it
through the mount, a fresh mount and the hub, and no ``.conflict-`` name or conflict log line
appears. scripts/exercise runs it at any size (docs/TESTING.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from e2elib.env import Env
from e2elib.exerciser import exercise

OPS = 2000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with Env(tmp_path_factory.mktemp("exerciser")) as e:
        yield e


@pytest.mark.parametrize("mode", ["sync", "wb"])
def test_random_operations_match_the_model(env: Env, mode: str) -> None:
    result = exercise(env, ops=OPS, write_back=mode == "wb", seed=7, workers=2, other=True)
    assert result.ops == OPS, result.failures
    assert result.failures == [], result.failures
    assert result.log_problems == [], result.log_problems
    assert result.other_ops > 0
