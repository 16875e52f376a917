"""The performance goals of the mount (issue 12, "Targets"), checked against one bench run.

:func:`goal_lines` gives one line per goal with the figure of this run and ``met``/``MISSED``
(or ``not measured`` when a target or phase did not run). The goals are stated for the full
sizes (the :class:`~benchlib.workloads.Sizes` defaults) and ``--runs 3``; on other sizes the
lines say that they are indicative only. Ratios are speed ratios as in the table (≥ 1: bucketfs
at least as fast).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchlib.workloads import METRICS, Sizes

if TYPE_CHECKING:
    from benchlib.report import Results

RSS_LIMIT_MIB = 150.0
MODES = {"bucketfs": "synchronous", "bucketfs-wb": "write-back"}


def _ratio(results: Results, metric: str, ours: str, other: str) -> float | None:
    mine, theirs = results.median(metric, ours), results.median(metric, other)
    if mine is None or theirs is None or mine <= 0 or theirs <= 0:
        return None
    return mine / theirs if METRICS[metric].higher_is_better else theirs / mine


def _check(text: str, value: float | None, ok: bool, shown: str) -> str:
    if value is None:
        return f"goal: {text}: not measured"
    return f"goal: {text}: {shown} — {'met' if ok else 'MISSED'}"


def _ratio_goal(
    results: Results, text: str, metric: str, ours: str, other: str, at_least: float
) -> str:
    ratio = _ratio(results, metric, ours, other)
    return _check(text, ratio, ratio is not None and ratio >= at_least, f"{ratio or 0:.2f}×")


def _rclone_rows(results: Results) -> str:
    slower = []
    compared = 0
    for metric, meta in METRICS.items():
        ratio = _ratio(results, metric, "bucketfs-wb", "rclone")
        if ratio is None:
            continue
        compared += 1
        if ratio < 1.0:
            slower.append(f"{meta.label} {ratio:.2f}×")
    shown = f"{compared} rows, slower on: {'; '.join(slower)}" if slower else f"{compared} rows"
    return _check("write-back ≥ rclone on every row", compared or None, not slower, shown)


def _rss_goals(results: Results) -> list[str]:
    lines = []
    for target, mode in MODES.items():
        for steps, what in (
            (("seq_write", "seq_read"), f"copying a {results.sizes.seq_mib} MiB file"),
            (("stat_inodes",), f"with {results.sizes.inodes:,} inodes known"),
        ):
            peaks = [results.rss.get(f"{s} ({target})", {}).get("mount") for s in steps]
            found = [p for p in peaks if p is not None]
            peak = max(found) if found else None
            text = f"{mode} mount RSS ≤ {RSS_LIMIT_MIB:.0f} MiB {what}"
            lines.append(_check(text, peak, (peak or 0) <= RSS_LIMIT_MIB, f"{peak or 0:.0f} MiB"))
    return lines


def goal_lines(results: Results) -> list[str]:
    untar = results.median("untar", "bucketfs-wb")
    lines = [
        _check(
            "write-back untar ≥ 2,000 files/s",
            untar,
            (untar or 0) >= 2000,
            f"{untar or 0:,.0f} files/s",
        ),
        _ratio_goal(
            results, "write-back untar ≥ 0.5× pyfuse3", "untar", "bucketfs-wb", "pyfuse3", 0.5
        ),
        _rclone_rows(results),
        _ratio_goal(
            results, "synchronous untar ≥ 0.5× local-fsync", "untar", "bucketfs", "local-fsync", 0.5
        ),
        _ratio_goal(
            results,
            "synchronous rm -rf ≥ 0.5× local-fsync",
            "rm_rf",
            "bucketfs",
            "local-fsync",
            0.5,
        ),
    ]
    for target, mode in MODES.items():
        text = (
            f"{mode} ls -l of a {results.sizes.big_dir:,}-entry dir, fresh mount, ≤ 3× local's time"
        )
        ratio = _ratio(results, "ls_l_big", target, "local")
        times = 1 / ratio if ratio else 0.0
        lines.append(_check(text, ratio, times <= 3.0, f"{times:.2f}× local's time"))
    lines += _rss_goals(results)
    if results.sizes != Sizes() or results.runs < 3:
        lines.append(
            "goal: these sizes or runs are below the issue's (full sizes, --runs 3): indicative only"
        )
    return lines
