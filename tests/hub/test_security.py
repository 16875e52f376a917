"""Security rules of the hub over real gRPC (issue 13 part 6).

* A token is accepted only with the API key that owns the thread, on every Buckets and extension
  method exactly as on ThreadDB (identity A's token with another user key of the same account is
  ``Bad API key`` everywhere).
* Absolute bucket paths (``/etc/passwd``) are refused with INVALID_ARGUMENT by every method that
  takes a path; the bucket root may still be named ``/``.
* A request that is not a valid protobuf (e.g. a path that is not UTF-8) is INVALID_ARGUMENT and
  leaves no traceback in the hub log.
* Public buckets: any identity that knows thread and key may read them (role ``*`` = READER, as
  upstream); writing, changing roles and listing the thread's buckets stay with the owner and the
  role holders, and removing ``*`` makes the bucket private to them.
"""

from __future__ import annotations

import itertools
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import gateway_hub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_buckets_api import Buckets, rpc_error

from bucketfs.auth.identity import Identity
from bucketfs.proto import bucketfs_ext_pb2 as ext_pb
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.testing.hubproc import HubClients, HubProcess

DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT
READER, WRITER, ADMIN = 1, 2, 3

BUCKETS = pb.DESCRIPTOR.services_by_name["APIService"]
EXTENSION = ext_pb.DESCRIPTOR.services_by_name["BucketsExtension"]
ALL_METHODS = [(BUCKETS, m) for m in BUCKETS.methods] + [(EXTENSION, m) for m in EXTENSION.methods]


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    """A hub with the HTTP gateway (overrides conftest's ``hub``); its log must stay clean."""
    with gateway_hub(clean_log=True) as proc:
        yield proc


def gateway_status(hub: HubProcess, thread: Any, key: str, path: str) -> int:
    url = f"http://{hub.gateway}/thread/{thread}/buckets/{key}/{path}"  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


@pytest.fixture(scope="module")
def world(hub: HubProcess) -> Iterator[dict[str, Any]]:
    """Identity A with user key 1 owns a thread holding a public bucket with a file; key 2 is
    another user key of the same account, presented with A's token."""
    clients = HubClients(hub)
    ident = Identity.generate()
    owner = clients.user(ident)
    b = Buckets(owner, owner.new_db())
    key = b.create("pub").root.key
    b.push(key, "dir/f.txt", b"hello")
    key2, secret2 = hub.create_key(type="user")
    borrowed = clients.raw(key2, secret2)
    borrowed.token = owner.token  # A's token, but not with the key that owns A's thread
    yield {"owner": b, "borrowed": Buckets(borrowed, b.thread), "key": key, "clients": clients}
    clients.close()


def _call(b: Buckets, service: Any, method: Any, request: Any) -> Any:
    """Call ``service``/``method`` raw with ``request`` (one message, or the first of a stream)."""
    path = f"/{service.full_name}/{method.name}"
    ser, de = request.SerializeToString, lambda data: data
    channel = b.client.channel
    if method.client_streaming:
        kind = channel.stream_stream if method.server_streaming else channel.stream_unary
        return kind(path, request_serializer=ser, response_deserializer=de)(
            iter([request]), metadata=b.md(), timeout=10
        )
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    return kind(path, request_serializer=ser, response_deserializer=de)(
        request, metadata=b.md(), timeout=10
    )


def _request(method: Any, key: str) -> Any:
    """A plausible request of ``method`` on bucket ``key`` (header first for streams)."""
    from google.protobuf import message_factory

    cls = message_factory.GetMessageClass(method.input_type)
    msg = cls()
    fields = cls.DESCRIPTOR.fields_by_name
    if "header" in fields:
        header = msg.header
        if "key" in header.DESCRIPTOR.fields_by_name:
            header.key = key
        if "path" in header.DESCRIPTOR.fields_by_name:
            header.path = "dir/f.txt"
        return msg
    if "key" in fields:
        msg.key = key
    if "path" in fields and method.name not in ("ListIpfsPath", "PullIpfsPath"):
        msg.path = "dir/f.txt"
    return msg


@pytest.mark.parametrize(
    ("service", "method"), ALL_METHODS, ids=[f"{s.name}.{m.name}" for s, m in ALL_METHODS]
)
def test_token_with_another_key_is_refused_by_every_bucket_method(
    world: dict[str, Any], service: Any, method: Any
) -> None:
    err = rpc_error(_call, world["borrowed"], service, method, _request(method, world["key"]))
    assert (err.code(), err.details()) == (DENIED, "Bad API key"), method.name


def test_the_owner_key_still_works_and_the_bucket_is_untouched(world: dict[str, Any]) -> None:
    b, key = world["owner"], world["key"]
    assert b.pull(key, "dir/f.txt") == b"hello"
    roles = b.api.PullPathAccessRoles(
        pb.PullPathAccessRolesRequest(key=key, path=""), metadata=b.md()
    ).roles
    assert set(roles) == {b.root(key).owner, "*"}


def test_role_holders_with_their_own_key_are_not_affected(world: dict[str, Any]) -> None:
    b, key = world["owner"], world["key"]
    writer = world["clients"].user(Identity.generate())
    from bucketfs.auth.token import parse_token_unverified

    who = parse_token_unverified(writer.token).subject
    b.api.PushPathAccessRoles(
        pb.PushPathAccessRolesRequest(key=key, path="dir", roles={who: WRITER}), metadata=b.md()
    )
    Buckets(writer, b.thread).push(key, "dir/by-writer.txt", b"w")
    assert b.pull(key, "dir/by-writer.txt") == b"w"


# -- absolute paths ---------------------------------------------------------------------------


def _path_calls(b: Buckets, key: str, path: str) -> dict[str, Any]:
    """One call per path-taking method, with ``path`` where the method takes a path."""
    api, ext, md = b.api, b.ext, b.md()
    cid = b.ls(key, "dir/f.txt").item.cid
    return {
        "PushPath": lambda: b.push(key, path, b"x"),
        "PushPaths.chunk": lambda: b.push_paths(key, [(path, b"x")]),
        "PushPaths.header": lambda: b.push_paths(key, [], paths=(path,)),
        "ListPath": lambda: b.ls(key, path),
        "PullPath": lambda: b.pull(key, path),
        "Links": lambda: api.Links(pb.LinksRequest(key=key, path=path), metadata=md),
        "SetPath": lambda: api.SetPath(pb.SetPathRequest(key=key, path=path, cid=cid), metadata=md),
        "MovePath.from": lambda: api.MovePath(
            pb.MovePathRequest(key=key, from_path=path, to_path="moved"), metadata=md
        ),
        "MovePath.to": lambda: api.MovePath(
            pb.MovePathRequest(key=key, from_path="dir/f.txt", to_path=path), metadata=md
        ),
        "RemovePath": lambda: api.RemovePath(pb.RemovePathRequest(key=key, path=path), metadata=md),
        "PushPathAccessRoles": lambda: api.PushPathAccessRoles(
            pb.PushPathAccessRolesRequest(key=key, path=path, roles={"*": READER}), metadata=md
        ),
        "PullPathAccessRoles": lambda: api.PullPathAccessRoles(
            pb.PullPathAccessRolesRequest(key=key, path=path), metadata=md
        ),
        "SetPathAttrs": lambda: ext.SetPathAttrs(
            ext_pb.SetPathAttrsRequest(key=key, path=path, set_mode=True, mode=0o600), metadata=md
        ),
        "Symlink": lambda: ext.Symlink(
            ext_pb.SymlinkRequest(key=key, path=path, target="dir/f.txt"), metadata=md
        ),
    }


def _refused(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if hasattr(result, "__next__"):
            list(result)
    return info.value.code(), info.value.details()


@pytest.fixture(scope="module")
def paths_bucket(world: dict[str, Any]) -> tuple[Buckets, str]:
    b = world["owner"]
    key = b.create("paths").root.key
    b.push(key, "dir/f.txt", b"hello")
    return b, key


@pytest.mark.parametrize("absolute", ["/etc/passwd", "/dir/f.txt", "//x", "/./a", "/a/"])
def test_absolute_paths_are_refused_by_every_path_method(
    paths_bucket: tuple[Buckets, str], absolute: str
) -> None:
    b, key = paths_bucket
    before = b.root(key).path
    for name, call in _path_calls(b, key, absolute).items():
        code, details = _refused(call)
        assert code == INVALID, (name, code, details)
        assert "absolute" in details, (name, details)
    assert b.root(key).path == before
    assert "etc" not in b.names(key)


_EXAMPLE = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(["a", "b", ".", "", "c d"]), min_size=1, max_size=4))
def test_leading_slash_is_refused_relative_is_stored_as_given(
    paths_bucket: tuple[Buckets, str], parts: list[str]
) -> None:
    b, key = paths_bucket
    relative = "/".join(parts)
    canonical = "/".join(p for p in parts if p not in ("", "."))
    assert _refused(lambda: b.push(key, "/" + relative, b"x"))[0] == INVALID
    if canonical:
        n = next(_EXAMPLE)
        b.push(key, f"prop{n}/{relative}", b"y")
        assert b.pull(key, f"prop{n}/{canonical}") == b"y"


def test_root_may_be_named_slash(paths_bucket: tuple[Buckets, str]) -> None:
    b, key = paths_bucket
    assert b.names(key, "/") == b.names(key, "")
    assert b.api.PullPathAccessRoles(
        pb.PullPathAccessRolesRequest(key=key, path="/"), metadata=b.md()
    ).roles


# -- undecodable requests ---------------------------------------------------------------------


def _raw(b: Buckets, path: str, kind: str, payload: bytes) -> Any:
    channel = b.client.channel
    ident = lambda data: data  # noqa: E731
    make = getattr(channel, kind)(path, request_serializer=ident, response_deserializer=ident)
    if kind.startswith("stream"):
        return make(iter([payload]), metadata=b.md(), timeout=10)
    return make(payload, metadata=b.md(), timeout=10)


def _varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2), written by hand so it may be invalid."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


BAD_UTF8 = [b"\xff", b"a\xc3", b"\xed\xa0\x80", b"ok/\xfe\xfe"]


def _bad_string_payload(message: Any, bad: bytes) -> bytes | None:
    """Wire bytes of ``message`` (a descriptor) with ``bad`` in every string field (the key,
    paths, CIDs, …), recursing into a ``header``/``chunk`` sub-message; ``None`` if it has none."""
    out = b""
    for fd in message.fields:
        if fd.type == fd.TYPE_STRING:
            out += _field(fd.number, bad)
        elif fd.type == fd.TYPE_MESSAGE and fd.name in ("header", "chunk"):
            inner = _bad_string_payload(fd.message_type, bad)
            if inner is not None:
                return _field(fd.number, inner)
    return out or None


def _kind(method: Any) -> str:
    first = "stream" if method.client_streaming else "unary"
    return f"{first}_{'stream' if method.server_streaming else 'unary'}"


STRING_METHODS = [
    (s, m) for s, m in ALL_METHODS if _bad_string_payload(m.input_type, b"x") is not None
]


@pytest.mark.parametrize(
    ("service", "method"),
    STRING_METHODS,
    ids=[f"{s.name}.{m.name}" for s, m in STRING_METHODS],
)
def test_string_that_is_not_utf8_is_invalid_argument(
    hub: HubProcess, paths_bucket: tuple[Buckets, str], service: Any, method: Any
) -> None:
    b, key = paths_bucket
    start = len(hub.log_text())
    path = f"/{service.full_name}/{method.name}"
    for bad in BAD_UTF8:
        payload = _bad_string_payload(method.input_type, bad)
        assert payload is not None
        err = rpc_error(_raw, b, path, _kind(method), payload)
        assert err.code() == INVALID, (bad, err.code(), err.details())
        assert "UTF-8" in err.details(), (bad, err.details())
    log = hub.log_text()[start:]
    assert "Traceback" not in log and "Exception deserializing" not in log, log[-2000:]
    assert b.pull(key, "dir/f.txt") == b"hello"


def test_undecodable_request_is_refused_after_authentication(
    paths_bucket: tuple[Buckets, str],
) -> None:
    b, _ = paths_bucket
    stranger = Buckets(b.client, b.thread)
    stranger_md = [("x-textile-api-key", "bnosuchkey")]
    path = f"/{BUCKETS.full_name}/ListPath"
    call = stranger.client.channel.unary_unary(
        path, request_serializer=lambda d: d, response_deserializer=lambda d: d
    )
    err = rpc_error(call, _field(2, b"\xff"), metadata=stranger_md, timeout=10)
    assert err.code() == grpc.StatusCode.NOT_FOUND  # the key is checked before the request


# -- public buckets ---------------------------------------------------------------------------


def test_public_bucket_read_rule(hub: HubProcess, world: dict[str, Any]) -> None:
    owner, clients = world["owner"], world["clients"]
    key = owner.create("public").root.key
    owner.push(key, "dir/f.txt", b"hello")
    other_account = clients.account(account="elsewhere")
    strangers = [
        Buckets(clients.user(Identity.generate()), owner.thread),
        Buckets(other_account, owner.thread),
    ]
    for s in strangers:
        assert s.pull(key, "dir/f.txt") == b"hello"
        assert s.names(key, "dir") == ["f.txt"]
        assert s.root(key).key == key
        assert rpc_error(s.push, key, "dir/evil.txt", b"x").code() == DENIED
        rm = pb.RemovePathRequest(key=key, path="dir/f.txt")
        assert rpc_error(s.api.RemovePath, rm, metadata=s.md()).code() == DENIED
        grant = pb.PushPathAccessRolesRequest(key=key, path="", roles={"*": ADMIN})
        assert rpc_error(s.api.PushPathAccessRoles, grant, metadata=s.md()).code() == DENIED
        err = rpc_error(s.api.List, pb.ListRequest(), metadata=s.md())
        assert err.code() == DENIED  # the thread's bucket list stays with its owner
    assert gateway_status(hub, owner.thread, key, "dir/f.txt") == 200  # anonymous
    private = owner.create("secret", private=True).root.key
    owner.push(private, "s.txt", b"secret")
    for s in strangers:
        assert rpc_error(s.pull, private, "s.txt").code() == DENIED
    closed = owner.create("closed").root.key
    owner.push(closed, "c.txt", b"closed")
    owner.api.PushPathAccessRoles(
        pb.PushPathAccessRolesRequest(key=closed, path="", roles={"*": 0}), metadata=owner.md()
    )
    for s in strangers:
        assert rpc_error(s.pull, closed, "c.txt").code() == DENIED
        assert rpc_error(s.ls, closed).code() == DENIED
    assert owner.pull(closed, "c.txt") == b"closed"
    assert gateway_status(hub, owner.thread, closed, "c.txt") == 403
    assert gateway_status(hub, owner.thread, private, "s.txt") == 403
