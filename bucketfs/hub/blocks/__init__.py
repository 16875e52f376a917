"""Content-addressed block storage of the hub (interface, file and memory implementations, GC)."""

from .base import BlockStore, verify
from .fs import FileBlockStore
from .memory import MemoryBlockStore

__all__ = ["BlockStore", "FileBlockStore", "MemoryBlockStore", "verify"]
