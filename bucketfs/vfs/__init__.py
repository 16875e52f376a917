"""vfs layer: the filesystem meaning of a mount (namespace, inodes, caches, write-back).

Imports neither pyfuse3 nor grpc (see bucketfs/__init__.py). The public class is ``Vfs``.
"""

from bucketfs.vfs.nodes import Attr
from bucketfs.vfs.threadvfs import MountVfs as Vfs
from bucketfs.vfs.tree import StatFs

__all__ = ["Attr", "StatFs", "Vfs"]
