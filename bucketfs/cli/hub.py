"""``bucketfs hub serve``, ``bucketfs hub keys create|list|invalidate``, ``bucketfs hub fsck``
and ``bucketfs hub gc``.

``serve`` runs the hub in the foreground and prints exactly one line on stdout,
``bucketfs hub listening on <address>``, once it accepts calls; logs go to stderr. SIGTERM or
SIGINT stop it cleanly (exit 0). The ``keys`` commands open the hub's SQLite store directly, so
they work whether or not the hub runs. ``fsck`` and ``gc`` take the hub's data directory lock, so
they refuse to run while a hub serves the directory (see ``bucketfs/hub/fsck.py``).

Exit status: 0 success; 1 a user error, printed as one line (e.g. the data directory is in use
by another hub, an unknown key); 2 bad usage; ``fsck`` only: 3 damage found and all of it
repaired, 4 damage remains.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from bucketfs import paths
from bucketfs.auth.privatefile import ensure_private_dir
from bucketfs.errors import BucketfsError
from bucketfs.hub.accounts import DEFAULT_ACCOUNT, Accounts, ApiKey
from bucketfs.hub.caller import KeyType
from bucketfs.hub.server import STORE_FILE, ServeConfig, run
from bucketfs.hub.servicers import HubOptions
from bucketfs.hub.store import open_store

data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Hub data directory (default: ~/.local/share/bucketfs/hub, see BUCKETFS_DATA_DIR).",
)


def _data_dir(data_dir: Path | None) -> Path:
    return (data_dir if data_dir is not None else paths.hub_data_dir()).absolute()


@click.group()
def hub() -> None:
    """Run a Textile-compatible hub and manage its API keys."""


@hub.command()
@data_option
@click.option("--listen", default="", help="HOST:PORT or unix:PATH (default: unix:DATA/hub.sock).")
@click.option("--gateway", default="", help="Also serve the HTTP gateway on HOST:PORT.")
@click.option(
    "--grpc-web",
    default="",
    metavar="HOST:PORT",
    help="Also serve gRPC-Web (HTTP/1.1 and websockets, for browsers and the Textile JS SDK).",
)
@click.option(
    "--grace", default=5.0, show_default=True, help="Seconds in-flight calls get on stop."
)
@click.option("--workers", default=64, show_default=True, help="Size of the handler thread pool.")
@click.option(
    "--challenge-timeout",
    default=60.0,
    show_default=True,
    help="Seconds GetToken waits for the signed challenge.",
)
@click.option("--debug", is_flag=True, help="Log debug messages to stderr.")
def serve(
    data_dir: Path | None,
    listen: str,
    gateway: str,
    grpc_web: str,
    grace: float,
    workers: int,
    challenge_timeout: float,
    debug: bool,
) -> None:
    """Serve the hub in the foreground until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = ServeConfig(
        data_dir=_data_dir(data_dir),
        listen=listen,
        gateway=gateway,
        grpc_web=grpc_web,
        grace=grace,
        max_workers=workers,
        options=HubOptions(challenge_timeout=challenge_timeout, gateway=gateway),
    )

    def ready(address: str) -> None:
        click.echo(f"bucketfs hub listening on {address}")

    try:
        run(config, ready)
    except BucketfsError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"cannot serve from {config.data_dir}: {exc}") from None


@contextmanager
def _accounts(data_dir: Path | None, create: bool = False) -> Iterator[Accounts]:
    directory = _data_dir(data_dir)
    if create:
        ensure_private_dir(directory)
    if not (directory / STORE_FILE).is_file() and not create:
        raise click.ClickException(f"{directory} is not a hub data directory (no {STORE_FILE})")
    store = open_store(str(directory / STORE_FILE))
    os.chmod(directory / STORE_FILE, 0o600)
    try:
        yield Accounts(store)
    except BucketfsError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()


def _key_json(record: ApiKey) -> dict[str, object]:
    return {
        "key": record.key,
        "secret": record.secret,
        "type": record.key_type.value,
        "secure": record.secure,
        "valid": record.valid,
        "threads": record.threads,
        "account": record.account,
    }


@hub.group()
def keys() -> None:
    """Create, list and invalidate API keys (works while the hub runs)."""


@keys.command()
@data_option
@click.option("--account", default=DEFAULT_ACCOUNT, show_default=True, help="Account of the key.")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(["account", "user"]),
    default="account",
    show_default=True,
    help="account: acts as the account; user: for app users, who need a token.",
)
@click.option("--insecure", is_flag=True, help="Do not require API signatures with this key.")
@click.option("--json", "as_json", is_flag=True, help="Print the key as JSON.")
def create(
    data_dir: Path | None, account: str, key_type: str, insecure: bool, as_json: bool
) -> None:
    """Create an API key (creating the account if needed) and print key and secret."""
    with _accounts(data_dir, create=True) as accounts:
        record = accounts.create_key(account, KeyType(key_type), secure=not insecure)
    if as_json:
        click.echo(json.dumps(_key_json(record)))
    else:
        click.echo(f"key:    {record.key}\nsecret: {record.secret}")
        click.echo(f"type:   {record.key_type.value}, secure: {record.secure}, account: {account}")


@keys.command(name="list")
@data_option
@click.option("--account", default=None, help="Only this account's keys.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (secrets included).")
def list_keys(data_dir: Path | None, account: str | None, as_json: bool) -> None:
    """List API keys (secrets only with --json)."""
    with _accounts(data_dir) as accounts:
        records = accounts.list_keys(account)
    if as_json:
        click.echo(json.dumps([_key_json(r) for r in records]))
        return
    for r in records:
        state = "valid" if r.valid else "invalid"
        secure = "secure" if r.secure else "insecure"
        click.echo(
            f"{r.key}  {r.key_type.value:7}  {secure:8}  {state:7}  "
            f"threads={r.threads}  account={r.account}"
        )


@keys.command()
@data_option
@click.argument("key")
def invalidate(data_dir: Path | None, key: str) -> None:
    """Invalidate KEY: calls with it are refused from now on."""
    with _accounts(data_dir) as accounts:
        accounts.invalidate_key(key)
    click.echo(f"invalidated {key}", err=True)


@hub.command()
@data_option
@click.option("--repair", is_flag=True, help="Remove what cannot be used (and say so).")
def fsck(data_dir: Path | None, repair: bool) -> None:
    """Check a stopped hub's data: databases, every block against its CID, every bucket's
    references. Exit 0 clean, 3 damage found and repaired, 4 damage remains, 1 cannot check."""
    from bucketfs.hub import fsck as checker

    directory = _data_dir(data_dir)
    try:
        report = checker.fsck(directory, repair=repair)
    except BucketfsError as exc:
        raise click.ClickException(exc.message) from None
    for problem in report.problems:
        click.echo(problem.line())
    state = {checker.CLEAN: "clean", checker.REPAIRED: "repaired", checker.DAMAGED: "DAMAGED"}
    click.echo(
        f"fsck {directory}: {report.blocks} blocks, {report.buckets} buckets, "
        f"{len(report.problems)} problems, {report.unreferenced} unreferenced blocks: "
        f"{state[report.status]}"
    )
    raise SystemExit(report.status)


@hub.command()
@data_option
def gc(data_dir: Path | None) -> None:
    """Delete the blocks no bucket references (the hub must be stopped)."""
    from bucketfs.hub import fsck as checker

    directory = _data_dir(data_dir)
    try:
        buckets, kept, deleted, freed = checker.gc(directory)
    except BucketfsError as exc:
        raise click.ClickException(f"{exc.message}; nothing was deleted") from None
    click.echo(
        f"gc {directory}: {buckets} buckets, kept {kept} blocks, "
        f"deleted {deleted} blocks ({freed} bytes)"
    )
