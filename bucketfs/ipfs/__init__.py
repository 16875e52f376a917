"""Content addressing: multibase, multihash, CIDs, dag-pb, UnixFS, the file importer and HAMT.

Pure computation: no file or network I/O, no trio, no grpc. Callers feed bytes and store blocks.
"""
