"""Running the benchmark: every phase against every target, ``runs`` times (``scripts/bench``).

:func:`run_bench` interleaves the targets within each run (run 1: local, rclone, bucketfs; run
2: ...), so that a slow moment of the machine hits them alike, and starts each target afresh for
each run (a new hub and mount for bucketfs). A target runs only the phases it has (``phases``).
A failing phase is recorded and the bench goes on. :func:`ensure_tools` installs rclone and fio
with apt when they are missing (a benchmark's convenience: the product never installs anything).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib.probe import BenchError, Probe
from benchlib.report import Results
from benchlib.targets import (
    BUCKETFS_TARGETS,
    TARGETS,
    Target,
    drop_page_cache,
    write_back_supported,
)
from benchlib.workloads import PHASES, Inputs, Sizes, clean_workdir

#: steps whose peak memory (of the FUSE daemons and the hub) the table reports
RSS_STEPS = ("seq_write", "seq_read", "stat_inodes")
APT_PACKAGES = {"rclone": "rclone", "fio": "fio", "fusermount3": "fuse3"}


def ensure_tools(tools: list[str]) -> None:
    """Install the Debian packages of missing ``tools`` (needs root and apt)."""
    missing = [APT_PACKAGES[t] for t in tools if shutil.which(t) is None]
    if not missing:
        return
    print(f"bench: installing {' '.join(missing)} with apt-get", file=sys.stderr)
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def run_bench(
    targets: list[str],
    phases: list[str],
    sizes: Sizes,
    runs: int,
    *,
    base_dir: Path | None = None,
    profile: frozenset[str] = frozenset(),
    profile_dir: Path | None = None,
    progress: bool = True,
    drop_caches: bool = True,
) -> Results:
    """Measure; ``profile`` names the steps (metrics) whose bucketfs processes py-spy records
    (in the first run only) into ``profile_dir``. ``drop_caches=False`` leaves the kernel's page
    cache alone (cold steps then only remount)."""
    results = Results(sizes, runs)
    if "bucketfs-wb" in targets and not write_back_supported():
        results.notes.append("bucketfs-wb skipped: this bucketfs has no --write-back")
        targets = [t for t in targets if t != "bucketfs-wb"]
    if not drop_caches:
        results.notes.append("the page cache was not dropped (cold steps only remount)")
    elif not drop_page_cache():
        results.notes.append("the page cache could not be dropped (not root): cold is not cold")
    with tempfile.TemporaryDirectory(prefix="bucketfs-bench-", dir=base_dir) as tmp:
        base = Path(tmp)
        inputs = Inputs(base / "inputs", sizes)
        inputs.make(set(phases))
        if "tree" in phases:
            results.notes.append(f"tree: {inputs.files} files in {len(inputs.paths)} entries")
        for number in range(runs):
            for name in targets:
                wanted = profile if number == 0 and name in BUCKETFS_TARGETS else frozenset()
                target = TARGETS[name](base / f"run{number}", drop_caches=drop_caches)
                pdir = profile_dir
                if pdir is not None and name != "bucketfs":
                    pdir = pdir / name  # one file per step and process: keep targets apart
                    pdir.mkdir(parents=True, exist_ok=True)
                probe = Probe(target.processes, profile=wanted, profile_dir=pdir)
                _run_target(target, phases, inputs, results, probe, progress)
    return results


def _run_target(
    target: Target,
    phases: list[str],
    inputs: Inputs,
    results: Results,
    probe: Probe,
    progress: bool,
) -> None:
    name = target.name
    try:
        with target:
            for phase in phases:
                if target.phases is not None and phase not in target.phases:
                    continue
                try:
                    metrics = PHASES[phase](target, inputs, probe)
                except (BenchError, OSError) as exc:
                    results.failures.append(f"{name} {phase}: {exc}")
                    clean_workdir(target)
                    continue
                results.add(name, metrics)
                if progress:
                    shown = ", ".join(f"{k} {v:,.2f}" for k, v in metrics.items())
                    print(f"bench: {name} {phase}: {shown}", file=sys.stderr, flush=True)
            rss = {k: v for k, v in probe.rss.items() if k in RSS_STEPS and v}
            results.add_rss({f"{k} ({name})": v for k, v in rss.items()})
    except (BenchError, OSError, RuntimeError) as exc:
        results.failures.append(f"{name}: {exc}")
    finally:
        shutil.rmtree(target.base, ignore_errors=True)
