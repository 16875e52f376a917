"""Collecting the runs of ``scripts/bench`` and printing the table (and its JSON form).

:class:`Results` holds every run's value per (metric, target), the peak memory of bucketfs's
processes, and failures. :func:`format_table` prints one row per metric with the median of each
target and the ratios of each bucketfs mode to local and rclone (and of the synchronous mode to
``local-fsync``, the other per-close durable target), then the issue's goals
(``benchlib.goals``). Ratios compare *speed*: for a rate it
is bucketfs's rate over the other's, for a duration the other's time over bucketfs's, so a ratio
of 1.00 or more always means bucketfs is at least as fast.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib.goals import goal_lines
from benchlib.workloads import METRICS, Sizes

TARGET_ORDER = ("local", "local-fsync", "rclone", "pyfuse3", "bucketfs", "bucketfs-wb")
#: the measured targets and the short names of their ratio columns
OURS = {"bucketfs": "bfs", "bucketfs-wb": "wb"}
#: the ratio columns: (ours, other target, column name)
RATIOS = (
    ("bucketfs", "local", "bfs/local"),
    ("bucketfs", "local-fsync", "bfs/lfsync"),
    ("bucketfs", "rclone", "bfs/rclone"),
    ("bucketfs-wb", "local", "wb/local"),
    ("bucketfs-wb", "rclone", "wb/rclone"),
)


def machine() -> dict[str, str]:
    """Date, cores, CPU model, kernel and the commit of the checkout, for the table's header."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    now = datetime.datetime.now(datetime.UTC)
    return {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "commit": commit,
    }


@dataclass
class Results:
    sizes: Sizes
    runs: int
    #: (metric, target) -> values of every run
    values: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    #: "step (target)" -> process name -> peak RSS MiB (targets with processes)
    rss: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, target: str, metrics: dict[str, float]) -> None:
        for metric, value in metrics.items():
            self.values.setdefault((metric, target), []).append(value)

    def add_rss(self, peaks: dict[str, dict[str, float]]) -> None:
        for label, by_proc in peaks.items():
            mine = self.rss.setdefault(label, {})
            for name, mib in by_proc.items():
                mine[name] = max(mine.get(name, 0.0), mib)

    def median(self, metric: str, target: str) -> float | None:
        found = self.values.get((metric, target))
        return statistics.median(found) if found else None

    def to_json(self, info: dict[str, str]) -> dict[str, Any]:
        return {
            "machine": info,
            "sizes": self.sizes.__dict__,
            "runs": self.runs,
            "median": {
                f"{metric}/{target}": self.median(metric, target)
                for metric, target in sorted(self.values)
            },
            "values": {f"{m}/{t}": v for (m, t), v in sorted(self.values.items())},
            "rss_peak_mib": self.rss,
            "failures": self.failures,
            "notes": self.notes,
        }


def speed_ratio(metric: str, ours: float | None, theirs: float | None) -> float | None:
    """How many times as fast bucketfs (in either mode) is (≥ 1: at least as fast); None when unknown."""
    if ours is None or theirs is None or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if METRICS[metric].higher_is_better else theirs / ours


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def _sizes(results: Results) -> str:
    """The sizes of the phases that ran."""
    sizes, ran = results.sizes, {metric for metric, _ in results.values}
    parts = []
    if ran & {"seq_write", "seq_read"}:
        parts.append(f"sequential {sizes.seq_mib} MiB")
    if "untar" in ran:
        parts.append(f"tree {sizes.tree_files} files max")
    if "randread" in ran:
        parts.append(f"fio {sizes.fio_mib} MiB for {sizes.fio_seconds} s")
    if "ls_l_big" in ran:
        parts.append(f"big dir {sizes.big_dir} entries, stat tree {sizes.inodes} files")
    return ", ".join(parts) or "nothing ran"


def format_table(results: Results, info: dict[str, str], targets: list[str]) -> str:
    lines = [
        f"bucketfs bench — {info['date']}, commit {info['commit']}, {info['cores']} cores "
        f"({info['cpu']}), kernel {info['kernel']}",
        f"median of {results.runs} run(s) per figure; sizes: {_sizes(results)}. "
        "Figures are noisy (shared machine, one disk): compare within a run, not across runs.",
        "ratio = how many times as fast bucketfs is (≥ 1.00: at least as fast); "
        "bfs = synchronous mode (close/fsync durable in the hub), "
        "wb = --write-back (close in the journal, fsync durable in it, uploads in the background), "
        "lfsync = local-fsync (untar and rm -rf fsync every file at close and every directory change).",
        "",
    ]
    shown = [t for t in TARGET_ORDER if t in targets]
    head = f"{'workload':<34} {'unit':<8}" + "".join(f"{t:>12}" for t in shown)
    ratios = [(ours, other, col) for ours, other, col in RATIOS if {ours, other} <= set(shown)]
    head += "".join(f"{col:>11}" for _, _, col in ratios)
    lines += [head, "-" * len(head)]
    for metric, meta in METRICS.items():
        if not any((metric, t) in results.values for t in shown):
            continue
        row = f"{meta.label:<34} {meta.unit:<8}"
        row += "".join(f"{_num(results.median(metric, t)):>12}" for t in shown)
        for ours, other, _ in ratios:
            mine = results.median(metric, ours)
            row += f"{_num(speed_ratio(metric, mine, results.median(metric, other))):>11}"
        lines.append(row)
    for label, peaks in sorted(results.rss.items()):
        shown_peaks = ", ".join(f"{name} {mib:.0f} MiB" for name, mib in sorted(peaks.items()))
        lines.append(f"peak RSS during {label}: {shown_peaks}")
    lines += goal_lines(results)
    lines += [f"note: {note}" for note in results.notes]
    lines += [f"FAILED: {failure}" for failure in results.failures]
    return "\n".join(lines)
