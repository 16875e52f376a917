"""Bucket access roles (WIRE §4.8), enforced in Python instead of a JavaScript write validator.

Roles: ``NONE 0``, ``READER 1``, ``WRITER 2``, ``ADMIN 3``; role maps are keyed by public-key
strings or ``*`` (everyone). The effective role of an identity on a path is the maximum over the
path's own metadata entry and every ancestor entry (up to the root ``""``), for the identity's key
and for ``*``. The owner is always ``ADMIN``; an unowned bucket (owner ``""``) is open to all.

What each operation needs (one table, :data:`NEEDED`):

* read (Root, ListPath, PullPath, Links, PullPathAccessRoles): READER on the path;
* write (PushPath(s), SetPath, MovePath, RemovePath, SetPathAttrs, Symlink): WRITER on the path
  (bucketfs lets writers create new paths, unlike upstream where only the owner may add a new
  metadata entry; see docs/PROTOCOL.md);
* PushPathAccessRoles: ADMIN on the path; Remove (the whole bucket): owner only.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from bucketfs.errors import PermissionDenied

from . import paths

EVERYONE = "*"


class Role(enum.IntEnum):
    NONE = 0
    READER = 1
    WRITER = 2
    ADMIN = 3


class Access(enum.Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    OWNER = "owner"


NEEDED = {Access.READ: Role.READER, Access.WRITE: Role.WRITER, Access.ADMIN: Role.ADMIN}
DENIED_TEXT = "app denied net record body: permission denied"


def effective_role(owner: str, metadata: Mapping[str, Any], path: str, who: str) -> Role:
    """The role ``who`` (a public-key string, ``""`` if anonymous) has on ``path``."""
    if not owner or (who and who == owner):
        return Role.ADMIN
    best = Role.NONE
    for anc in paths.ancestors(path):
        entry = metadata.get(anc)
        if not entry:
            continue
        roles = entry.get("roles") or {}
        for key in (who, EVERYONE):
            if key and key in roles:
                best = max(best, Role(int(roles[key])))
    return best


def check(owner: str, metadata: Mapping[str, Any], path: str, who: str, access: Access) -> None:
    """Raise :class:`PermissionDenied` unless ``who`` may perform ``access`` on ``path``."""
    if access is Access.OWNER:
        if owner and who != owner:
            raise PermissionDenied(DENIED_TEXT)
        return
    if effective_role(owner, metadata, path, who) < NEEDED[access]:
        raise PermissionDenied(DENIED_TEXT)


def can_see(owner: str, metadata: Mapping[str, Any], who: str) -> bool:
    """True if ``who`` has any role on any path of the bucket (the List filter)."""
    if not owner or who == owner:
        return True
    for entry in metadata.values():
        roles = (entry or {}).get("roles") or {}
        if int(roles.get(who, 0) if who else 0) > 0 or int(roles.get(EVERYONE, 0)) > 0:
            return True
    return False


def effective_map(metadata: Mapping[str, Any], path: str) -> dict[str, int]:
    """The role map of the exact path's entry, or of its nearest ancestor that has one."""
    for anc in paths.ancestors(path):
        entry = metadata.get(anc)
        if entry is not None and "roles" in entry:
            return {k: int(v) for k, v in (entry.get("roles") or {}).items()}
    return {}


def visible_metadata(owner: str, metadata: Mapping[str, Any], who: str) -> dict[str, Any]:
    """The read filter: the metadata entries ``who`` may see (those on which it, or ``*``, has
    a role on the entry or an ancestor); everything for the owner or an unowned bucket."""
    if not owner or who == owner:
        return dict(metadata)
    return {
        path: entry
        for path, entry in metadata.items()
        if effective_role(owner, metadata, path, who) > Role.NONE
    }
