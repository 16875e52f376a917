from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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

class NewDBRequest(_message.Message):
    __slots__ = ("dbID", "collections", "name", "block", "key", "logKey")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    LOGKEY_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collections: _containers.RepeatedCompositeFieldContainer[CollectionConfig]
    name: str
    block: bool
    key: bytes
    logKey: bytes
    def __init__(self, dbID: _Optional[bytes] = ..., collections: _Optional[_Iterable[_Union[CollectionConfig, _Mapping]]] = ..., name: _Optional[str] = ..., block: _Optional[bool] = ..., key: _Optional[bytes] = ..., logKey: _Optional[bytes] = ...) -> None: ...

class NewDBFromAddrRequest(_message.Message):
    __slots__ = ("addr", "key", "collections", "name", "block", "threadKey", "logKey")
    ADDR_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    THREADKEY_FIELD_NUMBER: _ClassVar[int]
    LOGKEY_FIELD_NUMBER: _ClassVar[int]
    addr: bytes
    key: bytes
    collections: _containers.RepeatedCompositeFieldContainer[CollectionConfig]
    name: str
    block: bool
    threadKey: bytes
    logKey: bytes
    def __init__(self, addr: _Optional[bytes] = ..., key: _Optional[bytes] = ..., collections: _Optional[_Iterable[_Union[CollectionConfig, _Mapping]]] = ..., name: _Optional[str] = ..., block: _Optional[bool] = ..., threadKey: _Optional[bytes] = ..., logKey: _Optional[bytes] = ...) -> None: ...

class CollectionConfig(_message.Message):
    __slots__ = ("name", "schema", "indexes", "writeValidator", "readFilter")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    WRITEVALIDATOR_FIELD_NUMBER: _ClassVar[int]
    READFILTER_FIELD_NUMBER: _ClassVar[int]
    name: str
    schema: bytes
    indexes: _containers.RepeatedCompositeFieldContainer[Index]
    writeValidator: str
    readFilter: str
    def __init__(self, name: _Optional[str] = ..., schema: _Optional[bytes] = ..., indexes: _Optional[_Iterable[_Union[Index, _Mapping]]] = ..., writeValidator: _Optional[str] = ..., readFilter: _Optional[str] = ...) -> None: ...

class Index(_message.Message):
    __slots__ = ("path", "unique")
    PATH_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_FIELD_NUMBER: _ClassVar[int]
    path: str
    unique: bool
    def __init__(self, path: _Optional[str] = ..., unique: _Optional[bool] = ...) -> None: ...

class NewDBReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDBsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDBsReply(_message.Message):
    __slots__ = ("dbs",)
    class DB(_message.Message):
        __slots__ = ("dbID", "info")
        DBID_FIELD_NUMBER: _ClassVar[int]
        INFO_FIELD_NUMBER: _ClassVar[int]
        dbID: bytes
        info: GetDBInfoReply
        def __init__(self, dbID: _Optional[bytes] = ..., info: _Optional[_Union[GetDBInfoReply, _Mapping]] = ...) -> None: ...
    DBS_FIELD_NUMBER: _ClassVar[int]
    dbs: _containers.RepeatedCompositeFieldContainer[ListDBsReply.DB]
    def __init__(self, dbs: _Optional[_Iterable[_Union[ListDBsReply.DB, _Mapping]]] = ...) -> None: ...

class GetDBInfoRequest(_message.Message):
    __slots__ = ("dbID",)
    DBID_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    def __init__(self, dbID: _Optional[bytes] = ...) -> None: ...

class GetDBInfoReply(_message.Message):
    __slots__ = ("addrs", "key", "name")
    ADDRS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    addrs: _containers.RepeatedScalarFieldContainer[bytes]
    key: bytes
    name: str
    def __init__(self, addrs: _Optional[_Iterable[bytes]] = ..., key: _Optional[bytes] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteDBRequest(_message.Message):
    __slots__ = ("dbID",)
    DBID_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    def __init__(self, dbID: _Optional[bytes] = ...) -> None: ...

class DeleteDBReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NewCollectionRequest(_message.Message):
    __slots__ = ("dbID", "config")
    DBID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    config: CollectionConfig
    def __init__(self, dbID: _Optional[bytes] = ..., config: _Optional[_Union[CollectionConfig, _Mapping]] = ...) -> None: ...

class NewCollectionReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateCollectionRequest(_message.Message):
    __slots__ = ("dbID", "config")
    DBID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    config: CollectionConfig
    def __init__(self, dbID: _Optional[bytes] = ..., config: _Optional[_Union[CollectionConfig, _Mapping]] = ...) -> None: ...

class UpdateCollectionReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("dbID", "name")
    DBID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    name: str
    def __init__(self, dbID: _Optional[bytes] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteCollectionReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCollectionInfoRequest(_message.Message):
    __slots__ = ("dbID", "name")
    DBID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    name: str
    def __init__(self, dbID: _Optional[bytes] = ..., name: _Optional[str] = ...) -> None: ...

class GetCollectionInfoReply(_message.Message):
    __slots__ = ("name", "schema", "indexes", "writeValidator", "readFilter")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    WRITEVALIDATOR_FIELD_NUMBER: _ClassVar[int]
    READFILTER_FIELD_NUMBER: _ClassVar[int]
    name: str
    schema: bytes
    indexes: _containers.RepeatedCompositeFieldContainer[Index]
    writeValidator: str
    readFilter: str
    def __init__(self, name: _Optional[str] = ..., schema: _Optional[bytes] = ..., indexes: _Optional[_Iterable[_Union[Index, _Mapping]]] = ..., writeValidator: _Optional[str] = ..., readFilter: _Optional[str] = ...) -> None: ...

class GetCollectionIndexesRequest(_message.Message):
    __slots__ = ("dbID", "name")
    DBID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    name: str
    def __init__(self, dbID: _Optional[bytes] = ..., name: _Optional[str] = ...) -> None: ...

class GetCollectionIndexesReply(_message.Message):
    __slots__ = ("indexes",)
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    indexes: _containers.RepeatedCompositeFieldContainer[Index]
    def __init__(self, indexes: _Optional[_Iterable[_Union[Index, _Mapping]]] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("dbID",)
    DBID_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    def __init__(self, dbID: _Optional[bytes] = ...) -> None: ...

class ListCollectionsReply(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[GetCollectionInfoReply]
    def __init__(self, collections: _Optional[_Iterable[_Union[GetCollectionInfoReply, _Mapping]]] = ...) -> None: ...

class CreateRequest(_message.Message):
    __slots__ = ("dbID", "collectionName", "instances")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    instances: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ..., instances: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CreateReply(_message.Message):
    __slots__ = ("instanceIDs", "transactionError")
    INSTANCEIDS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONERROR_FIELD_NUMBER: _ClassVar[int]
    instanceIDs: _containers.RepeatedScalarFieldContainer[str]
    transactionError: str
    def __init__(self, instanceIDs: _Optional[_Iterable[str]] = ..., transactionError: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("dbID", "collectionName", "instances")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    instances: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ..., instances: _Optional[_Iterable[bytes]] = ...) -> None: ...

class VerifyReply(_message.Message):
    __slots__ = ("transactionError",)
    TRANSACTIONERROR_FIELD_NUMBER: _ClassVar[int]
    transactionError: str
    def __init__(self, transactionError: _Optional[str] = ...) -> None: ...

class SaveRequest(_message.Message):
    __slots__ = ("dbID", "collectionName", "instances")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    instances: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ..., instances: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SaveReply(_message.Message):
    __slots__ = ("transactionError",)
    TRANSACTIONERROR_FIELD_NUMBER: _ClassVar[int]
    transactionError: str
    def __init__(self, transactionError: _Optional[str] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("dbID", "collectionName", "instanceIDs")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCEIDS_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    instanceIDs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ..., instanceIDs: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteReply(_message.Message):
    __slots__ = ("transactionError",)
    TRANSACTIONERROR_FIELD_NUMBER: _ClassVar[int]
    transactionError: str
    def __init__(self, transactionError: _Optional[str] = ...) -> None: ...

class HasRequest(_message.Message):
    __slots__ = ("dbID", "collectionName", "instanceIDs")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCEIDS_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    instanceIDs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ..., instanceIDs: _Optional[_Iterable[str]] = ...) -> None: ...

class HasReply(_message.Message):
    __slots__ = ("exists", "transactionError")
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONERROR_FIELD_NUMBER: _ClassVar[int]
    exists: bool
    transactionError: str
    def __init__(self, exists: _Optional[bool] = ..., transactionError: _Optional[str] = ...) -> None: ...

class FindRequest(_message.Message):
    __slots__ = ("dbID", "collectionName", "queryJSON")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    QUERYJSON_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    queryJSON: bytes
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ..., queryJSON: _Optional[bytes] = ...) -> None: ...

class FindReply(_message.Message):
    __slots__ = ("instances", "transactionError")
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONERROR_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedScalarFieldContainer[bytes]
    transactionError: str
    def __init__(self, instances: _Optional[_Iterable[bytes]] = ..., transactionError: _Optional[str] = ...) -> None: ...

class FindByIDRequest(_message.Message):
    __slots__ = ("dbID", "collectionName", "instanceID")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCEID_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    instanceID: str
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ..., instanceID: _Optional[str] = ...) -> None: ...

class FindByIDReply(_message.Message):
    __slots__ = ("instance", "transactionError")
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONERROR_FIELD_NUMBER: _ClassVar[int]
    instance: bytes
    transactionError: str
    def __init__(self, instance: _Optional[bytes] = ..., transactionError: _Optional[str] = ...) -> None: ...

class DiscardRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DiscardReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StartTransactionRequest(_message.Message):
    __slots__ = ("dbID", "collectionName")
    DBID_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    collectionName: str
    def __init__(self, dbID: _Optional[bytes] = ..., collectionName: _Optional[str] = ...) -> None: ...

class ReadTransactionRequest(_message.Message):
    __slots__ = ("startTransactionRequest", "hasRequest", "findRequest", "findByIDRequest")
    STARTTRANSACTIONREQUEST_FIELD_NUMBER: _ClassVar[int]
    HASREQUEST_FIELD_NUMBER: _ClassVar[int]
    FINDREQUEST_FIELD_NUMBER: _ClassVar[int]
    FINDBYIDREQUEST_FIELD_NUMBER: _ClassVar[int]
    startTransactionRequest: StartTransactionRequest
    hasRequest: HasRequest
    findRequest: FindRequest
    findByIDRequest: FindByIDRequest
    def __init__(self, startTransactionRequest: _Optional[_Union[StartTransactionRequest, _Mapping]] = ..., hasRequest: _Optional[_Union[HasRequest, _Mapping]] = ..., findRequest: _Optional[_Union[FindRequest, _Mapping]] = ..., findByIDRequest: _Optional[_Union[FindByIDRequest, _Mapping]] = ...) -> None: ...

class ReadTransactionReply(_message.Message):
    __slots__ = ("hasReply", "findReply", "findByIDReply")
    HASREPLY_FIELD_NUMBER: _ClassVar[int]
    FINDREPLY_FIELD_NUMBER: _ClassVar[int]
    FINDBYIDREPLY_FIELD_NUMBER: _ClassVar[int]
    hasReply: HasReply
    findReply: FindReply
    findByIDReply: FindByIDReply
    def __init__(self, hasReply: _Optional[_Union[HasReply, _Mapping]] = ..., findReply: _Optional[_Union[FindReply, _Mapping]] = ..., findByIDReply: _Optional[_Union[FindByIDReply, _Mapping]] = ...) -> None: ...

class WriteTransactionRequest(_message.Message):
    __slots__ = ("startTransactionRequest", "createRequest", "saveRequest", "deleteRequest", "hasRequest", "findRequest", "findByIDRequest", "verifyRequest", "discardRequest")
    STARTTRANSACTIONREQUEST_FIELD_NUMBER: _ClassVar[int]
    CREATEREQUEST_FIELD_NUMBER: _ClassVar[int]
    SAVEREQUEST_FIELD_NUMBER: _ClassVar[int]
    DELETEREQUEST_FIELD_NUMBER: _ClassVar[int]
    HASREQUEST_FIELD_NUMBER: _ClassVar[int]
    FINDREQUEST_FIELD_NUMBER: _ClassVar[int]
    FINDBYIDREQUEST_FIELD_NUMBER: _ClassVar[int]
    VERIFYREQUEST_FIELD_NUMBER: _ClassVar[int]
    DISCARDREQUEST_FIELD_NUMBER: _ClassVar[int]
    startTransactionRequest: StartTransactionRequest
    createRequest: CreateRequest
    saveRequest: SaveRequest
    deleteRequest: DeleteRequest
    hasRequest: HasRequest
    findRequest: FindRequest
    findByIDRequest: FindByIDRequest
    verifyRequest: VerifyRequest
    discardRequest: DiscardRequest
    def __init__(self, startTransactionRequest: _Optional[_Union[StartTransactionRequest, _Mapping]] = ..., createRequest: _Optional[_Union[CreateRequest, _Mapping]] = ..., saveRequest: _Optional[_Union[SaveRequest, _Mapping]] = ..., deleteRequest: _Optional[_Union[DeleteRequest, _Mapping]] = ..., hasRequest: _Optional[_Union[HasRequest, _Mapping]] = ..., findRequest: _Optional[_Union[FindRequest, _Mapping]] = ..., findByIDRequest: _Optional[_Union[FindByIDRequest, _Mapping]] = ..., verifyRequest: _Optional[_Union[VerifyRequest, _Mapping]] = ..., discardRequest: _Optional[_Union[DiscardRequest, _Mapping]] = ...) -> None: ...

class WriteTransactionReply(_message.Message):
    __slots__ = ("createReply", "saveReply", "deleteReply", "hasReply", "findReply", "findByIDReply", "verifyReply", "discardReply")
    CREATEREPLY_FIELD_NUMBER: _ClassVar[int]
    SAVEREPLY_FIELD_NUMBER: _ClassVar[int]
    DELETEREPLY_FIELD_NUMBER: _ClassVar[int]
    HASREPLY_FIELD_NUMBER: _ClassVar[int]
    FINDREPLY_FIELD_NUMBER: _ClassVar[int]
    FINDBYIDREPLY_FIELD_NUMBER: _ClassVar[int]
    VERIFYREPLY_FIELD_NUMBER: _ClassVar[int]
    DISCARDREPLY_FIELD_NUMBER: _ClassVar[int]
    createReply: CreateReply
    saveReply: SaveReply
    deleteReply: DeleteReply
    hasReply: HasReply
    findReply: FindReply
    findByIDReply: FindByIDReply
    verifyReply: VerifyReply
    discardReply: DiscardReply
    def __init__(self, createReply: _Optional[_Union[CreateReply, _Mapping]] = ..., saveReply: _Optional[_Union[SaveReply, _Mapping]] = ..., deleteReply: _Optional[_Union[DeleteReply, _Mapping]] = ..., hasReply: _Optional[_Union[HasReply, _Mapping]] = ..., findReply: _Optional[_Union[FindReply, _Mapping]] = ..., findByIDReply: _Optional[_Union[FindByIDReply, _Mapping]] = ..., verifyReply: _Optional[_Union[VerifyReply, _Mapping]] = ..., discardReply: _Optional[_Union[DiscardReply, _Mapping]] = ...) -> None: ...

class ListenRequest(_message.Message):
    __slots__ = ("dbID", "filters")
    class Filter(_message.Message):
        __slots__ = ("collectionName", "instanceID", "action")
        class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
            __slots__ = ()
            ALL: _ClassVar[ListenRequest.Filter.Action]
            CREATE: _ClassVar[ListenRequest.Filter.Action]
            SAVE: _ClassVar[ListenRequest.Filter.Action]
            DELETE: _ClassVar[ListenRequest.Filter.Action]
        ALL: ListenRequest.Filter.Action
        CREATE: ListenRequest.Filter.Action
        SAVE: ListenRequest.Filter.Action
        DELETE: ListenRequest.Filter.Action
        COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
        INSTANCEID_FIELD_NUMBER: _ClassVar[int]
        ACTION_FIELD_NUMBER: _ClassVar[int]
        collectionName: str
        instanceID: str
        action: ListenRequest.Filter.Action
        def __init__(self, collectionName: _Optional[str] = ..., instanceID: _Optional[str] = ..., action: _Optional[_Union[ListenRequest.Filter.Action, str]] = ...) -> None: ...
    DBID_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    dbID: bytes
    filters: _containers.RepeatedCompositeFieldContainer[ListenRequest.Filter]
    def __init__(self, dbID: _Optional[bytes] = ..., filters: _Optional[_Iterable[_Union[ListenRequest.Filter, _Mapping]]] = ...) -> None: ...

class ListenReply(_message.Message):
    __slots__ = ("collectionName", "instanceID", "action", "instance")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CREATE: _ClassVar[ListenReply.Action]
        SAVE: _ClassVar[ListenReply.Action]
        DELETE: _ClassVar[ListenReply.Action]
    CREATE: ListenReply.Action
    SAVE: ListenReply.Action
    DELETE: ListenReply.Action
    COLLECTIONNAME_FIELD_NUMBER: _ClassVar[int]
    INSTANCEID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    collectionName: str
    instanceID: str
    action: ListenReply.Action
    instance: bytes
    def __init__(self, collectionName: _Optional[str] = ..., instanceID: _Optional[str] = ..., action: _Optional[_Union[ListenReply.Action, str]] = ..., instance: _Optional[bytes] = ...) -> None: ...
