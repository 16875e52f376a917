"""Content addressing: multibase, multihash, CIDs, dag-pb, UnixFS, the file importer and HAMT.

Pure computation: no file or network I/O, no trio, no grpc. Callers feed bytes and store blocks;
reads take a ``get_block(cid) -> bytes`` callable, and every fetched block is checked against its
CID (:class:`bucketfs.errors.CorruptData`). Malformed input raises ``InvalidArgument``.

Modules, lowest first:

* ``varint``, ``multibase``, ``multihash`` -- the multiformats building blocks.
* ``cid`` -- :class:`~bucketfs.ipfs.cid.CID` (v0 and v1, ``parse``/``for_data``/``verify``),
  :class:`~bucketfs.ipfs.cid.Block`, codec numbers ``RAW``, ``DAG_PB``, ``LIBP2P_KEY``.
* ``dagpb`` -- canonical dag-pb ``encode``/``decode`` of ``PBNode``/``PBLink``.
* ``unixfs`` -- the UnixFS ``Data`` message (all types, mode, mtime) and symlink nodes.
* ``importer`` -- ``FileBuilder`` (files exactly as ``ipfs add --cid-version=1``),
  ``file_size``, ``read_file`` (range reads).
* ``murmur3``, ``hamt`` -- HAMT-sharded directories.
* ``directory`` -- ``empty_dir``, ``build_dir``, ``dir_list``, ``dir_get``, ``dir_set``,
  ``is_directory``: UnixFS directories as IPFS builds them, sharded above the threshold.
* ``dirnodes`` -- ``DirNodes``/``DirEdit``: incremental directory edits over a bounded cache of
  decoded nodes (one splice of a basic node, one hash path of a HAMT), byte-equal to building.

Compatibility is checked against the official JS importer (tests/ipfs/test_reference_*.py).
"""
