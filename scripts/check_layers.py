#!/usr/bin/env python3
"""Check the import rules of the package layers (STYLE.md §1, bucketfs/__init__.py).

Usage: check_layers.py [PACKAGE_DIR]. Prints one line per violation and exits 1 if any.

Besides the package, the bench harness beside it (``scripts/benchlib/`` next to PACKAGE_DIR's
parent, when it exists) is checked: it is not part of the package, and the package must not
import it; of its modules only ``nullfs.py`` (the pyfuse3 ceiling) may import pyfuse3, and none
imports grpc, nacl or click directly (it reaches the hub through ``bucketfs.testing.hubproc``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# third-party module -> sub-packages of bucketfs allowed to import it
EXCLUSIVE = {
    "pyfuse3": {"fuse"},
    "grpc": {"remote", "hub", "testing", "proto"},
    "grpc_health": {"remote", "hub", "testing", "proto"},
    "nacl": {"auth"},
    "click": {"cli"},
}
# sub-package -> bucketfs sub-packages it must not import
FORBIDDEN = {
    "hub": {"fuse", "vfs", "remote", "cli"},
    "vfs": {"fuse", "cli", "hub"},
    "remote": {"fuse", "vfs", "cli", "hub"},
    "auth": {"fuse", "vfs", "remote", "cli", "hub", "testing"},
    "ipfs": {"fuse", "vfs", "remote", "cli", "hub", "auth", "testing"},
    "fuse": {"cli", "hub"},
}
# sub-package -> third-party modules it must not import at all
BANNED = {"ipfs": {"trio", "grpc", "socket", "subprocess"}}
# the bench harness, relative to the package's parent directory, and its exceptions
BENCH_DIR = Path("scripts") / "benchlib"
BENCH_ALLOWED = {"pyfuse3": {"nullfs.py"}}


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def check(package_dir: Path) -> list[str]:
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir)
        layer = rel.parts[0] if len(rel.parts) > 1 else ""
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, module in _imports(tree):
            top = module.split(".")[0]
            where = f"{package_dir.name}/{rel}:{lineno}"
            allowed = EXCLUSIVE.get(top)
            if allowed is not None and layer not in allowed:
                problems.append(f"{where}: imports {module}, allowed only in {sorted(allowed)}")
            if top in BANNED.get(layer, set()):
                problems.append(f"{where}: {layer}/ must not import {module}")
            parts = module.split(".")
            inner = parts[1] if parts[0] == "bucketfs" and len(parts) > 1 else ""
            if inner in FORBIDDEN.get(layer, set()):
                problems.append(f"{where}: {layer}/ must not import bucketfs.{inner}")
            if top == "benchlib":
                problems.append(f"{where}: the package must not import the bench ({BENCH_DIR})")
    return problems


def check_bench(bench_dir: Path) -> list[str]:
    """The bench harness: third-party modules of :data:`EXCLUSIVE` only where allowed."""
    problems = []
    for path in sorted(bench_dir.rglob("*.py")):
        rel = path.relative_to(bench_dir)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for lineno, module in _imports(tree):
            top = module.split(".")[0]
            allowed = BENCH_ALLOWED.get(top, set())
            if top in EXCLUSIVE and str(rel) not in allowed:
                where = f"only in {sorted(allowed)}" if allowed else "nowhere"
                problems.append(
                    f"{BENCH_DIR / rel}:{lineno}: imports {module}, allowed in the bench {where}"
                )
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "bucketfs"
    bench = root.resolve().parent / BENCH_DIR
    problems = check(root) + (check_bench(bench) if bench.is_dir() else [])
    for line in problems:
        print(line)
    if not problems:
        counted = sum(1 for _ in root.rglob("*.py"))
        benched = sum(1 for _ in bench.rglob("*.py")) if bench.is_dir() else 0
        print(f"layers: ok ({counted} modules, {benched} bench modules)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
