"""The ``bucketfs`` command: a click group; sub-commands live in sibling modules.

Besides its sub-commands, ``bucketfs`` accepts the form that ``mount.fuse3`` (and so ``mount -t
fuse.bucketfs`` and an fstab line) uses: ``bucketfs SOURCE MOUNTPOINT [-o OPTIONS]``, where
SOURCE is ``embedded`` or a hub address (``bucketfs.cli.fstab``). ``bucketfs completion SHELL``
prints click's completion script for bash, zsh or fish.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import get_completion_class

from bucketfs import __version__
from bucketfs.cli.fstab import fstab_args
from bucketfs.cli.hub import hub
from bucketfs.cli.identity import identity
from bucketfs.cli.mount import mount, status, umount

PROG = "bucketfs"
COMPLETE_VAR = "_BUCKETFS_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


class BucketfsGroup(click.Group):
    """The sub-commands, plus ``bucketfs SOURCE MOUNTPOINT -o OPTIONS`` (rewritten to ``mount``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, fstab_args(args, set(self.commands)))


@click.group(cls=BucketfsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG)
def cli() -> None:
    """Mount Textile buckets and thread databases as a filesystem, and run a Textile hub.

    \b
    fstab form (what mount.fuse3 runs): bucketfs SOURCE MOUNTPOINT -o OPTIONS
    with SOURCE 'embedded' or a hub address; see bucketfs mount --help for -o.
    """


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    \b
    bash: eval "$(bucketfs completion bash)"        (in ~/.bashrc)
    zsh:  eval "$(bucketfs completion zsh)"         (in ~/.zshrc)
    fish: bucketfs completion fish > ~/.config/fish/completions/bucketfs.fish
    """
    cls: Any = get_completion_class(shell)
    assert cls is not None  # the Choice admits only shells click knows
    click.echo(cls(cli, {}, PROG, COMPLETE_VAR).source(), nl=False)


cli.add_command(identity)
cli.add_command(hub)
cli.add_command(mount)
cli.add_command(umount)
cli.add_command(status)
cli.add_command(completion)


def main() -> None:
    cli(prog_name=PROG)
