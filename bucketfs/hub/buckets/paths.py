"""Bucket path normalisation (WIRE §4.3, DESIGN §4 isolation).

Bucket paths are relative, ``/``-separated, with no leading slash; ``""`` (or ``"/"``) is the
bucket root. Absolute paths (any other path starting with ``/``), paths that would escape the
bucket (``..``) and paths that contain ``.textileseed`` (write methods only) are refused.

Upstream strips one leading ``/`` (so ``/etc/passwd`` names ``etc/passwd``); bucketfs refuses it,
so that a client that meant a local absolute path learns so instead of writing somewhere it did
not intend (docs/PROTOCOL.md, "Paths"). The bucketfs client never sends a leading slash.
"""

from __future__ import annotations

from bucketfs.errors import InvalidArgument

SEED_NAME = ".textileseed"


def clean(path: str, *, write: bool = False) -> str:
    """Return the canonical form of a client-supplied bucket path.

    ``"a//b/./c/"`` → ``"a/b/c"``; ``"/"`` → ``""``. A leading slash (other than the root
    ``"/"``), ``..`` anywhere, NUL bytes and (for write methods) any ``.textileseed`` component
    raise :class:`InvalidArgument`.
    """
    if "\0" in path:
        raise InvalidArgument("paths must not contain NUL bytes")
    if write and SEED_NAME in path:
        raise InvalidArgument("paths containing .textileseed are not allowed")
    if path == "/":
        return ""
    if path.startswith("/"):
        raise InvalidArgument(f"absolute paths are not allowed: {path!r}")
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise InvalidArgument(f"paths containing '..' are not allowed: {path!r}")
        parts.append(part)
    return "/".join(parts)


def split(path: str) -> list[str]:
    """Components of a clean path (``[]`` for the root)."""
    return path.split("/") if path else []


def parent(path: str) -> str:
    """Parent of a clean path (the root is its own parent)."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def name(path: str) -> str:
    """Last component of a clean path (``""`` for the root)."""
    return path.rsplit("/", 1)[-1]


def ancestors(path: str) -> list[str]:
    """The path itself and every ancestor, nearest first, ending with the root ``""``."""
    out = [path]
    while path:
        path = parent(path)
        out.append(path)
    return out


def is_under(path: str, prefix: str) -> bool:
    """True if ``path`` is ``prefix`` or lies inside it."""
    return not prefix or path == prefix or path.startswith(prefix + "/")
