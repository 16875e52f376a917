"""``api.usersd.pb.APIService``: the caller's thread registry (GetThread by name, ListThreads).

A caller sees only threads it owns: same identity, and for user keys also the same API key (the
ownership rule of the interceptor). Mailboxes, usage and archives are not offered.
"""

from __future__ import annotations

from typing import Any

import grpc

from bucketfs.errors import NotFound
from bucketfs.hub.caller import Caller, KeyType, current_caller
from bucketfs.hub.servicers import HubContext, fill_unsupported
from bucketfs.hub.status import grpc_errors
from bucketfs.hub.threaddb import DBInfo
from bucketfs.proto import usersd_pb2 as pb
from bucketfs.proto import usersd_pb2_grpc as pb_grpc

SERVICE = "api.usersd.pb.APIService"


def visible_to(caller: Caller, info: DBInfo) -> bool:
    if info.owner != caller.identity:
        return False
    return caller.key_type is not KeyType.USER or info.api_key == caller.api_key


def thread_pb(info: DBInfo) -> Any:
    return pb.GetThreadResponse(id=info.db_id, name=info.name, is_db=True)


class UsersServicer(pb_grpc.APIServiceServicer):
    """See the module docstring."""

    def __init__(self, hub: HubContext) -> None:
        self.engine = hub.engine

    @grpc_errors
    def GetThread(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = current_caller()
        info = self.engine.find_db_by_name(caller.identity, request.name)
        if not visible_to(caller, info):
            raise NotFound("Thread not found")
        return thread_pb(info)

    @grpc_errors
    def ListThreads(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = current_caller()
        infos = [i for i in self.engine.list_dbs(caller.identity) if visible_to(caller, i)]
        return pb.ListThreadsResponse(list=[thread_pb(i) for i in infos])


fill_unsupported(
    UsersServicer,
    pb.DESCRIPTOR.services_by_name["APIService"],
    {"GetUsage": "this hub has no billing or usage metering"},
    "mailboxes and Filecoin archives are not offered by this hub",
)


def register(server: grpc.Server, hub: HubContext) -> list[str]:
    pb_grpc.add_APIServiceServicer_to_server(UsersServicer(hub), server)
    return [SERVICE]
