"""remote layer: typed Buckets/Threads/Users clients for a Textile-compatible hub.

The only client-side importer of grpc (see bucketfs/__init__.py for the layering). Start with
``await HubSession.connect(HubConfig(...))``; use ``session.buckets``, ``session.threads`` and
``session.users``. Results are plain dataclasses (``remote/types.py``); failures are
``bucketfs.errors`` classes. The concurrency contract is in docs/CONCURRENCY.md, "Remote".
"""
