"""Measuring one step of a benchmark: wall time, the peak memory of the serving processes, and
optionally a py-spy profile of them (``scripts/bench``).

:class:`Probe` times a step (a command or a Python callable). While the step runs it samples the
resident set (``VmRSS``) of the target's processes every 50 ms, asking the target for their pids
on every sample (a remount changes them), and, when asked to profile that step, records each
process with ``py-spy record --format raw`` (collapsed stacks) into ``profile_dir``.
:func:`summarize_profile` turns such a file into the functions that dominate.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: py-spy's sampling rate used by :func:`py_spy` (samples per second per active thread)
RATE = 200


class BenchError(RuntimeError):
    """A benchmark step failed (the command's exit status and stderr are in the message)."""


def rss_mib(pid: int) -> float:
    """The current resident set of ``pid`` in MiB (0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssWatch:
    """Samples the processes ``pids()`` names every ``interval`` s; ``peaks`` in MiB by name."""

    def __init__(self, pids: Callable[[], dict[str, int]], interval: float = 0.05) -> None:
        self.pids, self.interval = pids, interval
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pid in self.pids().items():
            self.peaks[name] = max(self.peaks.get(name, 0.0), rss_mib(pid))

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def run(cmd: Sequence[str], *, stdout: int | None = subprocess.DEVNULL) -> str:
    """Run ``cmd``; raise :class:`BenchError` with its stderr when it fails."""
    result = subprocess.run(list(cmd), stdout=stdout, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace").strip()[-800:]
        raise BenchError(f"{' '.join(cmd)} exited {result.returncode}: {err}")
    return result.stdout.decode(errors="replace") if result.stdout else ""


@contextmanager
def py_spy(pids: dict[str, int], out_dir: Path, label: str, rate: int = RATE) -> Iterator[None]:
    """Record each pid with py-spy while the block runs (raw collapsed stacks, one file each)."""
    beside = Path(sys.executable).parent / "py-spy"  # installed in this environment
    exe = str(beside) if beside.exists() else shutil.which("py-spy")
    if exe is None:
        raise BenchError("py-spy is not installed (pip install py-spy)")
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, pid in pids.items():
        out = out_dir / f"{label}-{name}.txt"
        cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
        cmd += ["--threads", "--nonblocking", "--output", str(out)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)  # let py-spy attach before the step starts
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Probe:
    """Times steps; watches memory (always) and profiles the steps named in ``profile``."""

    def __init__(
        self,
        pids: Callable[[], dict[str, int]],
        *,
        profile: frozenset[str] = frozenset(),
        profile_dir: Path | None = None,
    ) -> None:
        self.pids = pids
        self.profile = profile
        self.profile_dir = profile_dir
        #: step label -> peak RSS (MiB) by process name, of the last time the step ran
        self.rss: dict[str, dict[str, float]] = {}

    def time(self, label: str, step: Callable[[], object]) -> float:
        """Run ``step`` and return its wall time in seconds."""
        profiling = label in self.profile and self.profile_dir is not None and bool(self.pids())
        with RssWatch(self.pids) as watch:
            if profiling:
                assert self.profile_dir is not None
                with py_spy(self.pids(), self.profile_dir, label):
                    elapsed = _timed(step)
            else:
                elapsed = _timed(step)
        self.rss[label] = dict(watch.peaks)
        return elapsed

    def command(self, label: str, cmd: Sequence[str]) -> float:
        return self.time(label, lambda: run(cmd))


def _timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def profile_samples(path: Path) -> int:
    """How many samples a py-spy raw file holds (idle threads are not sampled, so this over
    ``RATE`` is the busy thread-seconds of the process)."""
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        count = line.rpartition(" ")[2]
        total += int(count) if count.isdigit() else 0
    return total


def summarize_profile(path: Path, top: int = 15) -> list[tuple[str, float, float]]:
    """From a py-spy raw file: ``(function, self %, inclusive %)`` of the ``top`` functions by
    self time, percentages of all samples (each line is ``frame;frame;... count``)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return []
    return [
        (frame, 100.0 * n / total, 100.0 * inclusive[frame] / total)
        for frame, n in own.most_common(top)
    ]


def top_inclusive(path: Path, needle: str = "bucketfs/", top: int = 15) -> list[tuple[str, float]]:
    """The ``top`` frames containing ``needle`` by inclusive share of samples (percent)."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        for frame in set(stack.split(";")):
            if needle in frame:
                inclusive[frame] += count
    if not total:
        return []
    return [(frame, 100.0 * n / total) for frame, n in inclusive.most_common(top)]
