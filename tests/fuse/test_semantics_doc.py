"""docs/SEMANTICS.md is checked against the code and the tests (STYLE §13).

Each row of the operations table must name existing tests, and every errno the row promises must
appear in one of those tests (as the errno name or as an error class the errno table maps to it).
Every FUSE operation the adapter implements must have a row, and the errors table must agree
with ``bucketfs.fuse.errno_table``.
"""

from __future__ import annotations

import ast
import errno
import inspect
import re
from pathlib import Path

import pyfuse3

from bucketfs import errors
from bucketfs.fuse.errno_table import ERRNO
from bucketfs.fuse.ops import BucketOperations

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "SEMANTICS.md").read_text()
ERRNO_NAME = re.compile(r"\bE[A-Z]{2,}\b")


def table(heading: str) -> list[list[str]]:
    section = DOC.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]


def source_of(ref: str) -> str:
    path, name = ref.split("::")
    source = (ROOT / path).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) or ""
    raise AssertionError(f"{ref} named in docs/SEMANTICS.md does not exist")


def names_for(code: int) -> set[str]:
    """Ways a test can mention errno ``code``: its name or an error class mapped to it."""
    return {errno.errorcode[code]} | {cls.__name__ for cls, c in ERRNO.items() if c == code}


def test_every_row_is_tested_including_its_errnos() -> None:
    rows = table("Operations")
    assert len(rows) > 20
    for operation, _what, errnos, tests in rows:
        refs = re.findall(r"`([^`]+::[^`]+)`", tests)
        assert refs, f"no test named for {operation}"
        sources = "\n".join(source_of(ref) for ref in refs)
        for name in set(ERRNO_NAME.findall(errnos)):
            code = getattr(errno, name)
            assert any(n in sources for n in names_for(code)), f"{operation}: {name} untested"


def test_every_fuse_operation_has_a_row() -> None:
    documented = " ".join(row[0] for row in table("Operations"))
    implemented = [
        name
        for name in vars(BucketOperations)
        if not name.startswith("_")
        and inspect.isfunction(vars(BucketOperations)[name])
        and hasattr(pyfuse3.Operations, name)
    ]
    aliases = {"opendir": "readdir", "releasedir": "readdir", "forget": "lookup"}
    for name in implemented:
        assert f"`{aliases.get(name, name)}`" in documented, f"{name} is not in SEMANTICS.md"


def test_errors_table_matches_the_errno_table() -> None:
    documented: dict[str, int] = {}
    for error, code, _when in table("Errors"):
        for cls_name in re.findall(r"`(\w+)`", error):
            documented[cls_name] = getattr(errno, code.split()[0])
        if "/" in code:  # "EISDIR / ENOTDIR" pairs with "`IsADirectory` / `NotADirectory`"
            classes = re.findall(r"`(\w+)`", error)
            for cls_name, name in zip(classes, [c.strip() for c in code.split("/")], strict=True):
                documented[cls_name] = getattr(errno, name)
    for cls, code in ERRNO.items():
        if cls.__module__ == errors.__name__:
            assert documented.get(cls.__name__) == code, (
                f"{cls.__name__} -> {errno.errorcode[code]}"
            )
    assert "ENOTSUP" in " ".join(c for _e, c, _w in table("Errors"))
