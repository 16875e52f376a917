"""Bucket path normalisation (WIRE §4.3, DESIGN §4 isolation).

Bucket paths are relative, ``/``-separated, with no leading slash; ``""`` is the bucket root.
Clients may send one leading ``/``. Paths that would escape the bucket (``..``), that are absolute
after the one allowed slash, or that contain ``.textileseed`` (write methods only) are refused.
"""

from __future__ import annotations

from bucketfs.errors import InvalidArgument

SEED_NAME = ".textileseed"


def clean(path: str, *, write: bool = False) -> str:
    """Return the canonical form of a client-supplied bucket path.

    ``"/a//b/./c/"`` → ``"a/b/c"``. ``..`` anywhere, a second leading slash, NUL bytes and (for
    write methods) any ``.textileseed`` component raise :class:`InvalidArgument`.
    """
    if "\0" in path:
        raise InvalidArgument("paths must not contain NUL bytes")
    if write and SEED_NAME in path:
        raise InvalidArgument("paths containing .textileseed are not allowed")
    rest = path[1:] if path.startswith("/") else path
    if rest.startswith("/"):
        raise InvalidArgument(f"absolute paths are not allowed: {path!r}")
    parts = []
    for part in rest.split("/"):
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
