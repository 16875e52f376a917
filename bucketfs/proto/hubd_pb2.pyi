from bucketfs.proto import billingd_pb2 as _billingd_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_TYPE_UNSPECIFIED: _ClassVar[KeyType]
    KEY_TYPE_ACCOUNT: _ClassVar[KeyType]
    KEY_TYPE_USER: _ClassVar[KeyType]
KEY_TYPE_UNSPECIFIED: KeyType
KEY_TYPE_ACCOUNT: KeyType
KEY_TYPE_USER: KeyType

class BuildInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BuildInfoResponse(_message.Message):
    __slots__ = ("git_commit", "git_branch", "git_state", "git_summary", "build_date", "version")
    GIT_COMMIT_FIELD_NUMBER: _ClassVar[int]
    GIT_BRANCH_FIELD_NUMBER: _ClassVar[int]
    GIT_STATE_FIELD_NUMBER: _ClassVar[int]
    GIT_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    BUILD_DATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    git_commit: str
    git_branch: str
    git_state: str
    git_summary: str
    build_date: str
    version: str
    def __init__(self, git_commit: _Optional[str] = ..., git_branch: _Optional[str] = ..., git_state: _Optional[str] = ..., git_summary: _Optional[str] = ..., build_date: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class SignupRequest(_message.Message):
    __slots__ = ("username", "email")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    username: str
    email: str
    def __init__(self, username: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class SignupResponse(_message.Message):
    __slots__ = ("key", "session")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    session: str
    def __init__(self, key: _Optional[bytes] = ..., session: _Optional[str] = ...) -> None: ...

class SigninRequest(_message.Message):
    __slots__ = ("username_or_email",)
    USERNAME_OR_EMAIL_FIELD_NUMBER: _ClassVar[int]
    username_or_email: str
    def __init__(self, username_or_email: _Optional[str] = ...) -> None: ...

class SigninResponse(_message.Message):
    __slots__ = ("key", "session")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    session: str
    def __init__(self, key: _Optional[bytes] = ..., session: _Optional[str] = ...) -> None: ...

class SignoutRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignoutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSessionInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSessionInfoResponse(_message.Message):
    __slots__ = ("key", "username", "email")
    KEY_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    username: str
    email: str
    def __init__(self, key: _Optional[bytes] = ..., username: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class GetIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetIdentityResponse(_message.Message):
    __slots__ = ("identity",)
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    identity: bytes
    def __init__(self, identity: _Optional[bytes] = ...) -> None: ...

class KeyInfo(_message.Message):
    __slots__ = ("key", "secret", "type", "valid", "threads", "secure")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    SECURE_FIELD_NUMBER: _ClassVar[int]
    key: str
    secret: str
    type: KeyType
    valid: bool
    threads: int
    secure: bool
    def __init__(self, key: _Optional[str] = ..., secret: _Optional[str] = ..., type: _Optional[_Union[KeyType, str]] = ..., valid: _Optional[bool] = ..., threads: _Optional[int] = ..., secure: _Optional[bool] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("type", "secure")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SECURE_FIELD_NUMBER: _ClassVar[int]
    type: KeyType
    secure: bool
    def __init__(self, type: _Optional[_Union[KeyType, str]] = ..., secure: _Optional[bool] = ...) -> None: ...

class CreateKeyResponse(_message.Message):
    __slots__ = ("key_info",)
    KEY_INFO_FIELD_NUMBER: _ClassVar[int]
    key_info: KeyInfo
    def __init__(self, key_info: _Optional[_Union[KeyInfo, _Mapping]] = ...) -> None: ...

class InvalidateKeyRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class InvalidateKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListKeysResponse(_message.Message):
    __slots__ = ("list",)
    LIST_FIELD_NUMBER: _ClassVar[int]
    list: _containers.RepeatedCompositeFieldContainer[KeyInfo]
    def __init__(self, list: _Optional[_Iterable[_Union[KeyInfo, _Mapping]]] = ...) -> None: ...

class OrgInfo(_message.Message):
    __slots__ = ("key", "name", "slug", "host", "members", "created_at")
    class Member(_message.Message):
        __slots__ = ("key", "username", "role")
        KEY_FIELD_NUMBER: _ClassVar[int]
        USERNAME_FIELD_NUMBER: _ClassVar[int]
        ROLE_FIELD_NUMBER: _ClassVar[int]
        key: bytes
        username: str
        role: str
        def __init__(self, key: _Optional[bytes] = ..., username: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    name: str
    slug: str
    host: str
    members: _containers.RepeatedCompositeFieldContainer[OrgInfo.Member]
    created_at: int
    def __init__(self, key: _Optional[bytes] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., host: _Optional[str] = ..., members: _Optional[_Iterable[_Union[OrgInfo.Member, _Mapping]]] = ..., created_at: _Optional[int] = ...) -> None: ...

class CreateOrgRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateOrgResponse(_message.Message):
    __slots__ = ("org_info",)
    ORG_INFO_FIELD_NUMBER: _ClassVar[int]
    org_info: OrgInfo
    def __init__(self, org_info: _Optional[_Union[OrgInfo, _Mapping]] = ...) -> None: ...

class GetOrgRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetOrgResponse(_message.Message):
    __slots__ = ("org_info",)
    ORG_INFO_FIELD_NUMBER: _ClassVar[int]
    org_info: OrgInfo
    def __init__(self, org_info: _Optional[_Union[OrgInfo, _Mapping]] = ...) -> None: ...

class ListOrgsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListOrgsResponse(_message.Message):
    __slots__ = ("list",)
    LIST_FIELD_NUMBER: _ClassVar[int]
    list: _containers.RepeatedCompositeFieldContainer[OrgInfo]
    def __init__(self, list: _Optional[_Iterable[_Union[OrgInfo, _Mapping]]] = ...) -> None: ...

class RemoveOrgRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveOrgResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InviteToOrgRequest(_message.Message):
    __slots__ = ("email",)
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    email: str
    def __init__(self, email: _Optional[str] = ...) -> None: ...

class InviteToOrgResponse(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class LeaveOrgRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LeaveOrgResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetupBillingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetupBillingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBillingSessionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBillingSessionResponse(_message.Message):
    __slots__ = ("url",)
    URL_FIELD_NUMBER: _ClassVar[int]
    url: str
    def __init__(self, url: _Optional[str] = ...) -> None: ...

class ListBillingUsersRequest(_message.Message):
    __slots__ = ("offset", "limit")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    offset: int
    limit: int
    def __init__(self, offset: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListBillingUsersResponse(_message.Message):
    __slots__ = ("users", "next_offset")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_billingd_pb2.GetCustomerResponse]
    next_offset: int
    def __init__(self, users: _Optional[_Iterable[_Union[_billingd_pb2.GetCustomerResponse, _Mapping]]] = ..., next_offset: _Optional[int] = ...) -> None: ...

class IsUsernameAvailableRequest(_message.Message):
    __slots__ = ("username",)
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    username: str
    def __init__(self, username: _Optional[str] = ...) -> None: ...

class IsUsernameAvailableResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IsOrgNameAvailableRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class IsOrgNameAvailableResponse(_message.Message):
    __slots__ = ("slug", "host")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    slug: str
    host: str
    def __init__(self, slug: _Optional[str] = ..., host: _Optional[str] = ...) -> None: ...

class DestroyAccountRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DestroyAccountResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
