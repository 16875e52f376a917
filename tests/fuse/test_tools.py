"""Ordinary tools inside a real mount (over the fake hub): cp, mv, rm, tar, rsync, find,
sha256sum, an editor-style save, git, dd."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from bucketfs.testing.mountproc import MountProcess

from .conftest import sh


def test_cp_r_find_and_diff(bucket: Path, src: Path) -> None:
    sh(f"cp -r {src} src", bucket)
    sh(f"diff -r {src} src", bucket)
    local = sorted(p.relative_to(src).as_posix() for p in src.rglob("*"))
    found = sh("cd src && find . -mindepth 1 | sed 's|^./||' | LC_ALL=C sort", bucket).split()
    assert found == local


def test_mv_file_dir_and_across_buckets(bucket: Path, mount: MountProcess) -> None:
    sh("mkdir -p d/e && echo one > d/e/f && echo two > g", bucket)
    sh("mv g d/e/g2 && mv d d2", bucket)
    assert (bucket / "d2/e/g2").read_text() == "two\n"
    other = mount.mountpoint / "buckets" / f"{bucket.name}-other"
    other.mkdir()
    sh(f"mv d2 {other}/moved", bucket)  # EXDEV: mv copies and removes
    assert (other / "moved/e/f").read_text() == "one\n"
    assert sorted(os.listdir(bucket)) == []


def test_rm_rf(bucket: Path) -> None:
    sh("mkdir -p a/b/c && touch a/b/c/x a/y && rm -rf a", bucket)
    assert os.listdir(bucket) == []


def test_tar_round_trip(bucket: Path, tmp_path: Path, src: Path) -> None:
    sh(f"tar -C {src.parent} -cf {tmp_path}/in.tar bucketfs/vfs", bucket)
    sh(f"tar -xf {tmp_path}/in.tar", bucket)
    sh(f"diff -r {src}/vfs bucketfs/vfs", bucket)
    sh(f"tar -cf {tmp_path}/out.tar bucketfs && tar -tf {tmp_path}/out.tar > /dev/null", bucket)


def test_rsync_a(bucket: Path, src: Path) -> None:
    sh(f"rsync -a {src}/fuse/ copy/", bucket)
    sh(f"diff -r {src}/fuse copy", bucket)
    st_src = os.stat(src / "fuse" / "ops.py")
    st_dst = os.stat(bucket / "copy" / "ops.py")
    assert (st_dst.st_mode, st_dst.st_mtime_ns // 10**9) == (
        st_src.st_mode,
        st_src.st_mtime_ns // 10**9,
    )
    out = sh(f"rsync -a --itemize-changes {src}/fuse/ copy/", bucket)
    assert out.strip() == ""  # nothing to do the second time


def test_editor_style_save(bucket: Path) -> None:
    (bucket / "doc.txt").write_text("version 1\n")
    tmp = bucket / ".doc.txt.swp"
    tmp.write_text("version 2\n")
    os.rename(tmp, bucket / "doc.txt")
    assert (bucket / "doc.txt").read_text() == "version 2\n"
    assert os.listdir(bucket) == ["doc.txt"]


def test_git_init_add_commit(bucket: Path) -> None:
    sh(
        "git init -q repo && cd repo && echo hi > a && git add a && "
        "git -c user.name=t -c user.email=t@example.org commit -q -m first && git log --oneline",
        bucket,
    )
    assert sh("cd repo && git status --porcelain && git cat-file -p HEAD:a", bucket) == "hi\n"


def test_dd_and_sha256sum_of_a_large_file(bucket: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
    sh(f"dd if={big} of=big bs=1M status=none conv=fsync", bucket)
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    assert sh("sha256sum big", bucket).split()[0] == want
    assert os.stat(bucket / "big").st_size == 64 << 20
