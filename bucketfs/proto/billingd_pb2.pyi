from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Period(_message.Message):
    __slots__ = ("unix_start", "unix_end")
    UNIX_START_FIELD_NUMBER: _ClassVar[int]
    UNIX_END_FIELD_NUMBER: _ClassVar[int]
    unix_start: int
    unix_end: int
    def __init__(self, unix_start: _Optional[int] = ..., unix_end: _Optional[int] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("description", "units", "total", "free", "grace", "cost", "period")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    GRACE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    description: str
    units: int
    total: int
    free: int
    grace: int
    cost: float
    period: Period
    def __init__(self, description: _Optional[str] = ..., units: _Optional[int] = ..., total: _Optional[int] = ..., free: _Optional[int] = ..., grace: _Optional[int] = ..., cost: _Optional[float] = ..., period: _Optional[_Union[Period, _Mapping]] = ...) -> None: ...

class GetCustomerResponse(_message.Message):
    __slots__ = ("key", "customer_id", "parent_key", "email", "account_type", "account_status", "subscription_status", "balance", "billable", "delinquent", "created_at", "grace_period_end", "invoice_period", "daily_usage", "dependents")
    class DailyUsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Usage
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_KEY_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_STATUS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    BILLABLE_FIELD_NUMBER: _ClassVar[int]
    DELINQUENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    INVOICE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    DAILY_USAGE_FIELD_NUMBER: _ClassVar[int]
    DEPENDENTS_FIELD_NUMBER: _ClassVar[int]
    key: str
    customer_id: str
    parent_key: str
    email: str
    account_type: int
    account_status: str
    subscription_status: str
    balance: int
    billable: bool
    delinquent: bool
    created_at: int
    grace_period_end: int
    invoice_period: Period
    daily_usage: _containers.MessageMap[str, Usage]
    dependents: int
    def __init__(self, key: _Optional[str] = ..., customer_id: _Optional[str] = ..., parent_key: _Optional[str] = ..., email: _Optional[str] = ..., account_type: _Optional[int] = ..., account_status: _Optional[str] = ..., subscription_status: _Optional[str] = ..., balance: _Optional[int] = ..., billable: _Optional[bool] = ..., delinquent: _Optional[bool] = ..., created_at: _Optional[int] = ..., grace_period_end: _Optional[int] = ..., invoice_period: _Optional[_Union[Period, _Mapping]] = ..., daily_usage: _Optional[_Mapping[str, Usage]] = ..., dependents: _Optional[int] = ...) -> None: ...

class GetCustomerUsageResponse(_message.Message):
    __slots__ = ("usage",)
    class UsageEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Usage
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: _containers.MessageMap[str, Usage]
    def __init__(self, usage: _Optional[_Mapping[str, Usage]] = ...) -> None: ...
