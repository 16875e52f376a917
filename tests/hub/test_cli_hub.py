"""``bucketfs hub keys create|list|invalidate`` (in-process through click, and against a running
hub), and ``bucketfs hub`` usage errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import grpc
import pytest
from click.testing import CliRunner

from bucketfs.cli.main import cli
from bucketfs.proto import usersd_pb2
from bucketfs.testing.hubproc import HubProcess

if TYPE_CHECKING:
    from pathlib import Path

from bucketfs.testing.hubproc import HubClient as Client


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["hub", *args])
    return result.exit_code, result.stdout, result.stderr


def test_keys_create_list_invalidate(tmp_path: Path) -> None:
    data = str(tmp_path / "hub")
    code, out, _ = run("keys", "create", "--data", data, "--json")
    assert code == 0
    made = json.loads(out)
    assert set(made) >= {"key", "secret", "type", "secure", "account"}
    assert (made["type"], made["secure"], made["account"]) == ("account", True, "default")
    assert made["key"].startswith("b") and len(made["key"]) == 27 and len(made["secret"]) == 40

    code, out, _ = run(
        "keys",
        "create",
        "--data",
        data,
        "--json",
        "--type",
        "user",
        "--insecure",
        "--account",
        "team",
    )
    user = json.loads(out)
    assert (user["type"], user["secure"], user["account"]) == ("user", False, "team")

    code, out, _ = run("keys", "list", "--data", data, "--json")
    listed = json.loads(out)
    assert [k["key"] for k in listed] == [made["key"], user["key"]]
    assert all(k["valid"] for k in listed)

    code, out, _ = run("keys", "list", "--data", data)
    assert (
        code == 0 and made["key"] in out and made["secret"] not in out
    )  # no secrets in plain text

    code, out, _ = run("keys", "list", "--data", data, "--json", "--account", "team")
    assert [k["key"] for k in json.loads(out)] == [user["key"]]

    code, _, err = run("keys", "invalidate", made["key"], "--data", data)
    assert code == 0 and made["key"] in err
    code, out, _ = run("keys", "list", "--data", data, "--json")
    assert [k["valid"] for k in json.loads(out)] == [False, True]


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    code, _, err = run("keys", "list", "--data", str(tmp_path / "nothing"))
    assert code == 1 and "is not a hub data directory" in err and err.count("\n") == 1
    run("keys", "create", "--data", str(tmp_path / "hub"))
    code, _, err = run("keys", "invalidate", "bnosuchkey", "--data", str(tmp_path / "hub"))
    assert code == 1 and err == "Error: API key not found or is invalid\n"
    code, _, err = run("keys", "create", "--data", str(tmp_path / "hub"), "--account", "bad name")
    assert code == 1 and "invalid account name" in err
    code, _, err = run("keys", "create", "--data", str(tmp_path / "hub"), "--type", "admin")
    assert code == 2


def test_keys_work_while_the_hub_runs(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "data") as hub:
        created = json.loads(hub.cli("keys", "create", "--json").stdout)
        client = Client(hub.address, created["key"], created["secret"])
        try:
            client.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=client.md())
            hub.cli("keys", "invalidate", created["key"])
            with pytest.raises(grpc.RpcError) as info:
                client.users.ListThreads(usersd_pb2.ListThreadsRequest(), metadata=client.md())
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
        finally:
            client.close()
