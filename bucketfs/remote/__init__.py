"""remote layer: typed Buckets/Threads/Users clients for a Textile-compatible hub.

The only client-side importer of grpc (see bucketfs/__init__.py for the layering)::

    session = await HubSession.connect(HubConfig(address, api_key, api_secret, identity, cache))
    roots = await session.buckets.list(thread)          # session.threads, session.users too
    async with session.buckets.pull_path(thread, key, "a/b", offset=0) as chunks: ...
    await session.aclose()

Modules: ``types`` (the plain dataclasses every call returns), ``session`` (``HubConfig``,
``HubSession``), ``buckets`` / ``threads`` / ``users`` (the typed clients), ``rpc`` (metadata,
token refresh, error translation, retries per call), ``bridge`` (trio ⇄ grpcio), ``transfer``
(streamed pushes, pull windows), ``tokens`` (GetToken + token cache), ``status`` (gRPC status →
``bucketfs.errors``), ``retry`` (backoff policy). Failures are ``bucketfs.errors`` classes with
``temporary`` set where a retry may help. The concurrency contract is in docs/CONCURRENCY.md,
section "Remote"; ``bucketfs.testing.faults.FaultySession`` injects failures for tests.
"""
