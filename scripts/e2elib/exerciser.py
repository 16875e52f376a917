"""A random file-operation exerciser through a real mount, like fsx: each worker owns one file and
applies random operations to it (pwrite at random offsets, pread compared with the model, a
mapped range read, written and msync'ed, truncate and ftruncate up and down, copy_file_range from
a file of known bytes, fsync, close and reopen every ~20 operations, an O_TRUNC open closed with
no write), checking every read byte for byte against an in-memory model. Optionally a second
mount of the same identity changes *other* paths of the same bucket meanwhile (``other``): the
mount must never take its own writes for another client's (no ``.conflict-`` name may appear).

At the end the files are compared through the mount, then (after the mount stopped, i.e.
flushed) through a fresh mount with an empty cache and through the hub's Buckets API.
"""

from __future__ import annotations

import mmap
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bucketfs.testing.mountproc import MountProcess

from .env import Env, conflicts, log_problems, tree

MAX_SIZE = 256 << 10
MAX_IO = 48 << 10
SOURCE_SIZE = 128 << 10


class Mismatch(AssertionError):
    """The file differs from the model."""


@dataclass
class Result:
    ops: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    other_ops: int = 0
    log_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.log_problems

    def summary(self, mode: str) -> str:
        rate = self.ops / self.seconds if self.seconds else 0.0
        return (
            f"{mode}: {self.ops} ops in {self.seconds:.1f} s ({rate:.0f} ops/s), "
            f"{len(self.failures)} failures, {len(self.log_problems)} log problems, "
            f"{self.other_ops} changes by the other mount"
        )


def source_bytes(seed: int, worker: int) -> bytes:
    return random.Random(f"src-{seed}-{worker}").randbytes(SOURCE_SIZE)


class Worker:
    """One file, one model, one random stream."""

    def __init__(self, path: Path, source: Path, seed: int, worker: int) -> None:
        self.path = path
        self.source = source
        self.src = source_bytes(seed, worker)
        self.rng = random.Random(f"{seed}-{worker}")
        self.model = bytearray()
        self.fd = -1
        self.srcfd = -1
        self.since_open = 0
        self.history: deque[str] = deque(maxlen=12)
        self.ops = 0

    # -- model helpers --------------------------------------------------------------------

    def _put(self, off: int, data: bytes) -> None:
        if off > len(self.model):
            self.model.extend(bytes(off - len(self.model)))
        self.model[off : off + len(data)] = data

    def _resize(self, size: int) -> None:
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))

    def _check(self, got: bytes, off: int, what: str) -> None:
        want = bytes(self.model[off : off + len(got)])
        if got != want or (len(got) == 0 and off < len(self.model)):
            first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), -1)
            raise Mismatch(
                f"{what}: {self.path.name} at {off}: got {len(got)} bytes, model "
                f"{len(want)} (file size {len(self.model)}), first difference at +{first}"
            )

    # -- operations -----------------------------------------------------------------------

    def open(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self.since_open = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def op_write(self) -> str:
        off = self.rng.randrange(0, MAX_SIZE - MAX_IO)
        data = self.rng.randbytes(self.rng.randrange(1, MAX_IO))
        assert os.pwrite(self.fd, data, off) == len(data)
        self._put(off, data)
        return f"pwrite {off}+{len(data)}"

    def op_read(self) -> str:
        size = len(self.model)
        off = self.rng.randrange(0, size + 1) if size else 0
        n = self.rng.randrange(1, MAX_IO)
        got = os.pread(self.fd, n, off)
        self._check(got, off, "pread")
        if len(got) != min(n, max(0, size - off)):
            raise Mismatch(f"pread short: {len(got)} of {n} at {off}, size {size}")
        st = os.fstat(self.fd).st_size
        if st != size:
            raise Mismatch(f"fstat size {st}, model {size}")
        return f"pread {off}+{n}"

    def op_mmap(self) -> str:
        size = len(self.model)
        if size == 0:
            return self.op_write()
        with mmap.mmap(self.fd, size) as mm:
            off = self.rng.randrange(0, size)
            n = min(self.rng.randrange(1, MAX_IO), size - off)
            self._check(bytes(mm[off : off + n]), off, "mmap read")
            data = self.rng.randbytes(n)
            mm[off : off + n] = data
            mm.flush()
        self._put(off, data)
        return f"mmap {off}+{n} msync"

    def op_truncate(self) -> str:
        size = self.rng.randrange(0, MAX_SIZE)
        if self.rng.random() < 0.5:
            os.ftruncate(self.fd, size)
            what = "ftruncate"
        else:
            os.truncate(self.path, size)
            what = "truncate"
        self._resize(size)
        return f"{what} {size}"

    def op_copy(self) -> str:
        soff = self.rng.randrange(0, SOURCE_SIZE)
        doff = self.rng.randrange(0, MAX_SIZE - MAX_IO)
        n = self.rng.randrange(1, MAX_IO)
        done = os.copy_file_range(self.srcfd, self.fd, n, soff, doff)
        if done != min(n, SOURCE_SIZE - soff):
            raise Mismatch(f"copy_file_range copied {done} of {n} from {soff}")
        self._put(doff, self.src[soff : soff + done])
        return f"copy_file_range {soff}+{done} -> {doff}"

    def op_fsync(self) -> str:
        os.fsync(self.fd)
        return "fsync"

    def op_otrunc(self) -> str:
        """Close, open with O_TRUNC and close again without writing (issue item 1)."""
        self.close()
        os.close(os.open(self.path, os.O_WRONLY | os.O_TRUNC))
        self.model.clear()
        self.open()
        got = os.pread(self.fd, 16, 0)
        self._check(got, 0, "read after O_TRUNC open")
        return "close; open O_TRUNC; close; reopen"

    def op_reopen(self) -> str:
        self.close()
        self.open()
        got = os.pread(self.fd, MAX_SIZE, 0)
        self._check(got, 0, "read after reopen")
        if len(got) != len(self.model):
            raise Mismatch(f"after reopen {len(got)} bytes, model {len(self.model)}")
        return "close; reopen; read all"

    def step(self) -> None:
        ops: list[tuple[float, Callable[[], str]]] = [
            (30, self.op_write),
            (25, self.op_read),
            (10, self.op_mmap),
            (8, self.op_truncate),
            (8, self.op_copy),
            (5, self.op_fsync),
            (2, self.op_otrunc),
        ]
        if self.since_open >= self.rng.randrange(15, 26):
            op = self.op_reopen
        else:
            op = self.rng.choices([o for _, o in ops], [w for w, _ in ops])[0]
        self.history.append(f"#{self.ops} {op.__name__}")
        self.history[-1] = f"#{self.ops} {op()}"
        self.ops += 1
        self.since_open += 1

    def run(self, n: int, failures: list[str]) -> None:
        self.srcfd = os.open(self.source, os.O_RDONLY)
        self.open()
        try:
            for _ in range(n):
                self.step()
        except (Mismatch, OSError) as e:
            failures.append(
                f"{self.path.name} op {self.ops}: {e!r}; last ops: {list(self.history)}"
            )
        finally:
            self.close()
            os.close(self.srcfd)


def other_client(bucket: Path, stop: threading.Event, counter: list[Any], seed: int) -> None:
    """Changes other paths of the bucket through the second mount until ``stop``: files beside
    the workers' files and in a subdirectory (writes, removals, symlinks), directories made and
    removed again."""
    rng = random.Random(f"other-{seed}")
    (bucket / "other").mkdir(exist_ok=True)
    while not stop.is_set():
        where = bucket / "other" if rng.random() < 0.5 else bucket
        name = where / f"o{rng.randrange(8)}"
        r = rng.random()
        try:
            if r < 0.6:
                name.write_bytes(rng.randbytes(rng.randrange(1, 4096)))
            elif r < 0.75:
                name.unlink(missing_ok=True)
            elif r < 0.85:
                link = where / f"l{rng.randrange(4)}"
                link.unlink(missing_ok=True)
                link.symlink_to(name.name)
            else:
                d = where / f"d{rng.randrange(3)}"
                d.mkdir()
                d.rmdir()
        except OSError as e:
            counter[1] += 1
            if len(counter) < 12:
                counter.append(f"{e!r}")
        counter[0] += 1
        time.sleep(0.005)


def exercise(
    env: Env, *, ops: int, write_back: bool, seed: int, workers: int = 2, other: bool = False
) -> Result:
    """Run ``workers`` workers of ``ops`` operations each (ops split evenly) in a fresh bucket."""
    mode = "wb" if write_back else "sync"
    tag = f"{mode}-{seed}"
    a = env.mount(f"ex-{tag}-a", write_back=write_back)
    bucket = a.mountpoint / "buckets" / f"ex-{tag}"
    bucket.mkdir()
    result = Result()
    workers_ = []
    for w in range(workers):
        src = bucket / f"src{w}"
        src.write_bytes(source_bytes(seed, w))
        workers_.append(Worker(bucket / f"f{w}", src, seed, w))
    stop, helper = threading.Event(), None
    counter: list[Any] = [0, 0]  # changes, errors, the first errors
    b = None
    if other:
        b = env.mount(f"ex-{tag}-b", write_back=write_back)
        other_bucket = b.mountpoint / "buckets" / bucket.name
        helper = threading.Thread(target=other_client, args=(other_bucket, stop, counter, seed))
        helper.start()
    start = time.monotonic()
    threads = [
        threading.Thread(target=w.run, args=(ops // workers, result.failures)) for w in workers_
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - start
    result.ops = sum(w.ops for w in workers_)
    stop.set()
    if helper is not None:
        helper.join()
    result.other_ops = counter[0]
    if counter[1]:
        result.failures.append(f"the other mount got {counter[1]} errors: {counter[2:]}")
    _final_checks(env, bucket, workers_, a, b, result)
    return result


def _compare(where: str, files: dict[str, bytes], workers: list[Worker], out: list[str]) -> None:
    for w in workers:
        got = files.get(w.path.name)
        if got != bytes(w.model):
            size = None if got is None else len(got)
            out.append(f"{where}: {w.path.name} differs ({size} bytes, model {len(w.model)})")
    found = conflicts(files)
    if found:
        out.append(f"{where}: conflict names {found}")


def _final_checks(
    env: Env,
    bucket: Path,
    workers: list[Worker],
    a: MountProcess,
    b: MountProcess | None,
    result: Result,
) -> None:
    _compare("mount", tree(bucket), workers, result.failures)
    for m in (a, b):
        if m is not None:
            code = m.stop()
            if code:
                result.failures.append(f"{m.mountpoint.name} exited {code}")
            result.log_problems += log_problems(m.log())
    fresh = env.mount(f"{a.mountpoint.name}-fresh")
    try:
        _compare(
            "fresh mount",
            tree(fresh.mountpoint / "buckets" / bucket.name),
            workers,
            result.failures,
        )
    finally:
        fresh.stop()
    _compare("hub", env.hub_files(bucket.name), workers, result.failures)
