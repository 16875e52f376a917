"""Tests of the committed wire protos: generated code is fresh and matches reference/WIRE.md.

* staleness: scripts/gen-protos into a temp dir must reproduce bucketfs/proto byte for byte;
* conformance: the compiled descriptors must equal tests/wire_table.py (hand-transcribed from
  WIRE.md) in both directions — methods and streaming kinds, messages and fields (number, type,
  label, oneof), enum values, ``deprecated`` options — with the bucketfs extensions confined to
  field numbers >= 1000 or the ``bucketfs.pb`` package;
* the checker itself: mutated copies of the table must be reported, naming the item.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import wire_table
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
)
from wire_table import Contract, Field, Method

from bucketfs.proto import (
    billingd_pb2,
    bucketfs_ext_pb2,
    bucketfs_ext_pb2_grpc,
    bucketsd_pb2,
    bucketsd_pb2_grpc,
    crypto_pb2,
    hubd_pb2,
    hubd_pb2_grpc,
    threads_pb2,
    threads_pb2_grpc,
    threadsnet_pb2,
    threadsnet_pb2_grpc,
    usersd_pb2,
    usersd_pb2_grpc,
)

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "bucketfs" / "proto"
GENERATED = ("*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py")
MODULES: list[ModuleType] = [
    crypto_pb2,
    threads_pb2,
    threadsnet_pb2,
    bucketsd_pb2,
    hubd_pb2,
    usersd_pb2,
    billingd_pb2,
    bucketfs_ext_pb2,
]
GRPC_MODULES = {
    "threads.pb.API": threads_pb2_grpc,
    "threads.net.pb.API": threadsnet_pb2_grpc,
    "api.bucketsd.pb.APIService": bucketsd_pb2_grpc,
    "api.hubd.pb.APIService": hubd_pb2_grpc,
    "api.usersd.pb.APIService": usersd_pb2_grpc,
    "bucketfs.pb.BucketsExtension": bucketfs_ext_pb2_grpc,
}
TYPE_NAMES = {
    getattr(FieldDescriptor, name): name.removeprefix("TYPE_").lower()
    for name in dir(FieldDescriptor)
    if name.startswith("TYPE_")
}


# --- reading the compiled descriptors ------------------------------------------------------


def _type_name(fd: FieldDescriptor) -> str:
    if fd.message_type is not None:
        return fd.message_type.full_name
    if fd.enum_type is not None:
        return fd.enum_type.full_name
    return TYPE_NAMES[fd.type]


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _real_oneof(fd: FieldDescriptor) -> str:
    """Name of the field's oneof, ignoring the synthetic oneof of a proto3 ``optional``."""
    oneof = fd.containing_oneof
    if oneof is None or (oneof.name == f"_{fd.name}" and len(oneof.fields) == 1):
        return ""
    return oneof.name


def _field(fd: FieldDescriptor) -> Field:
    if _is_map(fd):
        entry = fd.message_type.fields_by_name
        kv = f"{_type_name(entry['key'])},{_type_name(entry['value'])}"
        return Field(fd.number, f"map<{kv}>", "map")
    oneof = _real_oneof(fd)
    if fd.is_required:
        label = "required"
    elif fd.is_repeated:
        label = "repeated"
    elif fd.has_presence and fd.message_type is None and not oneof:
        label = "optional"
    else:
        label = ""
    return Field(fd.number, _type_name(fd), label, oneof)


def _add_message(contract: Contract, desc: Descriptor) -> None:
    if desc.GetOptions().map_entry:
        return
    contract.messages[desc.full_name] = {fd.name: _field(fd) for fd in desc.fields}
    for fd in desc.fields:
        if fd.GetOptions().deprecated:
            contract.deprecated.add(fd.full_name)
    for enum in desc.enum_types:
        _add_enum(contract, enum)
    for nested in desc.nested_types:
        _add_message(contract, nested)


def _add_enum(contract: Contract, enum: EnumDescriptor) -> None:
    contract.enums[enum.full_name] = {v.name: v.number for v in enum.values}


def _kind(client_streaming: bool, server_streaming: bool) -> str:
    return {(False, False): "unary", (False, True): "server", (True, False): "client"}.get(
        (client_streaming, server_streaming), "bidi"
    )


def descriptor_contract(files: list[FileDescriptor]) -> Contract:
    """The contract as compiled into ``files``."""
    contract = Contract()
    for file in files:
        for desc in file.message_types_by_name.values():
            _add_message(contract, desc)
        for enum in file.enum_types_by_name.values():
            _add_enum(contract, enum)
        for service in file.services_by_name.values():
            for m in service.methods:
                path = f"/{service.full_name}/{m.name}"
                kind = _kind(m.client_streaming, m.server_streaming)
                contract.methods[path] = Method(
                    kind, m.input_type.full_name, m.output_type.full_name
                )
                if m.GetOptions().deprecated:
                    contract.deprecated.add(path)
    return contract


# --- comparing -----------------------------------------------------------------------------


def merge(base: Contract, extra: Contract) -> Contract:
    """``base`` plus ``extra``; extension fields are added to the upstream messages."""
    out = copy.deepcopy(base)
    out.methods.update(extra.methods)
    for name, fields in extra.messages.items():
        out.messages.setdefault(name, {}).update(fields)
    out.enums.update(extra.enums)
    out.deprecated |= extra.deprecated
    return out


def _diff(kind: str, expected: dict, actual: dict) -> list[str]:
    problems = [f"missing {kind} {k}" for k in expected if k not in actual]
    problems += [f"extra {kind} {k}" for k in actual if k not in expected]
    problems += [
        f"different {kind} {k}: WIRE {expected[k]} != compiled {actual[k]}"
        for k in expected
        if k in actual and expected[k] != actual[k]
    ]
    return problems


def compare(expected: Contract, actual: Contract) -> list[str]:
    """Every difference between two contracts, one line each, naming the item."""
    problems = _diff("method", expected.methods, actual.methods)
    problems += _diff("message", dict.fromkeys(expected.messages), dict.fromkeys(actual.messages))
    for name in expected.messages.keys() & actual.messages.keys():
        fields = {f"{name}.{k}": v for k, v in expected.messages[name].items()}
        got = {f"{name}.{k}": v for k, v in actual.messages[name].items()}
        problems += _diff("field", fields, got)
    problems += _diff("enum", dict.fromkeys(expected.enums), dict.fromkeys(actual.enums))
    for name in expected.enums.keys() & actual.enums.keys():
        values = {f"{name}.{k}": v for k, v in expected.enums[name].items()}
        got = {f"{name}.{k}": v for k, v in actual.enums[name].items()}
        problems += _diff("enum value", values, got)
    problems += _diff(
        "deprecated option", dict.fromkeys(expected.deprecated), dict.fromkeys(actual.deprecated)
    )
    return sorted(problems)


def extension_rule_problems(upstream: Contract, ext: Contract) -> list[str]:
    """Extensions may only add fields >= 1000 to upstream messages, or live in bucketfs.pb."""
    pkg = wire_table.EXTENSION_PACKAGE + "."
    problems = [
        f"upstream field {m}.{f} uses extension number {v.number}"
        for m, fields in upstream.messages.items()
        for f, v in fields.items()
        if v.number >= wire_table.EXTENSION_MIN_NUMBER
    ]
    problems += [f"extension method {p} outside {pkg}" for p in ext.methods if pkg not in p]
    problems += [f"extension enum {e} outside {pkg}" for e in ext.enums if not e.startswith(pkg)]
    for name, fields in ext.messages.items():
        if name.startswith(pkg):
            if name in upstream.messages:
                problems.append(f"extension message {name} shadows an upstream message")
            continue
        if name not in upstream.messages:
            problems.append(f"extension fields on unknown upstream message {name}")
            continue
        for fname, value in fields.items():
            if value.number < wire_table.EXTENSION_MIN_NUMBER:
                problems.append(f"extension field {name}.{fname} has number {value.number} < 1000")
            if fname in upstream.messages[name]:
                problems.append(f"extension field {name}.{fname} reuses an upstream name")
    return problems


def compiled() -> Contract:
    return descriptor_contract([module.DESCRIPTOR for module in MODULES])


def _fail_if(problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{len(problems)} mismatch(es):\n" + "\n".join(problems), pytrace=False)


# --- the tests -----------------------------------------------------------------------------


def _generated(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for pattern in GENERATED for p in directory.glob(pattern)}


def test_generated_modules_are_fresh(tmp_path: Path) -> None:
    env = dict(os.environ, BUCKETFS_PYTHON=sys.executable)
    subprocess.run(
        [str(ROOT / "scripts" / "gen-protos"), str(tmp_path)],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    fresh = _generated(tmp_path / "bucketfs" / "proto")
    committed = _generated(PROTO_DIR)
    assert fresh, "gen-protos produced nothing"
    problems = [f"{n}: not committed (run scripts/gen-protos)" for n in fresh if n not in committed]
    problems += [f"{n}: committed but no proto generates it" for n in committed if n not in fresh]
    problems += [
        f"{n}: stale, differs from scripts/gen-protos output"
        for n in fresh
        if n in committed and fresh[n] != committed[n]
    ]
    _fail_if(problems)


def test_every_proto_file_is_checked() -> None:
    protos = {p.stem for p in (ROOT / "protos" / "bucketfs" / "proto").glob("*.proto")}
    assert {m.__name__.rsplit(".", 1)[1].removesuffix("_pb2") for m in MODULES} == protos


PARTS = ("methods", "messages", "enums", "deprecated")


def _only(contract: Contract, part: str) -> Contract:
    """A copy of ``contract`` holding only one part (methods, messages, enums or deprecated)."""
    out = Contract()
    setattr(out, part, getattr(contract, part))
    return out


@pytest.mark.parametrize("part", PARTS)
def test_compiled_protos_match_wire(part: str) -> None:
    expected = merge(wire_table.upstream(), wire_table.extensions())
    _fail_if(compare(_only(expected, part), _only(compiled(), part)))


def test_extensions_follow_the_rules() -> None:
    upstream, ext = wire_table.upstream(), wire_table.extensions()
    _fail_if(extension_rule_problems(upstream, ext))
    # Every compiled field with an extension number is listed in EXTENSIONS, nowhere else.
    listed = {(m, f) for m, fields in ext.messages.items() for f in fields}
    high = {
        (m, f)
        for m, fields in compiled().messages.items()
        for f, v in fields.items()
        if v.number >= wire_table.EXTENSION_MIN_NUMBER
    }
    assert high <= listed


def test_every_service_has_grpc_stubs() -> None:
    services = {path.split("/")[1] for path in compiled().methods}
    assert services == set(GRPC_MODULES)
    for full_name, module in GRPC_MODULES.items():
        name = full_name.rsplit(".", 1)[1]
        assert hasattr(module, f"{name}Stub"), full_name
        assert hasattr(module, f"add_{name}Servicer_to_server"), full_name


def test_ed25519_public_key_vector() -> None:
    # WIRE §2.4 test vector (seed 00..1f).
    raw = bytes.fromhex("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
    key = crypto_pb2.PublicKey(Type=crypto_pb2.Ed25519, Data=raw)
    assert key.SerializeToString() == bytes.fromhex("08011220") + raw


def test_extension_fields_are_skipped_by_upstream_readers() -> None:
    # A reader that only knows fields 1 and 2 as strings (LinksRequest: key, path) stands in
    # for an upstream client: the extension fields >= 1000 must be skipped as unknown fields.
    item = bucketsd_pb2.PathItem(cid="bafy", name="a.txt", file_size=5, mode=0o100644, mtime=7)
    old = bucketsd_pb2.LinksRequest.FromString(item.SerializeToString())
    assert (old.key, old.path) == ("bafy", "a.txt")
    back = bucketsd_pb2.PathItem.FromString(item.SerializeToString())
    assert (back.file_size, back.mode, back.mtime) == (5, 0o100644, 7)


# --- the checker can fail ------------------------------------------------------------------


Mutation = Callable[[Contract], object]


def _change_field(msg: str, name: str, **changes: Any) -> Mutation:
    return lambda c: c.messages[msg].__setitem__(name, c.messages[msg][name]._replace(**changes))


def _set_field(msg: str, name: str, value: Field) -> Mutation:
    return lambda c: c.messages[msg].__setitem__(name, value)


def _change_method(path: str, **changes: Any) -> Mutation:
    return lambda c: c.methods.__setitem__(path, c.methods[path]._replace(**changes))


def _set_enum_value(enum: str, name: str, number: int) -> Mutation:
    return lambda c: c.enums[enum].__setitem__(name, number)


# (mutation of the expected table, start of the line the report must then contain)
MUTATIONS = {
    "renumber": (
        _change_field("threads.pb.NewDBRequest", "key", number=4),
        "different field threads.pb.NewDBRequest.key",
    ),
    "retype": (
        _change_field("api.bucketsd.pb.PathItem", "size", type="uint64"),
        "different field api.bucketsd.pb.PathItem.size",
    ),
    "relabel": (
        _change_field("api.hubd.pb.ListKeysResponse", "list", label=""),
        "different field api.hubd.pb.ListKeysResponse.list",
    ),
    "oneof": (
        _change_field("threads.pb.GetTokenRequest", "key", oneof=""),
        "different field threads.pb.GetTokenRequest.key",
    ),
    "map-value": (
        _change_field("api.bucketsd.pb.Metadata", "roles", type="map<string,int32>"),
        "different field api.bucketsd.pb.Metadata.roles",
    ),
    "drop-field": (
        lambda c: c.messages["api.usersd.pb.GetThreadResponse"].pop("is_db"),
        "extra field api.usersd.pb.GetThreadResponse.is_db",
    ),
    "add-field": (
        _set_field("api.billingd.pb.Period", "zone", Field(3, "string")),
        "missing field api.billingd.pb.Period.zone",
    ),
    "drop-extension": (
        lambda c: c.messages["api.bucketsd.pb.PathItem"].pop("file_size"),
        "extra field api.bucketsd.pb.PathItem.file_size",
    ),
    "streaming-kind": (
        _change_method("/threads.pb.API/Listen", kind="unary"),
        "different method /threads.pb.API/Listen",
    ),
    "response-type": (
        _change_method("/api.bucketsd.pb.APIService/Root", response="api.bucketsd.pb.Root"),
        "different method /api.bucketsd.pb.APIService/Root",
    ),
    "drop-method": (
        lambda c: c.methods.pop("/api.usersd.pb.APIService/GetThread"),
        "extra method /api.usersd.pb.APIService/GetThread",
    ),
    "enum-number": (
        _set_enum_value("threads.pb.ListenReply.Action", "CREATE", 1),
        "different enum value threads.pb.ListenReply.Action.CREATE",
    ),
    "enum-add": (
        _set_enum_value("api.hubd.pb.KeyType", "KEY_TYPE_ORG", 3),
        "missing enum value api.hubd.pb.KeyType.KEY_TYPE_ORG",
    ),
    "drop-message": (
        lambda c: c.messages.pop("threads.pb.DiscardReply"),
        "extra message threads.pb.DiscardReply",
    ),
    "undeprecate": (
        lambda c: c.deprecated.discard("threads.pb.NewDBRequest.block"),
        "extra deprecated option threads.pb.NewDBRequest.block",
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_checker_reports_a_mutated_table(name: str) -> None:
    mutate, report = MUTATIONS[name]
    expected = merge(wire_table.upstream(), wire_table.extensions())
    actual = compiled()
    before = set(compare(expected, actual))
    mutate(expected)
    new = set(compare(expected, actual)) - before
    assert [p for p in new if p.startswith(report)], sorted(new)


def test_extension_rules_can_fail() -> None:
    upstream, ext = wire_table.upstream(), wire_table.extensions()
    ext.messages["api.bucketsd.pb.PathItem"]["inode"] = Field(20, "uint64")
    ext.messages["api.bucketsd.pb.Nope"] = {"x": Field(1000, "bool")}
    ext.methods["/api.bucketsd.pb.APIService/Mkdir"] = Method("unary", "a", "b")
    upstream.messages["api.bucketsd.pb.Root"]["extra"] = Field(1005, "bool")
    problems = extension_rule_problems(upstream, ext)
    assert problems == [
        "upstream field api.bucketsd.pb.Root.extra uses extension number 1005",
        "extension method /api.bucketsd.pb.APIService/Mkdir outside bucketfs.pb.",
        "extension field api.bucketsd.pb.PathItem.inode has number 20 < 1000",
        "extension fields on unknown upstream message api.bucketsd.pb.Nope",
    ]


def test_table_parser_rejects_bad_specs() -> None:
    with pytest.raises(ValueError):
        wire_table.parse_field("p", "name 1 string oneof=x junk")
    with pytest.raises(ValueError, match="listed twice"):
        wire_table.build([("p", "S", "M | a 1 string\nM | a 2 string")])
    with pytest.raises(ValueError, match="streaming kind"):
        wire_table.build([("p", "S", "rpc X stream")])
