"""The official Textile JS SDK (``@textile/hub`` 6.3.4 from npm) against a real hub's gRPC-Web
endpoint (``--grpc-web``), over the SDK's own websocket transport in Node.

One scripted session (grpcweb_session.cjs) runs per module; each step it prints is one test.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from grpcweb_npm import install_script, tool

from bucketfs.testing.hubproc import HubProcess, free_tcp_port

STEPS = [
    "identity",
    "get_token",
    "new_db",
    "new_collection",
    "create",
    "create_schema_refused",
    "find",
    "find_by_id",
    "listen",
    "save",
    "has",
    "delete",
    "users_get_thread",
    "users_list_threads",
    "buckets_get_or_create",
    "push_path_small",
    "push_path_1mib",
    "list_path",
    "pull_path",
    "links",
    "remove_path",
    "remove",
    "done",
]


@pytest.fixture(scope="module")
def grpcweb_hub() -> Iterator[tuple[HubProcess, str]]:
    port = free_tcp_port()
    with HubProcess(extra_args=("--grpc-web", f"127.0.0.1:{port}")) as hub:
        yield hub, f"http://127.0.0.1:{port}"
        assert not hub.log_errors(), hub.log_text()[-3000:]


@pytest.fixture(scope="module")
def session(grpcweb_hub: tuple[HubProcess, str]) -> dict[str, dict[str, object]]:
    hub, url = grpcweb_hub
    script = install_script("grpcweb_session.cjs")
    key, secret = hub.create_key(type="user")
    result = subprocess.run(
        [tool("node"), str(script), url, key, secret],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=script.parent,
    )
    steps = {}
    for line in result.stdout.splitlines():
        item = json.loads(line)
        steps[item["step"]] = item
    assert result.returncode == 0, result.stderr + result.stdout
    return steps


@pytest.mark.parametrize("step", STEPS)
def test_sdk_step(session: dict[str, dict[str, object]], step: str) -> None:
    assert step in session, f"step {step} did not run; steps: {sorted(session)}"
    assert session[step]["ok"], session[step]


def test_sdk_ran_only_known_steps(session: dict[str, dict[str, object]]) -> None:
    assert sorted(session) == sorted(STEPS)
