"""The hub's ThreadDB engine (see ``engine.py``); storage lives behind ``bucketfs.hub.store``."""

from bucketfs.hub.threaddb.engine import (
    CollectionConfig,
    DBInfo,
    Engine,
    IndexConfig,
    ReadTransaction,
    WriteTransaction,
)
from bucketfs.hub.threaddb.listen import Listener, ListenerOverflow, ListenEvent, ListenFilter

__all__ = [
    "CollectionConfig",
    "DBInfo",
    "Engine",
    "IndexConfig",
    "ListenEvent",
    "ListenFilter",
    "Listener",
    "ListenerOverflow",
    "ReadTransaction",
    "WriteTransaction",
]
