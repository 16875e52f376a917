from bucketfs.proto import bucketsd_pb2 as _bucketsd_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CapabilitiesResponse(_message.Message):
    __slots__ = ("exact_sizes", "range_reads", "path_attrs", "symlinks", "list_paging", "push_paths_attrs", "path_check")
    EXACT_SIZES_FIELD_NUMBER: _ClassVar[int]
    RANGE_READS_FIELD_NUMBER: _ClassVar[int]
    PATH_ATTRS_FIELD_NUMBER: _ClassVar[int]
    SYMLINKS_FIELD_NUMBER: _ClassVar[int]
    LIST_PAGING_FIELD_NUMBER: _ClassVar[int]
    PUSH_PATHS_ATTRS_FIELD_NUMBER: _ClassVar[int]
    PATH_CHECK_FIELD_NUMBER: _ClassVar[int]
    exact_sizes: bool
    range_reads: bool
    path_attrs: bool
    symlinks: bool
    list_paging: bool
    push_paths_attrs: bool
    path_check: bool
    def __init__(self, exact_sizes: _Optional[bool] = ..., range_reads: _Optional[bool] = ..., path_attrs: _Optional[bool] = ..., symlinks: _Optional[bool] = ..., list_paging: _Optional[bool] = ..., push_paths_attrs: _Optional[bool] = ..., path_check: _Optional[bool] = ...) -> None: ...

class SetPathAttrsRequest(_message.Message):
    __slots__ = ("key", "path", "set_mode", "mode", "set_mtime", "mtime")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SET_MODE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SET_MTIME_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    key: str
    path: str
    set_mode: bool
    mode: int
    set_mtime: bool
    mtime: int
    def __init__(self, key: _Optional[str] = ..., path: _Optional[str] = ..., set_mode: _Optional[bool] = ..., mode: _Optional[int] = ..., set_mtime: _Optional[bool] = ..., mtime: _Optional[int] = ...) -> None: ...

class SetPathAttrsResponse(_message.Message):
    __slots__ = ("root",)
    ROOT_FIELD_NUMBER: _ClassVar[int]
    root: _bucketsd_pb2.Root
    def __init__(self, root: _Optional[_Union[_bucketsd_pb2.Root, _Mapping]] = ...) -> None: ...

class SymlinkRequest(_message.Message):
    __slots__ = ("key", "path", "target", "root")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    key: str
    path: str
    target: str
    root: str
    def __init__(self, key: _Optional[str] = ..., path: _Optional[str] = ..., target: _Optional[str] = ..., root: _Optional[str] = ...) -> None: ...

class SymlinkResponse(_message.Message):
    __slots__ = ("root",)
    ROOT_FIELD_NUMBER: _ClassVar[int]
    root: _bucketsd_pb2.Root
    def __init__(self, root: _Optional[_Union[_bucketsd_pb2.Root, _Mapping]] = ...) -> None: ...
