"""The writer of the kill -9 loop (run as ``python -m e2elib.killwriter BUCKET LOG FIRST``):
writes versions FIRST, FIRST+1, ... of random paths below BUCKET, each with O_TRUNC, sometimes
fsynced, and appends ``begin PATH V`` before and ``ack PATH V`` after close() returned 0 to LOG,
fsyncing it after every line; stops at the first error (the mount or the hub was killed)."""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

PATHS = 4


def content(path: str, version: int) -> bytes:
    """Version ``version`` of ``path``: random bytes, or nothing one time in eight (an
    O_TRUNC open closed without a write)."""
    rng = random.Random(f"{path}-{version}")
    return b"" if rng.random() < 0.125 else rng.randbytes(rng.randrange(1, 48 << 10))


def writer(bucket: Path, log_path: Path, first: int) -> None:
    """Write versions first, first+1, ... of random paths until an error; log begin/ack."""
    rng = random.Random(first)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(line: str) -> None:
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)

    version = first
    while True:
        name = f"d{rng.randrange(2)}/p{rng.randrange(PATHS)}"
        note(f"begin {name} {version}")
        try:
            (bucket / name).parent.mkdir(exist_ok=True)
            out = os.open(bucket / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            data = content(name, version)
            if rng.random() < 0.25:  # held open while earlier versions upload
                os.write(out, data[: len(data) // 2])
                time.sleep(rng.uniform(0.1, 1.0))
                data = data[len(data) // 2 :]
            if data:
                os.write(out, data)
            if rng.random() < 0.2:
                os.fsync(out)
            os.close(out)
        except OSError as e:
            note(f"error {name} {version} {e.errno}")
            return
        note(f"ack {name} {version}")
        version += 1


if __name__ == "__main__":
    writer(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
