"""The many-writers + lister load: W processes each create F distinct files in one bucket
directory through one synchronous mount while a second mount of the same identity lists that
directory in a loop. Every file must exist under its own name with its bytes (through the mount,
a fresh mount and the hub) and no ``.conflict-`` name may appear."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .env import Env, conflicts, log_problems, tree


def body(w: int, i: int) -> bytes:
    return f"writer {w} file {i}\n".encode() * (1 + i % 7)


def create_files(directory: Path, w: int, files: int) -> None:
    for i in range(files):
        (directory / f"w{w}-{i:04d}").write_bytes(body(w, i))


@dataclass
class LoadResult:
    files: int = 0
    seconds: float = 0.0
    listings: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.files / self.seconds if self.seconds else 0.0
        return (
            f"{self.files} files in {self.seconds:.1f} s ({rate:.0f} files/s), "
            f"{self.listings} listings by the other mount, {len(self.failures)} failures"
        )


def lister(directory: Path, stop: threading.Event, count: list[int]) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            os.listdir(directory)
        count[0] += 1


def load(env: Env, *, writers: int = 8, files: int = 200, write_back: bool = False) -> LoadResult:
    tag = f"load-{writers}x{files}-{'wb' if write_back else 'sync'}"
    a = env.mount(f"{tag}-a", write_back=write_back)
    b = env.mount(f"{tag}-b", write_back=write_back)
    directory = a.mountpoint / "buckets" / tag / "many"
    directory.mkdir(parents=True)
    result = LoadResult(files=writers * files)
    stop, count = threading.Event(), [0]
    seen = b.mountpoint / "buckets" / tag / "many"
    t = threading.Thread(target=lister, args=(seen, stop, count))
    t.start()
    start = time.monotonic()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=create_files, args=(directory, w, files)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode:
            result.failures.append(f"a writer exited {p.exitcode}")
    result.seconds = time.monotonic() - start
    stop.set()
    t.join()
    result.listings = count[0]
    want = {f"many/w{w}-{i:04d}": body(w, i) for w in range(writers) for i in range(files)}
    _compare("mount", {f"many/{k}": v for k, v in tree(directory).items()}, want, result)
    for m in (a, b):
        m.stop()
        result.failures += [f"{m.mountpoint.name}: {line}" for line in log_problems(m.log())]
    fresh = env.mount(f"{tag}-fresh")
    try:
        _compare("fresh mount", tree(fresh.mountpoint / "buckets" / tag), want, result)
    finally:
        fresh.stop()
    _compare("hub", env.hub_files(tag), want, result)
    return result


def _compare(where: str, got: dict[str, bytes], want: dict[str, bytes], result: LoadResult) -> None:
    missing = sorted(set(want) - set(got))
    wrong = sorted(k for k in want if k in got and got[k] != want[k])
    odd = conflicts(got)
    if missing:
        result.failures.append(f"{where}: {len(missing)} files missing, e.g. {missing[:3]}")
    if wrong:
        result.failures.append(f"{where}: {len(wrong)} files with other bytes, e.g. {wrong[:3]}")
    if odd:
        result.failures.append(f"{where}: {len(odd)} conflict names, e.g. {odd[:3]}")
