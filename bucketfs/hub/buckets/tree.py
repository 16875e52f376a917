"""Directory trees of buckets: path lookup and path updates over two directory encodings.

A :class:`DirCodec` reads and rewrites one directory at a time:

* :class:`~bucketfs.hub.buckets.publicdirs.PublicDirs` — plain UnixFS directories, HAMT-sharded
  when large, edited incrementally over cached decoded nodes (``bucketfs.ipfs.dirnodes``), so
  one change costs O(depth × log width), not O(width);
* :class:`PrivateDirs` — private buckets (WIRE §4.6): every directory node is encrypted with the
  bucket's link key and stored as a dag-pb node whose UnixFS data is of type File, holding the
  ciphertext of the plaintext directory node inline, with no links. Private directories are
  never sharded (each rewrite re-encrypts the whole directory node).

:class:`Tree` walks paths on top of a codec: ``resolve`` and ``update`` (create or replace or
remove the entry at a path, creating missing parent directories, rewriting the ancestors).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol

from bucketfs.errors import CorruptData, InvalidArgument, NotADirectory, NotFound
from bucketfs.ipfs import dagpb, unixfs
from bucketfs.ipfs.cid import CID, DAG_PB, RAW, Block
from bucketfs.ipfs.directory import DirEntry

from . import dcrypto
from . import paths as bpaths

GetBlock = Callable[[CID], bytes]
PutBlock = Callable[[Block], None]


#: a named link in a directory: child CID and cumulative DAG size of the child (the IPFS layer's
#: entry type itself, so directory edits need no conversion per entry)
Entry = DirEntry


class DirCodec(Protocol):
    def empty(self) -> Entry:
        """Store an empty directory; return an entry (without name) for it."""

    def is_dir(self, cid: CID) -> bool: ...

    def lookup(self, dir_cid: CID, name: str) -> Entry | None: ...

    def listing(self, dir_cid: CID) -> list[Entry]:
        """Every entry of the directory, sorted by name."""

    def count(self, dir_cid: CID) -> int: ...

    def set(self, dir_cid: CID, name: str, entry: Entry | None) -> Entry:
        """Store the directory with ``name`` replaced (``None`` removes it); return it."""

    def set_many(self, dir_cid: CID, changes: dict[str, Entry | None]) -> Entry:
        """Like :meth:`set` for several names at once (one rewrite of the directory)."""


def not_found_text(name: str, dir_cid: CID) -> str:
    return f'no link named "{name}" under {dir_cid}'


class Tree:
    """Path operations over one directory codec."""

    def __init__(self, codec: DirCodec, *, private: bool = False) -> None:
        self.codec = codec
        self.private = private

    def _missing(self, name: str, dir_cid: CID, path: str) -> NotFound:
        text = f"could not resolve path: {path}" if self.private else not_found_text(name, dir_cid)
        return NotFound(text, wire_code="UNKNOWN")

    def resolve(self, root: CID, path: str, root_tsize: int = 0) -> Entry:
        """The entry at the clean bucket path ``path`` (the root itself for ``""``)."""
        entry = Entry("", root, root_tsize)
        for part in bpaths.split(path):
            if not self.codec.is_dir(entry.cid):
                raise self._missing(part, entry.cid, path)
            child = self.codec.lookup(entry.cid, part)
            if child is None:
                raise self._missing(part, entry.cid, path)
            entry = child
        return entry

    def update(self, root: CID, path: str, entry: Entry | None) -> Entry:
        """Put ``entry`` at ``path`` (``None`` removes it); return the new root entry.

        Missing parents are created as empty directories; a file in the way of a parent is a
        :class:`NotADirectory`. Removing a missing path is :class:`NotFound`.
        """
        parts = bpaths.split(path)
        if not parts:
            raise InvalidArgument("the bucket root cannot be replaced this way")
        return self._update(root, parts, entry, path)

    def _update(self, dir_cid: CID, parts: list[str], entry: Entry | None, path: str) -> Entry:
        name = parts[0]
        if len(parts) == 1:
            if entry is None and self.codec.lookup(dir_cid, name) is None:
                raise self._missing(name, dir_cid, path)
            named = None if entry is None else Entry(name, entry.cid, entry.tsize)
            return self.codec.set(dir_cid, name, named)
        child = self.codec.lookup(dir_cid, name)
        if child is None:
            if entry is None:
                raise self._missing(name, dir_cid, path)
            sub = self.codec.empty().cid
        elif not self.codec.is_dir(child.cid):
            if entry is None:
                raise self._missing(parts[1], child.cid, path)
            raise NotADirectory(f"not a directory: {name}")
        else:
            sub = child.cid
        new_sub = self._update(sub, parts[1:], entry, path)
        return self.codec.set(dir_cid, name, Entry(name, new_sub.cid, new_sub.tsize))

    def update_many(self, root: CID, changes: dict[str, Entry]) -> Entry:
        """Put several entries (clean, non-root paths) at once; each directory on the way is
        rewritten once. If one path is a prefix of another, later paths win, applied in order."""
        parts = {tuple(bpaths.split(p)): e for p, e in changes.items()}
        if any(not key for key in parts):
            raise InvalidArgument("the bucket root cannot be replaced this way")
        ordered = sorted(parts)
        nested_paths = any(b[: len(a)] == a for a, b in itertools.pairwise(ordered))
        if nested_paths:
            entry = Entry("", root, 0)
            for path, new in changes.items():
                entry = self.update(entry.cid, path, new)
            return entry
        return self._update_many(root, parts)

    def _update_many(self, dir_cid: CID, changes: dict[tuple[str, ...], Entry]) -> Entry:
        direct: dict[str, Entry | None] = {}
        nested: dict[str, dict[tuple[str, ...], Entry]] = {}
        for parts, entry in changes.items():
            if len(parts) == 1:
                direct[parts[0]] = Entry(parts[0], entry.cid, entry.tsize)
            else:
                nested.setdefault(parts[0], {})[parts[1:]] = entry
        for name, sub_changes in nested.items():
            child = self.codec.lookup(dir_cid, name)
            if child is None:
                sub = self.codec.empty().cid
            elif not self.codec.is_dir(child.cid):
                raise NotADirectory(f"not a directory: {name}")
            else:
                sub = child.cid
            new_sub = self._update_many(sub, sub_changes)
            direct[name] = Entry(name, new_sub.cid, new_sub.tsize)
        return self.codec.set_many(dir_cid, direct)


def _plain_dir_node(links: list[dagpb.PBLink]) -> bytes:
    return dagpb.encode(dagpb.PBNode(unixfs.Data(unixfs.DIRECTORY).encode(), links))


class PrivateDirs:
    """Encrypted directories of a private bucket (see the module docstring)."""

    def __init__(self, get: GetBlock, put: PutBlock, link_key: bytes) -> None:
        self._get = get
        self._put = put
        self._key = link_key

    def _store(self, links: list[dagpb.PBLink]) -> Entry:
        ct = dcrypto.encrypt(self._key, _plain_dir_node(links))
        data = unixfs.Data(unixfs.FILE, data=ct, filesize=len(ct)).encode()
        raw = dagpb.encode(dagpb.PBNode(data, []))
        block = Block(CID.for_data(raw, DAG_PB), raw)
        self._put(block)
        return Entry("", block.cid, len(raw))

    def _links(self, dir_cid: CID) -> list[dagpb.PBLink]:
        links = self._decode(dir_cid)
        if links is None:
            raise NotADirectory(f"{dir_cid} is not a directory")
        return links

    def _decode(self, cid: CID) -> list[dagpb.PBLink] | None:
        if cid.codec != DAG_PB:
            return None
        node = dagpb.decode(self._get(cid))
        if node.links or node.data is None:
            return None
        msg = unixfs.Data.decode(node.data)
        if msg.type != unixfs.FILE or not msg.data or len(msg.data) < dcrypto.OVERHEAD:
            return None
        try:
            plain = dagpb.decode(dcrypto.decrypt(self._key, msg.data))
        except (CorruptData, InvalidArgument):
            return None
        if plain.data is None or unixfs.Data.decode(plain.data).type != unixfs.DIRECTORY:
            raise CorruptData(f"{cid} decrypts to something that is not a directory")
        return plain.links

    def empty(self) -> Entry:
        return self._store([])

    def is_dir(self, cid: CID) -> bool:
        return self._decode(cid) is not None

    def lookup(self, dir_cid: CID, name: str) -> Entry | None:
        for link in self._links(dir_cid):
            if link.name == name:
                return Entry(link.name, link.cid, link.tsize)
        return None

    def listing(self, dir_cid: CID) -> list[Entry]:
        return [Entry(link.name, link.cid, link.tsize) for link in self._links(dir_cid)]

    def count(self, dir_cid: CID) -> int:
        return len(self._links(dir_cid))

    def set(self, dir_cid: CID, name: str, entry: Entry | None) -> Entry:
        return self.set_many(dir_cid, {name: entry})

    def set_many(self, dir_cid: CID, changes: dict[str, Entry | None]) -> Entry:
        links = [link for link in self._links(dir_cid) if link.name not in changes]
        for name, entry in changes.items():
            if entry is not None:
                links.append(dagpb.PBLink(name, entry.cid, entry.tsize))
        return self._store(links)


def is_raw(cid: CID) -> bool:
    return cid.codec == RAW
