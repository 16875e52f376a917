from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetHostIDRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHostIDReply(_message.Message):
    __slots__ = ("peerID",)
    PEERID_FIELD_NUMBER: _ClassVar[int]
    peerID: bytes
    def __init__(self, peerID: _Optional[bytes] = ...) -> None: ...

class GetTokenRequest(_message.Message):
    __slots__ = ("key", "signature")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    key: str
    signature: bytes
    def __init__(self, key: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class GetTokenReply(_message.Message):
    __slots__ = ("challenge", "token")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    challenge: bytes
    token: str
    def __init__(self, challenge: _Optional[bytes] = ..., token: _Optional[str] = ...) -> None: ...

class CreateThreadRequest(_message.Message):
    __slots__ = ("threadID", "keys")
    THREADID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    keys: Keys
    def __init__(self, threadID: _Optional[bytes] = ..., keys: _Optional[_Union[Keys, _Mapping]] = ...) -> None: ...

class Keys(_message.Message):
    __slots__ = ("threadKey", "logKey")
    THREADKEY_FIELD_NUMBER: _ClassVar[int]
    LOGKEY_FIELD_NUMBER: _ClassVar[int]
    threadKey: bytes
    logKey: bytes
    def __init__(self, threadKey: _Optional[bytes] = ..., logKey: _Optional[bytes] = ...) -> None: ...

class ThreadInfoReply(_message.Message):
    __slots__ = ("threadID", "threadKey", "logs", "addrs")
    THREADID_FIELD_NUMBER: _ClassVar[int]
    THREADKEY_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    ADDRS_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    threadKey: bytes
    logs: _containers.RepeatedCompositeFieldContainer[LogInfo]
    addrs: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, threadID: _Optional[bytes] = ..., threadKey: _Optional[bytes] = ..., logs: _Optional[_Iterable[_Union[LogInfo, _Mapping]]] = ..., addrs: _Optional[_Iterable[bytes]] = ...) -> None: ...

class LogInfo(_message.Message):
    __slots__ = ("ID", "pubKey", "privKey", "addrs", "head", "counter")
    ID_FIELD_NUMBER: _ClassVar[int]
    PUBKEY_FIELD_NUMBER: _ClassVar[int]
    PRIVKEY_FIELD_NUMBER: _ClassVar[int]
    ADDRS_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    ID: bytes
    pubKey: bytes
    privKey: bytes
    addrs: _containers.RepeatedScalarFieldContainer[bytes]
    head: bytes
    counter: bytes
    def __init__(self, ID: _Optional[bytes] = ..., pubKey: _Optional[bytes] = ..., privKey: _Optional[bytes] = ..., addrs: _Optional[_Iterable[bytes]] = ..., head: _Optional[bytes] = ..., counter: _Optional[bytes] = ...) -> None: ...

class AddThreadRequest(_message.Message):
    __slots__ = ("addr", "keys")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    addr: bytes
    keys: Keys
    def __init__(self, addr: _Optional[bytes] = ..., keys: _Optional[_Union[Keys, _Mapping]] = ...) -> None: ...

class GetThreadRequest(_message.Message):
    __slots__ = ("threadID",)
    THREADID_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    def __init__(self, threadID: _Optional[bytes] = ...) -> None: ...

class PullThreadRequest(_message.Message):
    __slots__ = ("threadID",)
    THREADID_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    def __init__(self, threadID: _Optional[bytes] = ...) -> None: ...

class PullThreadReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteThreadRequest(_message.Message):
    __slots__ = ("threadID",)
    THREADID_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    def __init__(self, threadID: _Optional[bytes] = ...) -> None: ...

class DeleteThreadReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddReplicatorRequest(_message.Message):
    __slots__ = ("threadID", "addr")
    THREADID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    addr: bytes
    def __init__(self, threadID: _Optional[bytes] = ..., addr: _Optional[bytes] = ...) -> None: ...

class AddReplicatorReply(_message.Message):
    __slots__ = ("peerID",)
    PEERID_FIELD_NUMBER: _ClassVar[int]
    peerID: bytes
    def __init__(self, peerID: _Optional[bytes] = ...) -> None: ...

class CreateRecordRequest(_message.Message):
    __slots__ = ("threadID", "body")
    THREADID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    body: bytes
    def __init__(self, threadID: _Optional[bytes] = ..., body: _Optional[bytes] = ...) -> None: ...

class NewRecordReply(_message.Message):
    __slots__ = ("threadID", "logID", "record")
    THREADID_FIELD_NUMBER: _ClassVar[int]
    LOGID_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    logID: bytes
    record: Record
    def __init__(self, threadID: _Optional[bytes] = ..., logID: _Optional[bytes] = ..., record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class AddRecordRequest(_message.Message):
    __slots__ = ("threadID", "logID", "record")
    THREADID_FIELD_NUMBER: _ClassVar[int]
    LOGID_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    logID: bytes
    record: Record
    def __init__(self, threadID: _Optional[bytes] = ..., logID: _Optional[bytes] = ..., record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("recordNode", "eventNode", "headerNode", "bodyNode")
    RECORDNODE_FIELD_NUMBER: _ClassVar[int]
    EVENTNODE_FIELD_NUMBER: _ClassVar[int]
    HEADERNODE_FIELD_NUMBER: _ClassVar[int]
    BODYNODE_FIELD_NUMBER: _ClassVar[int]
    recordNode: bytes
    eventNode: bytes
    headerNode: bytes
    bodyNode: bytes
    def __init__(self, recordNode: _Optional[bytes] = ..., eventNode: _Optional[bytes] = ..., headerNode: _Optional[bytes] = ..., bodyNode: _Optional[bytes] = ...) -> None: ...

class AddRecordReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRecordRequest(_message.Message):
    __slots__ = ("threadID", "recordID")
    THREADID_FIELD_NUMBER: _ClassVar[int]
    RECORDID_FIELD_NUMBER: _ClassVar[int]
    threadID: bytes
    recordID: bytes
    def __init__(self, threadID: _Optional[bytes] = ..., recordID: _Optional[bytes] = ...) -> None: ...

class GetRecordReply(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: Record
    def __init__(self, record: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("threadIDs",)
    THREADIDS_FIELD_NUMBER: _ClassVar[int]
    threadIDs: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, threadIDs: _Optional[_Iterable[bytes]] = ...) -> None: ...
