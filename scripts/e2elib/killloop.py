"""The kill -9 loop: a writer process writes files through a mount and logs every write that was
acknowledged (close() returned 0; the log is fsynced after each line); the loop kills the mount
daemon, the hub or both with SIGKILL at a random moment, remounts on the same cache directory
(write-back: the journal replays) and checks that every path holds the newest acknowledged
version, byte for byte, through the remounted mount, a fresh mount and the hub, and that no
``.conflict-`` name appeared (there is only one writer).

A path may also hold a version that was being written when the kill came (begun, not
acknowledged: all of it or a prefix, as a local filesystem keeps when the writer dies in the
middle; the writer is killed too when only the hub was); anything else (an older acknowledged
version, other bytes, nothing) counts as lost.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .env import Env, conflicts, log_problems, tree
from .killwriter import content


@dataclass
class Tally:
    trials: int = 0
    acked: int = 0
    lost: list[str] = field(default_factory=list)
    misfiled: list[str] = field(default_factory=list)
    inflight_kept: int = 0
    log_problems: list[str] = field(default_factory=list)

    @property
    def lost_paths(self) -> int:
        """Paths that held an older version, each counted once per trial."""
        return len({" ".join(line.split()[1:4:2]) for line in self.lost})

    def summary(self, mode: str, target: str) -> str:
        return (
            f"{mode}/kill {target}: {self.trials} trials, {self.acked} acknowledged writes, "
            f"{self.lost_paths} lost (path and trial; {len(self.lost)} seen through the "
            f"remount, fresh mount and hub), {len(self.misfiled)} misfiled, {self.inflight_kept} "
            f"unacknowledged versions kept, {len(self.log_problems)} log problems"
        )


def read_log(log_path: Path) -> tuple[dict[str, int], dict[str, list[int]], int]:
    """(newest acked version per path, versions begun after it, number of acks)."""
    acked: dict[str, int] = {}
    begun: dict[str, list[int]] = {}
    n = 0
    for line in _lines(log_path):
        parts = line.split()
        if len(parts) < 3:
            continue  # a line cut by the kill
        kind, name, version = parts[0], parts[1], int(parts[2])
        if kind == "begin":
            begun.setdefault(name, []).append(version)
        elif kind == "ack":
            acked[name] = version
            n += 1
    later = {p: [v for v in vs if v > acked.get(p, -1)] for p, vs in begun.items()}
    return acked, later, n


def check(where: str, files: dict[str, bytes], log_path: Path, tally: Tally) -> None:
    acked, later, _ = read_log(log_path)
    for name in sorted(set(acked) | set(later)):
        got = files.get(name)
        if name in acked and got == content(name, acked[name]):
            continue
        if got is not None and any(
            content(name, v).startswith(got) for v in later.get(name, [])
        ):  # being written when the writer died: a prefix (closed by its exit) or all
            tally.inflight_kept += where.endswith("remount")
            continue
        if name not in acked and got is None:
            continue
        old = [v for v in range(acked.get(name, 0)) if got == content(name, v)]
        tally.lost.append(
            f"{where}: {name} holds {'nothing' if got is None else f'{len(got)} bytes'}"
            f"{f' = older version {old[-1]}' if old else ''}, newest acknowledged "
            f"{acked.get(name)}"
        )
    for c in conflicts(files):
        if not any(f": {c} " in m for m in tally.misfiled):  # each name once, where first seen
            tally.misfiled.append(f"{where}: {c} {_describe(c, files, acked, later)}")


def _describe(
    name: str, files: dict[str, bytes], acked: dict[str, int], later: dict[str, list[int]]
) -> str:
    """Which version a conflict copy holds, and whether its path holds the same bytes."""
    path = name.split(".conflict-")[0]
    data = files[name]
    top = max([acked.get(path, 0), *later.get(path, [])])
    versions = [v for v in range(top + 1) if content(path, v) == data]
    acks = "acknowledged" if versions and versions[-1] <= acked.get(path, -1) else "unacknowledged"
    same = "same bytes as" if files.get(path) == data else "other bytes than"
    return f"(version {versions or '?'}, {acks}; {same} {path})"


def _stop_writer(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def trial(
    env: Env, n: int, write_back: bool, target: str, rng: random.Random, tally: Tally
) -> None:
    mode = "wb" if write_back else "sync"
    bucket_name = f"kill-{mode}-{target}"
    log_path = env.workdir / f"{bucket_name}.log"
    a = env.mount(f"{bucket_name}-a", write_back=write_back)
    bucket = a.mountpoint / "buckets" / bucket_name
    bucket.mkdir(exist_ok=True)
    first = len(_lines(log_path)) + 1  # above every version used so far
    w = subprocess.Popen(
        [sys.executable, "-m", "e2elib.killwriter", str(bucket), str(log_path), str(first)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    time.sleep(rng.uniform(1.0, 5.0))
    if target in ("hub", "both"):
        env.hub.kill()
    if target in ("mount", "both"):
        assert a.proc is not None
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        unmount(a.mountpoint)
    if target == "hub":
        time.sleep(rng.uniform(0, 0.5))
        w.send_signal(signal.SIGKILL)  # the writer may be waiting for the hub
    if target != "hub":
        a.stop()  # reaps the killed daemon and lazily unmounts
    _stop_writer(w)
    if target in ("hub", "both"):
        env.hub.start()
    if target == "hub":
        a.stop()  # a clean stop pushes what it holds
    tally.log_problems += [line for line in log_problems(a.log()) if "conflict" in line]
    a.log_path.rename(a.log_path.with_suffix(f".{n}.log"))  # kept: the restart overwrites it
    a.start()  # the same cache directory: write-back replays its journal
    tally.trials += 1
    check(f"trial {n} remount", tree(bucket), log_path, tally)
    a.stop()
    tally.log_problems += [line for line in log_problems(a.log()) if "conflict" in line]
    fresh = env.mount(f"{bucket_name}-fresh{n}")
    try:
        check(
            f"trial {n} fresh mount",
            tree(fresh.mountpoint / "buckets" / bucket_name),
            log_path,
            tally,
        )
    finally:
        fresh.stop()
    check(f"trial {n} hub", env.hub_files(bucket_name), log_path, tally)
    tally.acked = read_log(log_path)[2]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def kill_loop(env: Env, *, trials: int, write_back: bool, target: str, seed: int) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    for n in range(trials):
        trial(env, n, write_back, target, rng, tally)
    return tally


def unmount(path: Path) -> None:
    """Lazily unmount the dead mount of a killed daemon (``ENOTCONN`` until then)."""
    subprocess.run(["fusermount3", "-u", "-z", str(path)], check=False, capture_output=True)
