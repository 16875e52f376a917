"""The workloads of ``scripts/bench``, grouped in phases that share their files.

* ``seq`` — ``dd bs=1M conv=fsync`` of a file of random bytes into the target (MiB/s, the close
  included), then, after ``target.cold()`` (fresh mount with the daemon's on-disk cache removed,
  page cache dropped: bucketfs reads from its hub, rclone from its remote), ``dd`` it back to
  /dev/null (MiB/s), then once more after a fresh mount that keeps the daemon's disk cache;
* ``tree`` — ``tar -xf`` of a tarball of the Python standard library (files/s), ``ls -lR``,
  ``cat`` of every file, then after ``cold()`` ``os.stat`` of every path twice (cold, warm), and
  ``rm -rf`` (seconds); on a target with ``fsync_each`` (``local-fsync``) untar and rm -rf are
  the fsyncing programs of ``benchlib.durable``;
* ``randread`` — a file written with ``dd``, then after ``cold()`` ``fio`` 4 KiB random reads
  (psync, queue depth 1, time based) — IOPS;
* ``dirs`` — a directory of ``big_dir`` small files and a tree of ``inodes`` small files (1,000
  per directory) put in place by ``target.populate()``; after ``cold()`` ``ls -l`` of the big
  directory (seconds), after another ``cold()`` ``os.stat`` of every path of the tree (seconds;
  the peak memory of the mount daemon then is the memory of that many known inodes). It runs
  last and leaves its files (too slow to remove through a synchronous mount; the target's
  directory is removed after it).

Each phase returns ``{metric: value}``; :data:`METRICS` gives each metric's unit and direction.
Inputs (the random file, the tarball) are made once by :class:`Inputs` outside every target.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchlib.durable import extract_fsync, read_members, remove_fsync
from benchlib.probe import BenchError, Probe, run
from benchlib.targets import Target


@dataclass(frozen=True)
class Metric:
    label: str
    unit: str
    higher_is_better: bool


METRICS: dict[str, Metric] = {
    "seq_write": Metric("sequential write (dd conv=fsync)", "MiB/s", True),
    "seq_read": Metric("sequential read, cold", "MiB/s", True),
    "seq_read_kept": Metric("seq. read, daemon cache kept", "MiB/s", True),
    "untar": Metric("untar", "files/s", True),
    "ls_lR": Metric("ls -lR", "s", False),
    "read_all": Metric("cat every file", "s", False),
    "stat_cold": Metric("stat every path, cold", "s", False),
    "stat_warm": Metric("stat every path, warm", "s", False),
    "rm_rf": Metric("rm -rf the tree", "s", False),
    "randread": Metric("4 KiB random read (fio)", "IOPS", True),
    "ls_l_big": Metric("ls -l of the big dir, fresh mount", "s", False),
    "stat_inodes": Metric("stat every path of the big tree", "s", False),
}
PHASE_METRICS: dict[str, tuple[str, ...]] = {
    "seq": ("seq_write", "seq_read", "seq_read_kept"),
    "tree": ("untar", "ls_lR", "read_all", "stat_cold", "stat_warm", "rm_rf"),
    "randread": ("randread",),
    "dirs": ("ls_l_big", "stat_inodes"),
}


@dataclass(frozen=True)
class Sizes:
    seq_mib: int = 2048
    tree_files: int = 8000
    fio_mib: int = 256
    fio_seconds: int = 20
    big_dir: int = 20_000
    inodes: int = 100_000


def stdlib_files(limit: int) -> Iterator[tuple[Path, str]]:
    """``(path, name in the archive)`` of the standard library's directories and files of at
    most 1 MiB, without site-packages, in a stable order, stopping after ``limit`` files."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "site-packages")
        here = Path(dirpath)
        yield here, os.path.join("stdlib", os.path.relpath(here, root))
        for name in sorted(filenames):
            path = here / name
            if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:
                continue
            yield path, os.path.join("stdlib", os.path.relpath(path, root))
            files += 1
            if files >= limit:
                return


class Inputs:
    """The source files of the workloads, in ``scratch`` (made once per bench)."""

    def __init__(self, scratch: Path, sizes: Sizes) -> None:
        self.scratch, self.sizes = scratch, sizes
        self.random = scratch / "random.bin"
        self.tarball = scratch / "stdlib.tar"
        self.paths: list[str] = []  # names of every entry of the tarball (dirs and files)
        self.files = 0

    def make(self, phases: set[str]) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        if phases & {"seq", "randread"}:
            mib = max(self.sizes.seq_mib, self.sizes.fio_mib)
            with self.random.open("wb") as out:
                for _ in range(mib):
                    out.write(os.urandom(1 << 20))
        if "tree" in phases:
            with tarfile.open(self.tarball, "w", format=tarfile.GNU_FORMAT) as tar:
                for path, name in stdlib_files(self.sizes.tree_files):
                    tar.add(path, arcname=name, recursive=False)
                    self.paths.append(name)
                    self.files += path.is_file()

    def warm(self) -> None:
        """Read the inputs so that their reads do not count in the next step."""
        for path in (self.random, self.tarball):
            if path.exists():
                run(["cat", str(path)])


def _rate(amount: float, seconds: float) -> float:
    return amount / seconds if seconds > 0 else float("inf")


def seq_phase(target: Target, inputs: Inputs, probe: Probe) -> dict[str, float]:
    mib = inputs.sizes.seq_mib
    big = target.workdir / "seq.bin"
    inputs.warm()
    dd = ["dd", f"if={inputs.random}", f"of={big}", "bs=1M", f"count={mib}", "conv=fsync"]
    write = probe.command("seq_write", dd)
    target.cold()
    read = probe.command("seq_read", ["dd", f"if={big}", "of=/dev/null", "bs=1M"])
    target.cold(forget=False)  # a fresh mount and no page cache, the daemon's disk cache kept
    kept = probe.command("seq_read_kept", ["dd", f"if={big}", "of=/dev/null", "bs=1M"])
    if big.stat().st_size != mib << 20:
        raise BenchError(f"{big} has {big.stat().st_size} bytes, expected {mib << 20}")
    big.unlink()
    return {
        "seq_write": _rate(mib, write),
        "seq_read": _rate(mib, read),
        "seq_read_kept": _rate(mib, kept),
    }


def stat_all(root: Path, names: list[str]) -> None:
    for name in names:
        os.stat(root / name)


def tree_phase(target: Target, inputs: Inputs, probe: Probe) -> dict[str, float]:
    tree = target.workdir / "tree"
    tree.mkdir()
    inputs.warm()
    if target.fsync_each:
        members = read_members(inputs.tarball)
        untar = probe.time("untar", lambda: extract_fsync(members, tree))
    else:
        untar = probe.command("untar", ["tar", "-xf", str(inputs.tarball), "-C", str(tree)])
    out = {"untar": _rate(inputs.files, untar)}
    out["ls_lR"] = probe.time("ls_lR", lambda: run(["ls", "-lR", str(tree)]))
    cat = f"find {_q(tree)} -type f -exec cat {{}} + > /dev/null"
    out["read_all"] = probe.command("read_all", ["sh", "-c", cat])
    target.cold()
    # stat of every name of the tarball also checks that the untar left them all
    for metric in ("stat_cold", "stat_warm"):
        out[metric] = probe.time(metric, lambda: stat_all(tree, inputs.paths))
    if target.fsync_each:
        out["rm_rf"] = probe.time("rm_rf", lambda: remove_fsync(tree))
    else:
        out["rm_rf"] = probe.command("rm_rf", ["rm", "-rf", str(tree)])
    if tree.exists():
        raise BenchError(f"{tree} still exists after rm -rf")
    return out


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def fio_iops(path: Path, mib: int, seconds: int) -> float:
    """4 KiB random reads of ``path`` by fio for ``seconds``: read IOPS."""
    cmd = ["fio", "--name=randread", f"--filename={path}", "--rw=randread", "--bs=4k"]
    cmd += [f"--size={mib}M", "--ioengine=psync", "--iodepth=1", "--numjobs=1"]
    cmd += ["--time_based", f"--runtime={seconds}", "--output-format=json"]
    report = json.loads(run(cmd, stdout=-1))
    return float(report["jobs"][0]["read"]["iops"])


def randread_phase(target: Target, inputs: Inputs, probe: Probe) -> dict[str, float]:
    mib = inputs.sizes.fio_mib
    data = target.workdir / "fio.bin"
    run(["dd", f"if={inputs.random}", f"of={data}", "bs=1M", f"count={mib}", "conv=fsync"])
    target.cold()
    iops: list[float] = []
    probe.time("randread", lambda: iops.append(fio_iops(data, mib, inputs.sizes.fio_seconds)))
    data.unlink()
    return {"randread": iops[0]}


def tree_paths(files: int, per_dir: int = 1000) -> list[str]:
    """``files`` file names spread over directories of ``per_dir`` files each."""
    return [f"d{i // per_dir:04d}/f{i:06d}" for i in range(files)]


def dirs_phase(target: Target, inputs: Inputs, probe: Probe) -> dict[str, float]:
    sizes = inputs.sizes
    big = [f"big/f{i:06d}" for i in range(sizes.big_dir)]
    files = [f"inodes/{p}" for p in tree_paths(sizes.inodes)]
    target.populate(big + files)
    target.cold()
    out = {"ls_l_big": probe.command("ls_l_big", ["ls", "-l", str(target.workdir / "big")])}
    if len(os.listdir(target.workdir / "big")) != len(big):
        raise BenchError(f"{target.workdir / 'big'} does not hold the {len(big)} files pushed")
    names = sorted({str(Path(p).parent) for p in files}) + files
    target.cold()
    out["stat_inodes"] = probe.time("stat_inodes", lambda: stat_all(target.workdir, names))
    return out


PHASES: dict[str, Callable[[Target, Inputs, Probe], dict[str, float]]] = {
    "seq": seq_phase,
    "tree": tree_phase,
    "randread": randread_phase,
    "dirs": dirs_phase,
}


def clean_workdir(target: Target) -> None:
    """Remove what a failed phase left in the target's working directory."""
    for child in list(target.workdir.iterdir()) if target.workdir.exists() else []:
        try:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        except OSError as exc:
            print(f"bench: cannot clean {child}: {exc}", file=sys.stderr)
