"""murmur3 (now mmh3 underneath) gives the digests of bucketfs's former pure-Python version,
which scripts/bench-ipfs-libs keeps; and that script runs (without the optional candidates)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import given
from hypothesis import strategies as st

from bucketfs.ipfs.murmur3 import murmur3_x64_128

BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench-ipfs-libs"


def _bench() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("bench_ipfs_libs", str(BENCH))
    spec = importlib.util.spec_from_loader("bench_ipfs_libs", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


HAND_WRITTEN = _bench().hand_written_murmur3


def test_reference_vector() -> None:
    # h1 of murmur3-x64-128("hello"), big-endian, as the IPFS HAMT reads it
    assert murmur3_x64_128(b"hello")[7::-1].hex() == "cbd8a7b341bd9b02"
    assert murmur3_x64_128(b"") == bytes(16)


@given(st.binary(max_size=80), st.integers(0, 2**32 - 1))
def test_same_digests_as_the_hand_written_version(data: bytes, seed: int) -> None:
    assert murmur3_x64_128(data, seed) == HAND_WRITTEN(data, seed)


def test_bench_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "0.002"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if " bucketfs " in line]
    assert len(rows) == 6 and all(line.endswith("yes") for line in rows), result.stdout
