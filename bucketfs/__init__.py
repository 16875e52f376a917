"""bucketfs: Textile buckets and ThreadDB collections as an ordinary filesystem.

Layers (each arrow is an allowed import direction; tests/test_layers.py enforces them)::

    cli ──► fuse (pyfuse3 adapter, errno table) ──► vfs (namespace, inodes, caches, write-back)
                                                      │
                                                      ▼
                                 remote (typed gRPC clients, retries, trio⇄grpc bridge)
                                                      │
                                                      ▼
                                 auth (API signatures, identities, tokens, token cache)

    hub (Textile-compatible gRPC server) ──► auth, ipfs (content addressing), proto

Import rules: only ``fuse/`` imports pyfuse3; only ``remote/``, ``hub/`` and ``testing/`` import
grpc; only ``auth/`` imports nacl; only ``cli/`` imports click; the hub never imports the mount's
packages (fuse, vfs, remote, cli); ``ipfs/`` does no I/O and imports neither trio nor grpc.
"""

__version__ = "0.1.0"
