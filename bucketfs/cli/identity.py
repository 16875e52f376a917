"""``bucketfs identity create|show``: the user's Ed25519 identity file.

The identity (``paths.identity_file()`` unless ``--identity`` says otherwise) is the private key
the mount uses to obtain thread tokens. Only its public key is ever printed. User errors (missing,
corrupt or insecure file; refusing to overwrite) are one-line messages with exit status 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from bucketfs import paths
from bucketfs.auth.identity import Identity
from bucketfs.errors import AlreadyExists, BucketfsError, NotFound

identity_option = click.option(
    "--identity",
    "identity_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Identity file (default: ~/.config/bucketfs/identity, see BUCKETFS_CONFIG_DIR).",
)


def _path(identity_path: Path | None) -> Path:
    return identity_path if identity_path is not None else paths.identity_file()


@click.group()
def identity() -> None:
    """Create or show the Ed25519 identity used to get thread tokens."""


@identity.command()
@identity_option
@click.option(
    "--force", is_flag=True, help="Replace an existing identity (its tokens stop working)."
)
def create(identity_path: Path | None, force: bool) -> None:
    """Generate a new identity and print its public key."""
    path = _path(identity_path)
    new = Identity.generate()
    try:
        new.save(path, overwrite=force)
    except AlreadyExists:
        raise click.ClickException(
            f"identity file {path} already exists; use --force to replace it"
        ) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write identity file {path}: {exc.strerror}") from None
    click.echo(f"identity written to {path}", err=True)
    click.echo(str(new.public_key))


@identity.command()
@identity_option
def show(identity_path: Path | None) -> None:
    """Print the public key of the identity (never the private key)."""
    path = _path(identity_path)
    try:
        loaded = Identity.load(path)
    except NotFound:
        raise click.ClickException(
            f"no identity file at {path}; create one with: bucketfs identity create"
        ) from None
    except BucketfsError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"cannot read identity file {path}: {exc.strerror}") from None
    click.echo(str(loaded.public_key))
