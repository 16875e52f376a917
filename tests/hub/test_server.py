"""The hub process: ready line, listen addresses, file modes, the data-dir lock, clean SIGTERM
stop, persistence across restarts and crashes (``kill -9``) with no acknowledged write lost."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import stat
import subprocess
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from bucketfs.auth.identity import Identity
from bucketfs.proto import threads_pb2 as pb
from bucketfs.testing.hubproc import HUB_CLI, HubProcess, HubProcessError
from bucketfs.testing.hubproc import HubClient as Client

if TYPE_CHECKING:
    from pathlib import Path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def instances(client: Client) -> list[dict[str, object]]:
    reply = client.threads.Find(
        pb.FindRequest(dbID=client.db.bytes, collectionName="things", queryJSON=b"{}"),
        metadata=client.md(),
        timeout=10,
    )
    return [json.loads(i) for i in reply.instances]


def test_unix_socket_hub(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with HubProcess(data, transport="unix", extra_args=("--debug",)) as hub:
        assert hub.address == f"unix:{data / 'hub.sock'}"
        assert stat.S_ISSOCK((data / "hub.sock").stat().st_mode)
        assert mode(data / "hub.sock") == 0o600
        assert mode(data) == 0o700
        assert mode(data / "identity") == 0o600
        assert mode(data / "hub.sqlite3") == 0o600
        key, secret = hub.create_key()
        client = Client(hub.address, key, secret)
        try:
            client.db = client.new_db(name="over-unix")
            assert instances(client) == []
        finally:
            client.close()
        assert "/threads.pb.API/Find by b" in hub.log_text()  # --debug logs each call
        assert secret not in hub.log_text()
        assert hub.stop() == 0
        assert not hub.log_errors(), hub.log_text()


def test_default_listen_is_unix_socket_in_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "d"
    cmd = [*HUB_CLI, "serve", "--data", str(data)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == f"bucketfs hub listening on unix:{data / 'hub.sock'}\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stdout is not None
        assert proc.stdout.read() == ""  # exactly one line on stdout
        proc.stdout.close()


def test_second_hub_on_same_data_dir_fails(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "data") as hub:
        second = subprocess.run(
            [*HUB_CLI, "serve", "--data", str(hub.data_dir), "--listen", "127.0.0.1:0"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert second.returncode == 1
        assert "another bucketfs hub is already running on" in second.stderr
        assert second.stdout == ""


def test_bad_listen_address(tmp_path: Path) -> None:
    with (
        pytest.raises(HubProcessError, match="listen address must be HOST:PORT or unix:PATH"),
        HubProcess(tmp_path / "data", listen="nonsense"),
    ):
        pass


def test_sigterm_stops_cleanly_and_ends_streams(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "data", extra_args=("--grace", "1")) as hub:
        key, secret = hub.create_key()
        client = Client(hub.address, key, secret)
        try:
            client.db = client.new_db()
            call = client.threads.Listen(
                pb.ListenRequest(dbID=client.db.bytes), metadata=client.md()
            )
            ended = threading.Event()

            def consume() -> None:
                with contextlib.suppress(grpc.RpcError):
                    list(call)
                ended.set()

            threading.Thread(target=consume, daemon=True).start()
            assert hub.stop(timeout=20) == 0
            assert ended.wait(10)
        finally:
            client.close()
        assert not hub.log_errors(), hub.log_text()


def test_restart_keeps_keys_threads_and_instances(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "data") as hub:
        key, secret = hub.create_key()
        client = Client(hub.address, key, secret)
        try:
            client.db = client.new_db(name="kept")
            client.threads.Create(
                pb.CreateRequest(
                    dbID=client.db.bytes, collectionName="things", instances=[b'{"name":"one"}']
                ),
                metadata=client.md(),
            )
            hub_key = Identity.load(hub.data_dir / "identity").public_key
            hub.restart()
            assert Identity.load(hub.data_dir / "identity").public_key == hub_key
            assert [d["name"] for d in instances(client)] == ["one"]
            info = client.threads.GetDBInfo(
                pb.GetDBInfoRequest(dbID=client.db.bytes), metadata=client.md()
            )
            assert info.name == "kept"
        finally:
            client.close()


def test_kill_during_creates_loses_no_acknowledged_write(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "data") as hub:
        key, secret = hub.create_key()
        client = Client(hub.address, key, secret)
        acknowledged: list[str] = []
        stop = threading.Event()

        def writer() -> None:
            n = 0
            while not stop.is_set():
                try:
                    reply = client.threads.Create(
                        pb.CreateRequest(
                            dbID=client.db.bytes,
                            collectionName="things",
                            instances=[json.dumps({"name": f"w{n}"}).encode()],
                        ),
                        metadata=client.md(),
                        timeout=5,
                    )
                except grpc.RpcError:
                    return  # the hub is gone
                acknowledged.extend(reply.instanceIDs)
                n += 1

        try:
            client.db = client.new_db()
            thread = threading.Thread(target=writer)
            thread.start()
            while len(acknowledged) < 200 and thread.is_alive():
                threading.Event().wait(0.01)
            os.kill(hub.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
            thread.join(20)
            stop.set()
            hub.kill()
            hub.start()
            stored = {str(d["_id"]) for d in instances(client)}
            assert len(acknowledged) >= 200
            assert set(acknowledged) <= stored
        finally:
            stop.set()
            client.close()


def test_sigint_lets_in_flight_calls_finish(tmp_path: Path) -> None:
    """A Create blocked behind an open write transaction is in flight when SIGINT arrives; the
    transaction commits within the grace period and both calls succeed before the hub exits."""
    with HubProcess(tmp_path / "data", extra_args=("--grace", "10")) as hub:
        key, secret = hub.create_key()
        client = Client(hub.address, key, secret)
        try:
            client.db = client.new_db()
            start = pb.StartTransactionRequest(dbID=client.db.bytes, collectionName="things")
            box: queue.Queue[Any] = queue.Queue()
            box.put(pb.WriteTransactionRequest(startTransactionRequest=start))
            create = pb.CreateRequest(instances=[b'{"_id":"txn","name":"t"}'])
            box.put(pb.WriteTransactionRequest(createRequest=create))

            def requests() -> Iterator[Any]:
                while (item := box.get(timeout=20)) is not None:
                    yield item

            replies = client.threads.WriteTransaction(requests(), metadata=client.md())
            next(replies)  # the transaction holds the DB lock now
            blocked = client.threads.Create.future(
                pb.CreateRequest(
                    dbID=client.db.bytes, collectionName="things", instances=[b'{"name":"late"}']
                ),
                metadata=client.md(),
            )
            assert not blocked.done()
            threading.Event().wait(1.0)  # let the Create reach its handler (blocked on the lock)
            assert not blocked.done()
            assert hub.proc is not None
            hub.proc.send_signal(signal.SIGINT)
            threading.Event().wait(0.5)
            box.put(None)  # half-close: commit
            assert list(replies) == []
            assert len(blocked.result(timeout=10).instanceIDs) == 1
            assert hub.proc.wait(timeout=20) == 0
        finally:
            client.close()
        hub.start()
        client = Client(hub.address, key, secret, db=client.db)
        try:
            assert sorted(str(d["name"]) for d in instances(client)) == ["late", "t"]
        finally:
            client.close()


def test_listen_errors_are_clear(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "one") as first:
        port = first.address.rpartition(":")[2]
        with (
            pytest.raises(HubProcessError, match=f"cannot listen on 127.0.0.1:{port}"),
            HubProcess(tmp_path / "two", listen=f"127.0.0.1:{port}"),
        ):
            pass
    long_path = tmp_path / ("x" * 120) / "hub.sock"
    with (
        pytest.raises(HubProcessError, match="unix socket path is longer than 107 bytes"),
        HubProcess(tmp_path / "three", listen=f"unix:{long_path}"),
    ):
        pass
