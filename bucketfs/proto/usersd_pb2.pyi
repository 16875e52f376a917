from bucketfs.proto import billingd_pb2 as _billingd_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArchiveRetrievalStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARCHIVE_RETRIEVAL_STATUS_UNSPECIFIED: _ClassVar[ArchiveRetrievalStatus]
    ARCHIVE_RETRIEVAL_STATUS_QUEUED: _ClassVar[ArchiveRetrievalStatus]
    ARCHIVE_RETRIEVAL_STATUS_EXECUTING: _ClassVar[ArchiveRetrievalStatus]
    ARCHIVE_RETRIEVAL_STATUS_MOVETOBUCKET: _ClassVar[ArchiveRetrievalStatus]
    ARCHIVE_RETRIEVAL_STATUS_FAILED: _ClassVar[ArchiveRetrievalStatus]
    ARCHIVE_RETRIEVAL_STATUS_CANCELED: _ClassVar[ArchiveRetrievalStatus]
    ARCHIVE_RETRIEVAL_STATUS_SUCCESS: _ClassVar[ArchiveRetrievalStatus]
ARCHIVE_RETRIEVAL_STATUS_UNSPECIFIED: ArchiveRetrievalStatus
ARCHIVE_RETRIEVAL_STATUS_QUEUED: ArchiveRetrievalStatus
ARCHIVE_RETRIEVAL_STATUS_EXECUTING: ArchiveRetrievalStatus
ARCHIVE_RETRIEVAL_STATUS_MOVETOBUCKET: ArchiveRetrievalStatus
ARCHIVE_RETRIEVAL_STATUS_FAILED: ArchiveRetrievalStatus
ARCHIVE_RETRIEVAL_STATUS_CANCELED: ArchiveRetrievalStatus
ARCHIVE_RETRIEVAL_STATUS_SUCCESS: ArchiveRetrievalStatus

class ListThreadsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListThreadsResponse(_message.Message):
    __slots__ = ("list",)
    LIST_FIELD_NUMBER: _ClassVar[int]
    list: _containers.RepeatedCompositeFieldContainer[GetThreadResponse]
    def __init__(self, list: _Optional[_Iterable[_Union[GetThreadResponse, _Mapping]]] = ...) -> None: ...

class GetThreadRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetThreadResponse(_message.Message):
    __slots__ = ("id", "name", "is_db")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IS_DB_FIELD_NUMBER: _ClassVar[int]
    id: bytes
    name: str
    is_db: bool
    def __init__(self, id: _Optional[bytes] = ..., name: _Optional[str] = ..., is_db: _Optional[bool] = ...) -> None: ...

class SetupMailboxRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetupMailboxResponse(_message.Message):
    __slots__ = ("mailbox_id",)
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: bytes
    def __init__(self, mailbox_id: _Optional[bytes] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "to", "body", "signature", "created_at", "read_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    to: str
    body: bytes
    signature: bytes
    created_at: int
    read_at: int
    def __init__(self, id: _Optional[str] = ..., to: _Optional[str] = ..., body: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., created_at: _Optional[int] = ..., read_at: _Optional[int] = ..., **kwargs) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("to", "to_body", "to_signature", "from_body", "from_signature")
    TO_FIELD_NUMBER: _ClassVar[int]
    TO_BODY_FIELD_NUMBER: _ClassVar[int]
    TO_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    FROM_BODY_FIELD_NUMBER: _ClassVar[int]
    FROM_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    to: str
    to_body: bytes
    to_signature: bytes
    from_body: bytes
    from_signature: bytes
    def __init__(self, to: _Optional[str] = ..., to_body: _Optional[bytes] = ..., to_signature: _Optional[bytes] = ..., from_body: _Optional[bytes] = ..., from_signature: _Optional[bytes] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("id", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    created_at: int
    def __init__(self, id: _Optional[str] = ..., created_at: _Optional[int] = ...) -> None: ...

class ListInboxMessagesRequest(_message.Message):
    __slots__ = ("seek", "limit", "ascending", "status")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[ListInboxMessagesRequest.Status]
        STATUS_ALL: _ClassVar[ListInboxMessagesRequest.Status]
        STATUS_READ: _ClassVar[ListInboxMessagesRequest.Status]
        STATUS_UNREAD: _ClassVar[ListInboxMessagesRequest.Status]
    STATUS_UNSPECIFIED: ListInboxMessagesRequest.Status
    STATUS_ALL: ListInboxMessagesRequest.Status
    STATUS_READ: ListInboxMessagesRequest.Status
    STATUS_UNREAD: ListInboxMessagesRequest.Status
    SEEK_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    seek: str
    limit: int
    ascending: bool
    status: ListInboxMessagesRequest.Status
    def __init__(self, seek: _Optional[str] = ..., limit: _Optional[int] = ..., ascending: _Optional[bool] = ..., status: _Optional[_Union[ListInboxMessagesRequest.Status, str]] = ...) -> None: ...

class ListInboxMessagesResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class ListSentboxMessagesRequest(_message.Message):
    __slots__ = ("seek", "limit", "ascending")
    SEEK_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ASCENDING_FIELD_NUMBER: _ClassVar[int]
    seek: str
    limit: int
    ascending: bool
    def __init__(self, seek: _Optional[str] = ..., limit: _Optional[int] = ..., ascending: _Optional[bool] = ...) -> None: ...

class ListSentboxMessagesResponse(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class ReadInboxMessageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ReadInboxMessageResponse(_message.Message):
    __slots__ = ("read_at",)
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    read_at: int
    def __init__(self, read_at: _Optional[int] = ...) -> None: ...

class DeleteInboxMessageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteInboxMessageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteSentboxMessageRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteSentboxMessageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("customer", "usage")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    customer: _billingd_pb2.GetCustomerResponse
    usage: _billingd_pb2.GetCustomerUsageResponse
    def __init__(self, customer: _Optional[_Union[_billingd_pb2.GetCustomerResponse, _Mapping]] = ..., usage: _Optional[_Union[_billingd_pb2.GetCustomerUsageResponse, _Mapping]] = ...) -> None: ...

class ArchivesLsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ArchivesLsResponse(_message.Message):
    __slots__ = ("archives",)
    ARCHIVES_FIELD_NUMBER: _ClassVar[int]
    archives: _containers.RepeatedCompositeFieldContainer[ArchiveLsItem]
    def __init__(self, archives: _Optional[_Iterable[_Union[ArchiveLsItem, _Mapping]]] = ...) -> None: ...

class ArchiveLsItem(_message.Message):
    __slots__ = ("cid", "info")
    CID_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    cid: str
    info: _containers.RepeatedCompositeFieldContainer[ArchiveLsItemMetadata]
    def __init__(self, cid: _Optional[str] = ..., info: _Optional[_Iterable[_Union[ArchiveLsItemMetadata, _Mapping]]] = ...) -> None: ...

class ArchiveLsItemMetadata(_message.Message):
    __slots__ = ("deal_id",)
    DEAL_ID_FIELD_NUMBER: _ClassVar[int]
    deal_id: int
    def __init__(self, deal_id: _Optional[int] = ...) -> None: ...

class ArchivesImportRequest(_message.Message):
    __slots__ = ("cid", "deal_ids")
    CID_FIELD_NUMBER: _ClassVar[int]
    DEAL_IDS_FIELD_NUMBER: _ClassVar[int]
    cid: str
    deal_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, cid: _Optional[str] = ..., deal_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ArchivesImportResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ArchiveRetrievalLsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ArchiveRetrievalLsResponse(_message.Message):
    __slots__ = ("retrievals",)
    RETRIEVALS_FIELD_NUMBER: _ClassVar[int]
    retrievals: _containers.RepeatedCompositeFieldContainer[ArchiveRetrievalLsItem]
    def __init__(self, retrievals: _Optional[_Iterable[_Union[ArchiveRetrievalLsItem, _Mapping]]] = ...) -> None: ...

class ArchiveRetrievalLsItem(_message.Message):
    __slots__ = ("id", "cid", "status", "failure_cause", "created_at", "new_bucket")
    ID_FIELD_NUMBER: _ClassVar[int]
    CID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CAUSE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NEW_BUCKET_FIELD_NUMBER: _ClassVar[int]
    id: str
    cid: str
    status: ArchiveRetrievalStatus
    failure_cause: str
    created_at: int
    new_bucket: ArchiveRetrievalLsItemNewBucket
    def __init__(self, id: _Optional[str] = ..., cid: _Optional[str] = ..., status: _Optional[_Union[ArchiveRetrievalStatus, str]] = ..., failure_cause: _Optional[str] = ..., created_at: _Optional[int] = ..., new_bucket: _Optional[_Union[ArchiveRetrievalLsItemNewBucket, _Mapping]] = ...) -> None: ...

class ArchiveRetrievalLsItemNewBucket(_message.Message):
    __slots__ = ("name", "private")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    private: bool
    def __init__(self, name: _Optional[str] = ..., private: _Optional[bool] = ...) -> None: ...

class ArchiveRetrievalLogsRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ArchiveRetrievalLogsResponse(_message.Message):
    __slots__ = ("msg",)
    MSG_FIELD_NUMBER: _ClassVar[int]
    msg: str
    def __init__(self, msg: _Optional[str] = ...) -> None: ...
