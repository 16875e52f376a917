"""Re-encryption of bucket subtrees for private buckets (WIRE §4.6).

* :meth:`Recrypt.public_to_private` turns a plaintext UnixFS DAG (a ``bootstrap_cid`` or a
  ``SetPath`` CID) into the private layout: files encrypted with the file key that applies at
  their bucket path, directories encrypted with the link key.
* :meth:`Recrypt.change_key` re-encrypts the files of a private subtree from one file key to
  another (``PushPathAccessRoles`` gives a path a fresh key; ``MovePath`` across key scopes).
  Descendants whose metadata entry carries its own key keep it.

Files are streamed (decrypt → encrypt → import), never held whole in memory.
"""

from __future__ import annotations

from bucketfs.hub.blocks import BlockStore
from bucketfs.ipfs.cid import CID

from . import content, dcrypto
from . import paths as bpaths
from .model import Bucket
from .tree import DirCodec, Entry


class Recrypt:
    def __init__(
        self, blocks: BlockStore, public: DirCodec, private: DirCodec, bucket: Bucket
    ) -> None:
        self.blocks = blocks
        self.public = public
        self.private = private
        self.bucket = bucket
        self.base_path = ""

    def _copy_file(self, cid: CID, old_key: bytes | None, new_key: bytes) -> Entry:
        imp = content.Importer(self.blocks, new_key)
        for piece in content.read(self.blocks, cid, old_key):
            imp.write(piece)
        return imp.finish()[0]

    def public_to_private(self, entry: Entry, path: str) -> Entry:
        if self.public.is_dir(entry.cid):
            out = self.private.empty()
            for child in self.public.listing(entry.cid):
                child_path = f"{path}/{child.name}" if path else child.name
                sub = self.public_to_private(child, child_path)
                out = self.private.set(out.cid, child.name, Entry(child.name, sub.cid, sub.tsize))
            return out
        key = self.bucket.file_key(bpaths.ancestors(path))
        return self._copy_file(entry.cid, None, key)

    def change_key(
        self, entry: Entry, old_key: bytes | None, new_key: bytes | None, base_path: str = ""
    ) -> Entry:
        """Re-encrypt the files of the subtree ``entry`` (at bucket path ``base_path``)."""
        self.base_path = base_path
        if old_key is None or new_key is None or old_key == new_key:
            return entry
        return self._change(entry, "", old_key, new_key)

    def _change(self, entry: Entry, rel: str, old_key: bytes, new_key: bytes) -> Entry:
        if self.private.is_dir(entry.cid):
            out = entry
            for child in self.private.listing(entry.cid):
                child_rel = f"{rel}/{child.name}" if rel else child.name
                if self._has_own_key(child_rel):
                    continue
                sub = self._change(child, child_rel, old_key, new_key)
                if sub.cid != child.cid:
                    out = self.private.set(
                        out.cid, child.name, Entry(child.name, sub.cid, sub.tsize)
                    )
            return out
        if self._is_symlink_or_empty(entry.cid):
            return entry
        return self._copy_file(entry.cid, old_key, new_key)

    def _has_own_key(self, rel: str) -> bool:
        base = self.base_path
        path = f"{base}/{rel}" if base else rel
        return bool(self.bucket.metadata.get(path, {}).get("key"))

    def _is_symlink_or_empty(self, cid: CID) -> bool:
        try:
            size = content.file_size(self.blocks, cid, False)
        except Exception:
            return True
        return size < dcrypto.OVERHEAD
