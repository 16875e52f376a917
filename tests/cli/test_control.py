"""Unit tests of the runtime-file helpers: mount ids, long socket paths, the control client."""

from __future__ import annotations

import fcntl
import json
import socket
import threading
from pathlib import Path

from bucketfs.cli.mount import RuntimeDir, mount_id, request, short_socket_path


def test_mount_id_resolves_the_parent_only(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert mount_id(tmp_path / "real" / "mnt") == mount_id(tmp_path / "link" / "mnt")
    assert mount_id(tmp_path / "real" / "mnt") != mount_id(tmp_path / "real" / "other")
    assert len(mount_id(tmp_path / "missing" / "mnt")) == 16  # nothing needs to exist


def test_request_over_a_socket_path_too_long_for_sun_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "control.sock"
    assert len(str(path)) > 108
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_socket_path(path) as address:
        server.bind(address)
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            line = conn.makefile("rb").readline()
            conn.sendall(json.dumps({"ok": True, "result": json.loads(line)}).encode() + b"\n")

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert path.exists()
        assert request(path, {"op": "status"}, 5) == {"ok": True, "result": {"op": "status"}}
    finally:
        thread.join(5)
        server.close()


def test_runtime_dir_lock_and_info(tmp_path: Path) -> None:
    runtime = RuntimeDir(tmp_path)
    assert not runtime.locked() and runtime.read_info() is None
    runtime.info.write_text("not json")
    assert runtime.read_info() is None
    runtime.info.write_text('{"pid": 1}')
    assert runtime.read_info() == {"pid": 1}
    with open(runtime.lock, "w") as held:
        assert not runtime.locked()
        fcntl.flock(held, fcntl.LOCK_EX)  # as the daemon holds it
        assert runtime.locked()
    assert not runtime.locked()
