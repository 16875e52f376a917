"""The fstab form of the command line and the ``-o`` mount options.

``mount -t fuse.bucketfs SOURCE DIR -o OPTS`` and an fstab line ``SOURCE DIR fuse.bucketfs OPTS 0
0`` run ``mount.fuse3``, which runs ``bucketfs SOURCE DIR -o OPTS`` (having dropped ``noauto``,
``user``, ``_netdev``, ``nofail`` and added ``dev,suid``). :func:`fstab_args` rewrites that form
to ``bucketfs mount DIR --source SOURCE -o OPTS`` (SOURCE is the hub, and the SOURCE column of
the mount table, where umount(8) matches the line it recorded); it applies only when SOURCE can be a hub
(``embedded``, or an address with a colon: ``HOST:PORT``, ``unix:PATH``), so it never takes a
sub-command, nor a misspelt one. :func:`parse_options` turns ``-o`` options into the values of
the ``mount`` flags: every flag has an ``-o`` spelling, and the generic options of mount(8) are
accepted and ignored. An API secret is refused there: fstab and the command line are readable by
every user (put it in the config file, or ``BUCKETFS_API_SECRET``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from click.shell_completion import CompletionItem

from bucketfs.config import parse_bool
from bucketfs.errors import InvalidArgument

#: SOURCE that names the embedded hub (also accepted by ``--hub``)
EMBEDDED = "embedded"

#: ``-o`` name -> ``mount`` parameter, for the boolean flags (``name`` or ``name=BOOL``)
BOOLEAN = {
    "write_back": "write_back",
    "allow_other": "allow_other",
    "read_only": "read_only",
    "ro": "read_only",
    "debug": "debug",
}
#: ``-o`` name -> ``mount`` parameter, for the flags with a value (``name=VALUE``)
VALUED = {
    "hub": "hub",
    "api_key": "api_key",
    "identity": "identity",
    "thread": "thread",
    "cache_dir": "cache_dir",
    "cache_max_size": "cache_max_size",
}
#: mount(8)'s generic options and mount.fuse3's own: accepted, no effect on bucketfs
IGNORED = frozenset(
    [
        "defaults",
        "auto",
        "noauto",
        "user",
        "nouser",
        "users",
        "owner",
        "group",
        "_netdev",
        "nofail",
        "rw",
        "dev",
        "nodev",
        "suid",
        "nosuid",
        "exec",
        "noexec",
        "async",
        "sync",
        "dirsync",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
        "lazytime",
        "nolazytime",
        "silent",
        "loud",
    ]
)
#: prefixes of ignored options (``x-systemd.automount``, ``comment=...``)
IGNORED_PREFIXES = ("x-", "comment=", "uhelper=", "helper=")


def is_source(word: str) -> bool:
    """True when ``word`` can be the SOURCE of the fstab form."""
    return word == EMBEDDED or (":" in word and not word.startswith("-"))


def fstab_args(args: list[str], commands: set[str]) -> list[str]:
    """``SOURCE MOUNTPOINT ...`` -> ``mount MOUNTPOINT --hub SOURCE ...``; other args unchanged."""
    if len(args) >= 2 and args[0] not in commands and is_source(args[0]):
        source, mountpoint, *rest = args
        if not mountpoint.startswith("-"):
            return ["mount", mountpoint, "--source", source, *rest]
    return args


def parse_options(groups: Iterable[str]) -> dict[str, str | bool]:
    """The ``mount`` parameters that ``-o`` options (each a comma-separated list) set; the last
    of a repeated option wins. Raises InvalidArgument for an unknown option or a bad value."""
    values: dict[str, str | bool] = {}
    for group in groups:
        for option in filter(None, (o.strip() for o in group.split(","))):
            name, eq, value = option.partition("=")
            key = name.replace("-", "_")
            if option in IGNORED or option.startswith(IGNORED_PREFIXES):
                continue
            if key in BOOLEAN:
                values[BOOLEAN[key]] = parse_bool(value, f"-o {option}") if eq else True
            elif key in VALUED and eq and value:
                values[VALUED[key]] = value
            elif key == "api_secret":
                raise InvalidArgument(
                    "-o api_secret: fstab and command lines are readable by every user; put "
                    "the secret in the config file or BUCKETFS_API_SECRET"
                )
            elif key in VALUED:
                raise InvalidArgument(f"-o {option}: needs a value ({key}=...)")
            else:
                known = ", ".join([*BOOLEAN, *(f"{k}=" for k in VALUED)])
                raise InvalidArgument(f"unknown mount option {option!r} (bucketfs knows {known})")
    return values


def complete_options(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of ``-o``: the option being typed after the last comma."""
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    names = [*BOOLEAN, *(f"{k}=" for k in VALUED)]
    return [CompletionItem(prefix + name) for name in names if name.startswith(last)]
