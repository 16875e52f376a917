"""Credentials: the only package that imports nacl or touches secrets (docs/AUTH.md).

Modules, each importable on its own:

- :mod:`~bucketfs.auth.identity` — Ed25519 ``Identity`` (private) and ``PublicKey`` in libp2p form;
- :mod:`~bucketfs.auth.apisig` — API keys/secrets and the per-call API signature headers;
- :mod:`~bucketfs.auth.threadid` — thread (database) IDs;
- :mod:`~bucketfs.auth.token` — thread tokens (Ed25519-signed JWTs) issued and verified by hubs;
- :mod:`~bucketfs.auth.challenge` — the GetToken challenge/answer, without transport;
- :mod:`~bucketfs.auth.tokencache` — tokens on disk, shared safely by several mounts;
- :mod:`~bucketfs.auth.privatefile` — 0600 files written atomically, 0700 directories.

Secrets print as ``<redacted>`` and never reach logs.
"""
