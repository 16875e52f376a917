"""The ``bucketfs`` command: a click group; sub-commands live in sibling modules."""

from __future__ import annotations

import click

from bucketfs import __version__
from bucketfs.cli.hub import hub
from bucketfs.cli.identity import identity
from bucketfs.cli.mount import mount, status, umount


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bucketfs")
def cli() -> None:
    """Mount Textile buckets and thread databases as a filesystem, and run a Textile hub."""


cli.add_command(identity)
cli.add_command(hub)
cli.add_command(mount)
cli.add_command(umount)
cli.add_command(status)


def main() -> None:
    cli()
