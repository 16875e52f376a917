"""``api.hubd.pb.APIService``: build info, the account identity and API key management.

Key management acts on the caller's account and needs an account key (user keys are for app
users, not for managing the account). Sign-up is disabled, as on the last upstream hub; sessions,
orgs and billing are not offered (UNIMPLEMENTED with a text saying so).
"""

from __future__ import annotations

from typing import Any

import grpc

import bucketfs
from bucketfs.errors import PermissionDenied
from bucketfs.hub.accounts import ApiKey
from bucketfs.hub.caller import Caller, KeyType, current_caller
from bucketfs.hub.servicers import HubContext, fill_unsupported
from bucketfs.hub.status import grpc_errors
from bucketfs.proto import hubd_pb2 as pb
from bucketfs.proto import hubd_pb2_grpc as pb_grpc

SERVICE = "api.hubd.pb.APIService"

_KEY_TYPE_TO_PB = {KeyType.ACCOUNT: pb.KEY_TYPE_ACCOUNT, KeyType.USER: pb.KEY_TYPE_USER}


def key_info_pb(record: ApiKey) -> Any:
    return pb.KeyInfo(
        key=record.key,
        secret=record.secret,
        type=_KEY_TYPE_TO_PB[record.key_type],
        valid=record.valid,
        threads=record.threads,
        secure=record.secure,
    )


def _account_caller(method: str) -> Caller:
    caller = current_caller()
    if caller.key_type is not KeyType.ACCOUNT:
        raise PermissionDenied(f"{method} needs an account API key")
    return caller


class HubdServicer(pb_grpc.APIServiceServicer):
    """See the module docstring."""

    def __init__(self, hub: HubContext) -> None:
        self.hub = hub

    @grpc_errors
    def BuildInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.BuildInfoResponse(
            version=bucketfs.__version__, git_summary=f"bucketfs {bucketfs.__version__}"
        )

    @grpc_errors
    def Signup(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise PermissionDenied("signups are disabled", wire_code="UNKNOWN")

    @grpc_errors
    def GetIdentity(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = _account_caller("GetIdentity")
        identity = self.hub.accounts.account_identity(caller.account)
        return pb.GetIdentityResponse(identity=identity.marshal())

    @grpc_errors
    def CreateKey(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = _account_caller("CreateKey")
        key_type = KeyType.USER if request.type == pb.KEY_TYPE_USER else KeyType.ACCOUNT
        record = self.hub.accounts.create_key(caller.account, key_type, secure=request.secure)
        return pb.CreateKeyResponse(key_info=key_info_pb(record))

    @grpc_errors
    def ListKeys(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = _account_caller("ListKeys")
        keys = self.hub.accounts.list_keys(caller.account)
        return pb.ListKeysResponse(list=[key_info_pb(k) for k in keys])

    @grpc_errors
    def InvalidateKey(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = _account_caller("InvalidateKey")
        self.hub.accounts.invalidate_key(request.key, account=caller.account)
        return pb.InvalidateKeyResponse()


fill_unsupported(
    HubdServicer,
    pb.DESCRIPTOR.services_by_name["APIService"],
    {
        "Signin": "sessions are not offered; use API keys (bucketfs hub keys create)",
        "Signout": "sessions are not offered; use API keys",
        "GetSessionInfo": "sessions are not offered; use API keys",
        "IsUsernameAvailable": "accounts are created by the hub operator (--account)",
        "DestroyAccount": "accounts are managed by the hub operator",
        "SetupBilling": "this hub has no billing",
        "GetBillingSession": "this hub has no billing",
        "ListBillingUsers": "this hub has no billing",
    },
    "organisations are not offered; the operator creates accounts with --account",
)


def register(server: grpc.Server, hub: HubContext) -> list[str]:
    pb_grpc.add_APIServiceServicer_to_server(HubdServicer(hub), server)
    return [SERVICE]
