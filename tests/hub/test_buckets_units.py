"""Unit tests of the bucket logic's pure parts: dcrypto v1, path cleaning, roles."""

from __future__ import annotations

import hmac
import os
import struct
from hashlib import sha512
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bucketfs.errors import CorruptData, InvalidArgument, PermissionDenied
from bucketfs.hub.blocks import MemoryBlockStore
from bucketfs.hub.buckets import dcrypto, paths, roles
from bucketfs.hub.buckets.attrs import AttrStore, PathAttrs
from bucketfs.hub.buckets.content import import_bytes
from bucketfs.hub.buckets.publicdirs import PublicDirs
from bucketfs.hub.buckets.roles import Access, Role
from bucketfs.hub.buckets.tree import Entry, Tree
from bucketfs.ipfs import unixfs
from bucketfs.ipfs.cid import Block
from bucketfs.ipfs.directory import DirEntry, build_dir


def test_dcrypto_layout_matches_the_spec() -> None:
    key = bytes(range(64))
    iv = bytes(range(100, 116))
    enc = dcrypto.Encryptor(key, iv=iv)
    out = enc.update(b"hello world") + enc.finalize()
    assert len(out) == 11 + dcrypto.OVERHEAD
    assert out[:4] == struct.pack("<I", 0) and out[4:20] == iv
    aes = Cipher(algorithms.AES(key[:32]), modes.CTR(iv)).encryptor()
    body = aes.update(b"hello world") + aes.finalize()
    assert out[20:-64] == body
    assert out[-64:] == hmac.new(key[32:], iv + body, sha512).digest()


@pytest.mark.parametrize("size", [0, 1, 15, 16, 63, 64, 65, 1000, 100_000])
def test_dcrypto_streaming_roundtrip(size: int) -> None:
    key = dcrypto.new_key()
    plain = os.urandom(size)
    enc = dcrypto.Encryptor(key)
    parts = [enc.update(plain[i : i + 777]) for i in range(0, size, 777)]
    ct = b"".join(parts) + enc.finalize()
    dec = dcrypto.Decryptor(key)
    got = b"".join(dec.update(ct[i : i + 333]) for i in range(0, len(ct), 333)) + dec.finalize()
    assert got == plain
    assert dcrypto.decrypt(key, ct) == plain
    dcrypto.verify_mac(key, [ct[i : i + 50] for i in range(0, len(ct), 50)])
    assert dcrypto.plain_size(len(ct)) == size


def test_dcrypto_rejects_wrong_key_and_tampering() -> None:
    key = dcrypto.new_key()
    ct = dcrypto.encrypt(key, b"secret")
    with pytest.raises(CorruptData):
        dcrypto.decrypt(dcrypto.new_key(), ct)
    tampered = ct[:25] + bytes([ct[25] ^ 1]) + ct[26:]
    with pytest.raises(CorruptData):
        dcrypto.decrypt(key, tampered)
    with pytest.raises(CorruptData):
        dcrypto.verify_mac(key, [tampered])
    with pytest.raises(CorruptData):
        dcrypto.decrypt(key, ct[:30])


def test_dcrypto_range_decryption() -> None:
    key = dcrypto.new_key()
    plain = os.urandom(5000)
    ct = dcrypto.encrypt(key, plain)
    iv = ct[4:20]
    for offset, length in [(0, 10), (17, 100), (4095, 905), (4999, 1)]:
        part = ct[20 + offset : 20 + offset + length]
        assert dcrypto.decrypt_range(key, iv, offset, part) == plain[offset : offset + length]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("", ""), ("/", ""), ("a", "a"), ("a/b/", "a/b"), ("a//b/./c", "a/b/c")],
)
def test_paths_clean(raw: str, clean: str) -> None:
    assert paths.clean(raw) == clean


@pytest.mark.parametrize(
    "raw", ["../x", "a/../../b", "//etc/passwd", "/etc/passwd", "/a/b/", "a/..", "a\0b"]
)
def test_paths_refused(raw: str) -> None:
    with pytest.raises(InvalidArgument):
        paths.clean(raw)


def test_seed_paths_refused_for_writes_only() -> None:
    assert paths.clean(".textileseed") == ".textileseed"
    with pytest.raises(InvalidArgument, match="textileseed"):
        paths.clean("a/.textileseed", write=True)


def test_path_helpers() -> None:
    assert paths.ancestors("a/b/c") == ["a/b/c", "a/b", "a", ""]
    assert paths.parent("a/b") == "a" and paths.name("a/b") == "b"
    assert paths.is_under("a/b", "a") and not paths.is_under("ab", "a")


OWNER, WRITER, READER, STRANGER = "bbaareiowner", "bbaareiwriter", "bbaareireader", "bbaareix"
META = {
    "": {"roles": {OWNER: 3}, "updated_at": 1},
    "shared": {"roles": {WRITER: 2, READER: 1}, "updated_at": 1},
    "public": {"roles": {"*": 1}, "updated_at": 1},
}


def test_effective_roles() -> None:
    assert roles.effective_role(OWNER, META, "anything", OWNER) is Role.ADMIN
    assert roles.effective_role(OWNER, META, "shared/x/y", WRITER) is Role.WRITER
    assert roles.effective_role(OWNER, META, "shared", READER) is Role.READER
    assert roles.effective_role(OWNER, META, "other", WRITER) is Role.NONE
    assert roles.effective_role(OWNER, META, "public/f", STRANGER) is Role.READER
    assert roles.effective_role("", META, "x", STRANGER) is Role.ADMIN  # unowned bucket


def test_role_checks() -> None:
    roles.check(OWNER, META, "shared/f", WRITER, Access.WRITE)
    roles.check(OWNER, META, "shared/f", READER, Access.READ)
    for who, path, access in [
        (READER, "shared/f", Access.WRITE),
        (WRITER, "shared", Access.ADMIN),
        (STRANGER, "shared", Access.READ),
        (WRITER, "", Access.OWNER),
    ]:
        with pytest.raises(PermissionDenied):
            roles.check(OWNER, META, path, who, access)
    assert roles.can_see(OWNER, META, STRANGER)  # "*" reads /public
    assert not roles.can_see(OWNER, {"": META[""]}, STRANGER)
    assert roles.effective_map(META, "shared/deep") == {WRITER: 2, READER: 1}


# -- trees and attributes ---------------------------------------------------------------------


def _public_tree() -> tuple[Tree, MemoryBlockStore]:
    store = MemoryBlockStore()
    return Tree(PublicDirs(store.get, store.put)), store


def test_update_many_equals_sequential_updates() -> None:
    tree, store = _public_tree()
    root = tree.codec.empty().cid
    files = {p: import_bytes(store, p.encode()) for p in ["a/x", "a/y", "b", "c/d/e", "a/z/w"]}
    one = tree.update_many(root, files)
    seq = Entry("", root, 0)
    for path, entry in files.items():
        seq = tree.update(seq.cid, path, entry)
    assert one.cid == seq.cid and one.tsize == seq.tsize
    nested = tree.update_many(root, {"a/x": files["a/x"], "a": files["b"]})
    assert tree.resolve(nested.cid, "a").cid == files["b"].cid  # applied in order


def test_public_dirs_stay_canonical_across_the_shard_threshold() -> None:
    tree, store = _public_tree()
    root = tree.codec.empty().cid
    leaf = import_bytes(store, b"x")
    names = [f"file-with-a-long-name-{i:05d}" for i in range(5000)]
    big = tree.codec.set_many(root, {n: leaf for n in names})
    more = tree.codec.set(big.cid, "one-more", leaf)
    expected, _ = build_dir(DirEntry(n, leaf.cid, leaf.tsize) for n in [*names, "one-more"])
    assert more.cid == expected.cid
    assert unixfs.node_data(Block(more.cid, store.get(more.cid))).type == unixfs.HAMT_SHARD
    assert tree.resolve(more.cid, "one-more").cid == leaf.cid
    bulk = {f"bulk-{i}": leaf for i in range(600)}  # a rebuild in one pass
    bulk[names[0]] = None
    rebuilt = tree.codec.set_many(more.cid, bulk)
    kept = [n for n in [*names, "one-more"] if n != names[0]] + [f"bulk-{i}" for i in range(600)]
    expected, _ = build_dir(DirEntry(n, leaf.cid, leaf.tsize) for n in kept)
    assert rebuilt.cid == expected.cid
    back = tree.update(more.cid, "one-more", None)
    assert tree.codec.count(back.cid) == 5000
    assert tree.codec.lookup(back.cid, names[123]) == Entry(names[123], leaf.cid, leaf.tsize)


def test_attr_store(tmp_path: Path) -> None:
    attrs = AttrStore(tmp_path / "attrs.sqlite")
    rows = [(p, PathAttrs(0o644, i)) for i, p in enumerate(["a", "a/b", "a/b/c", "a0", "d"])]
    attrs.set_many("t", "k", rows)
    assert set(attrs.children("t", "k", "")) == {"a", "a0", "d"}
    assert attrs.children("t", "k", "a") == {"b": PathAttrs(0o644, 1)}
    attrs.move_tree("t", "k", "a", "z")
    assert attrs.get("t", "k", "z/b/c") == PathAttrs(0o644, 2) and attrs.get("t", "k", "a") is None
    assert attrs.get("t", "k", "a0") == PathAttrs(0o644, 3)
    attrs.set_many("t", "k", [("z", PathAttrs(0o600, 9))], clear_below=True)
    assert attrs.get("t", "k", "z/b") is None and attrs.get("t", "k", "z") == PathAttrs(0o600, 9)
    attrs.remove_tree("t", "k", "")
    assert attrs.children("t", "k", "") == {}
    attrs.close()


def test_bucket_instances_the_logic_saves_fit_the_collection_schema(tmp_path: Path) -> None:
    """BucketRecords.save skips the per-save schema check: every instance it writes must fit."""
    import json

    from bucketfs.auth.threadid import ThreadID
    from bucketfs.hub.buckets.model import COLLECTION
    from bucketfs.hub.buckets.mutations import Buckets
    from bucketfs.hub.buckets.records import BucketRecords
    from bucketfs.hub.buckets.service import Ctx
    from bucketfs.hub.store import open_store
    from bucketfs.hub.threaddb import Engine

    engine = Engine(open_store(":memory:"))
    thread = ThreadID.new()
    engine.new_db(thread.bytes, name="t", owner="", api_key="")
    b = Buckets(BucketRecords(engine), MemoryBlockStore(), AttrStore(tmp_path / "attrs.sqlite"))
    ctx = Ctx(thread=str(thread))

    def check(key: str) -> None:
        schema = engine._collection(thread.bytes, COLLECTION).schema
        schema.validate(json.loads(engine.find_by_id(thread.bytes, COLLECTION, key)))

    for private in (False, True):
        key = b.create(ctx, "b", private=private).bucket.key
        check(key)
        list(b.push_path(ctx, key, "d/f", [b"data"], mode=0o100600))
        list(b.push_paths(ctx, key, [("d/g", b"x"), ("d/g", b"")]))
        b.move_path(ctx, key, "d/f", "e/f")
        b.push_roles(ctx, key, "e", {"*": 1})
        b.set_path_attrs(ctx, key, "e", mode=0o40700, mtime=None)
        b.remove_path(ctx, key, "d/g")
        check(key)
