"""The machinery of scripts/bench on tiny sizes, so that it cannot rot (not a timed test).

Runs every phase against a local directory (plain, and fsyncing every change: local-fsync), the
in-memory pyfuse3 ceiling and a real bucketfs mount over a hub subprocess (synchronous, and with
--write-back when the mount has it; and an rclone mount when rclone is installed, as
scripts/bench installs it), then checks that every figure was measured, that the table shows it
with its ratios and the goals, that the FUSE processes' memory was sampled and that a py-spy
profile of a step was recorded and can be summarised. The harness lives in scripts/benchlib
(outside the package), which this module puts on sys.path as scripts/bench does.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from benchlib.durable import extract_fsync, read_members, remove_fsync
from benchlib.probe import summarize_profile, top_inclusive
from benchlib.report import Results, format_table, machine, speed_ratio
from benchlib.run import run_bench
from benchlib.targets import TARGETS, write_back_supported
from benchlib.workloads import METRICS, PHASE_METRICS, PHASES, Inputs, Sizes

TINY = Sizes(seq_mib=4, tree_files=20, fio_mib=4, fio_seconds=1, big_dir=50, inodes=120)
PY_SPY = Path(sys.executable).parent / "py-spy"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Results, list[str], Path]:
    targets = ["local", "local-fsync", "pyfuse3", "bucketfs"]
    targets += ["rclone"] if shutil.which("rclone") else []
    targets += ["bucketfs-wb"] if write_back_supported() else []
    profiles = tmp_path_factory.mktemp("profiles")
    results = run_bench(
        targets,
        list(PHASES),
        TINY,
        1,
        base_dir=tmp_path_factory.mktemp("bench"),
        profile=frozenset({"untar"}) if PY_SPY.exists() else frozenset(),
        profile_dir=profiles,
        progress=False,
        drop_caches=False,  # a test must not slow down the rest of the machine
    )
    return results, targets, profiles


def test_every_figure_measured(tiny_run: tuple[Results, list[str], Path]) -> None:
    results, targets, _ = tiny_run
    assert results.failures == []
    for metric in METRICS:
        for target in targets:
            value = results.median(metric, target)
            wanted = TARGETS[target].phases
            if wanted is not None and not any(metric in PHASE_METRICS[p] for p in wanted):
                assert value is None, (metric, target)  # local-fsync runs the tree only
                continue
            assert value is not None and value > 0, (metric, target)


def test_table_lists_targets_and_ratios(tiny_run: tuple[Results, list[str], Path]) -> None:
    results, targets, _ = tiny_run
    table = format_table(results, machine(), targets)
    for meta in METRICS.values():
        assert meta.label in table
    assert "bfs/local" in table and "bfs/lfsync" in table and "noisy" in table
    assert "cores" in table
    sizes = "sequential 4 MiB, tree 20 files max, fio 4 MiB for 1 s"
    assert sizes + ", big dir 50 entries, stat tree 120 files" in table
    untar_row = next(line for line in table.splitlines() if line.startswith("untar"))
    ours = [t for t in targets if t.startswith("bucketfs")]
    ratios = len(ours) * len({"local", "rclone"} & set(targets)) + 1  # + bfs/lfsync
    assert len(untar_row.split()) == 2 + len(targets) + ratios  # label, unit, values, ratios
    goals = [line for line in table.splitlines() if line.startswith("goal: ")]
    assert any("synchronous untar ≥ 0.5× local-fsync: " in line for line in goals)
    assert any("synchronous rm -rf ≥ 0.5× local-fsync: " in line for line in goals)
    assert any("ls -l of a 50-entry dir" in line for line in goals)
    assert any("with 120 inodes known: " in line for line in goals)
    assert not any("not measured" in line for line in goals if "write-back" not in line)
    assert "indicative only" in goals[-1]


def test_bucketfs_memory_sampled(tiny_run: tuple[Results, list[str], Path]) -> None:
    results, targets, _ = tiny_run
    for target in (t for t in targets if t.startswith("bucketfs")):
        for step in ("seq_write", "seq_read", "stat_inodes"):
            assert results.rss[f"{step} ({target})"]["mount"] > 10, results.rss
            assert results.rss[f"{step} ({target})"]["hub"] > 10, results.rss
    assert results.rss["stat_inodes (pyfuse3)"]["mount"] > 10, results.rss
    assert not any("(local" in label for label in results.rss)  # no daemon to watch


def test_profile_recorded(tiny_run: tuple[Results, list[str], Path]) -> None:
    _, _, profiles = tiny_run
    assert PY_SPY.exists(), "py-spy is a test dependency (pyproject.toml [test])"
    mount_profile = profiles / "untar-mount.txt"
    assert mount_profile.stat().st_size > 0
    assert summarize_profile(mount_profile)
    assert any("bucketfs/" in frame for frame, _ in top_inclusive(mount_profile))


def test_summarize_profile(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "process 1;thread 2;main (m.py:1);work (w.py:5);hash (h.py:9) 30\n"
        "process 1;thread 2;main (m.py:1);work (w.py:5) 10\n"
        "process 1;thread 3;main (m.py:1);idle (i.py:2) 60\n"
    )
    rows = {frame: (own, incl) for frame, own, incl in summarize_profile(raw)}
    assert rows["idle (i.py:2)"] == (60.0, 60.0)
    assert rows["hash (h.py:9)"] == (30.0, 30.0)
    assert rows["work (w.py:5)"] == (10.0, 40.0)


def test_durable_untar_and_rm(tmp_path: Path) -> None:
    """The local-fsync programs make the same tree as tar -xf and remove all of it."""
    inputs = Inputs(tmp_path / "inputs", TINY)
    inputs.make({"tree"})
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    mine.mkdir()
    theirs.mkdir()
    extract_fsync(read_members(inputs.tarball), mine)
    shutil.unpack_archive(inputs.tarball, theirs)
    for name in inputs.paths:
        a, b = mine / name, theirs / name
        assert a.is_dir() == b.is_dir(), name
        assert a.is_dir() or a.read_bytes() == b.read_bytes(), name
        assert a.is_dir() or os.stat(a).st_mtime_ns == os.stat(b).st_mtime_ns, name
    remove_fsync(mine)
    assert not mine.exists()


def test_speed_ratio_direction() -> None:
    assert speed_ratio("untar", 200.0, 100.0) == 2.0  # a rate: higher is faster
    assert speed_ratio("rm_rf", 2.0, 1.0) == 0.5  # a duration: longer is slower
    assert speed_ratio("rm_rf", None, 1.0) is None


@pytest.mark.parametrize("name", ["pyfuse3", "rclone", "bucketfs"])
def test_fuse_targets_work_through_their_mount(name: str, tmp_path: Path) -> None:
    """Every workload of a FUSE target runs below its mount point, on the mounted filesystem
    (the rclone and pyfuse3 targets once worked in a plain directory beside the mount)."""
    if name == "rclone" and shutil.which("rclone") is None:
        pytest.skip("rclone is not installed (scripts/bench installs it)")
    with TARGETS[name](tmp_path, drop_caches=False) as target:
        assert target.workdir.is_dir()
        assert os.stat(target.workdir).st_dev != os.stat(target.base).st_dev
        target.populate(["d/f1", "d/f2"])
        target.cold()
        assert sorted(os.listdir(target.workdir / "d")) == ["f1", "f2"]
