"""The hub's auth interceptor (WIRE.md §2.3): who is calling, and may they touch this thread.

For every RPC the interceptor wraps the method handler so that, in the handler's worker thread and
before the servicer runs, it

1. lets the skipped methods through and refuses the blocked ones (``Method is not accessible``);
2. resolves the credentials in upstream order — session header (sessions are not offered by this
   hub, so any session is ``Invalid session``), then API key, signature (secure keys), account,
   and for user keys the ``authorization: bearer`` token (verified against the hub identity);
3. checks thread ownership: the ``x-textile-thread`` header and every ``dbID`` in the request
   (for streams, in each message as it arrives) must name a thread the caller created, except for
   the Buckets methods of the cross-user allow-list, where bucket roles decide;
4. refuses a request that is not a valid message of the method (a string that is not UTF-8, a
   truncated field) with ``INVALID_ARGUMENT`` naming the problem: grpc itself would answer
   INTERNAL and log a traceback, so the interceptor installs a deserializer that keeps the
   decoding error and reports it here, after authentication (unauthenticated callers learn
   nothing about their payload);
5. runs the handler with the resulting :class:`~bucketfs.hub.caller.Caller` as the current caller.

The thread check is one rule for every method: the owner's identity is accepted only with the
API key the thread was created with (``Bad API key`` otherwise). The cross-user Buckets methods
differ only in letting *other* identities through to the bucket roles, never in the owner's key.

Unlike upstream, the ownership check also covers streaming ThreadDB methods (Listen and the
transactions) and the ThreadDB methods of upstream's cross-user allow-list: a thread is private to
the identity and API key that created it. See docs/PROTOCOL.md "Hub server".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Set
from typing import Any, NoReturn, Protocol

import grpc
from google.protobuf.message import Message

from bucketfs.auth import apisig, token
from bucketfs.auth.identity import PublicKey
from bucketfs.auth.threadid import ThreadID
from bucketfs.errors import (
    BucketfsError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from bucketfs.hub.accounts import Accounts
from bucketfs.hub.caller import Caller, KeyType, acting_as
from bucketfs.hub.status import status_for

log = logging.getLogger(__name__)

THREAD_HEADER = "x-textile-thread"
THREAD_NAME_HEADER = "x-textile-thread-name"
SESSION_HEADER = "x-textile-session"
AUTHORIZATION_HEADER = "authorization"

DB_ID_FIELD = "dbID"
THREADS_PREFIX = "/threads.pb.API/"
NET_PREFIX = "/threads.net.pb.API/"
BUCKETS_PREFIX = "/api.bucketsd.pb.APIService/"

SKIPPED = frozenset(
    {
        "/api.hubd.pb.APIService/Signup",
        "/api.hubd.pb.APIService/Signin",
        "/api.hubd.pb.APIService/IsUsernameAvailable",
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
    }
)
BLOCKED = frozenset({THREADS_PREFIX + "ListDBs", NET_PREFIX + "Subscribe"})
GET_TOKEN = frozenset({THREADS_PREFIX + "GetToken", NET_PREFIX + "GetToken"})
#: Buckets methods a caller may use on a thread it does not own; bucket roles govern them.
CROSS_USER_BUCKETS = frozenset(
    BUCKETS_PREFIX + name
    for name in (
        "Root",
        "Links",
        "ListPath",
        "PushPath",
        "SetPath",
        "MovePath",
        "RemovePath",
        "PullPath",
        "PullPathAccessRoles",
        "PushPathAccessRoles",
    )
)


class ThreadOwners(Protocol):
    """What the interceptor needs from the ThreadDB engine: who owns a thread."""

    def get_db(self, db_id: bytes) -> Any: ...  # DBInfo with .owner and .api_key


def parse_thread_id(text: str) -> bytes:
    """Thread ID string (multibase) → bytes; ``InvalidArgument`` when malformed."""
    try:
        return ThreadID.from_string(text).bytes
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid {THREAD_HEADER} header: {exc.message}") from None


def request_db_ids(message: Message) -> list[bytes]:
    """The ``dbID`` values a request carries: its own field, or that of the sub-message set in
    its oneof (transaction streams)."""
    if DB_ID_FIELD in message.DESCRIPTOR.fields_by_name:
        return [getattr(message, DB_ID_FIELD)]
    found: list[bytes] = []
    for oneof in message.DESCRIPTOR.oneofs:
        which = message.WhichOneof(oneof.name)
        if which is not None:
            sub = getattr(message, which)
            if isinstance(sub, Message):
                found += request_db_ids(sub)
    return found


def _bearer_token(metadata: dict[str, str]) -> str:
    value = metadata.get(AUTHORIZATION_HEADER)
    if value is None:
        return ""
    scheme, sep, rest = value.partition(" ")
    if not sep:
        raise Unauthenticated("Bad authorization string")
    if scheme.lower() != "bearer":
        raise Unauthenticated("Request unauthenticated with bearer")
    return rest.strip()


class Authenticator:
    """Credential resolution and ownership checks, independent of grpc plumbing."""

    def __init__(
        self,
        accounts: Accounts,
        owners: ThreadOwners,
        hub_key: PublicKey,
        cross_user: Set[str] = CROSS_USER_BUCKETS,
    ) -> None:
        self.accounts = accounts
        self.owners = owners
        self.hub_key = hub_key
        #: methods exempt from the ownership check (their service enforces bucket roles)
        self.cross_user = cross_user

    def authenticate(self, method: str, metadata: dict[str, str]) -> Caller:
        """The caller of ``method`` given its (lower-case keyed) metadata, or a wire error."""
        if metadata.get(SESSION_HEADER):
            raise Unauthenticated("Invalid session")
        key_text = metadata.get(apisig.API_KEY_HEADER, "")
        if not key_text:
            raise Unauthenticated("Session or API key required")
        record, account = self.accounts.find_credentials(key_text)
        if record.secure:
            apisig.verify_api_sig(
                record.secret,
                metadata.get(apisig.API_SIG_HEADER, ""),
                metadata.get(apisig.API_SIG_MSG_HEADER, ""),
            )
        if account is None:
            raise NotFound("Account not found")
        headers = {
            "thread": metadata.get(THREAD_HEADER, ""),
            "thread_name": metadata.get(THREAD_NAME_HEADER, ""),
        }
        if record.key_type is KeyType.ACCOUNT:
            return Caller(account.identity, record.key, KeyType.ACCOUNT, account.name, **headers)
        bearer = _bearer_token(metadata)
        if not bearer:
            if method in GET_TOKEN:
                return Caller("", record.key, KeyType.USER, account.name, **headers)
            raise Unauthenticated("Token required")
        subject = self.token_subject(bearer)
        return Caller(subject, record.key, KeyType.USER, account.name, token=bearer, **headers)

    def token_subject(self, bearer: str) -> str:
        """Verify a user token against the hub identity; returns its subject."""
        try:
            token.parse_token_unverified(bearer)
        except BucketfsError:
            raise PermissionDenied("Bad authorization") from None
        return token.verify_token(bearer, self.hub_key).subject

    def check_thread(self, caller: Caller, db_id: bytes, *, shared: bool = False) -> None:
        """PERMISSION_DENIED unless ``caller`` owns thread ``db_id`` with the API key the thread
        was created with (unknown threads pass: the handler reports them as not found).

        With ``shared`` (a method whose service enforces bucket roles) a caller of another
        identity passes, and the roles decide; the owner's own identity must still come with
        the thread's key, so a token is never worth more with another key than with its own.
        """
        try:
            info = self.owners.get_db(db_id)
        except NotFound:
            return
        if info.owner != caller.identity:
            if shared:
                return
            raise PermissionDenied("User does not own thread")
        if caller.key_type is KeyType.USER and info.api_key != caller.api_key:
            raise PermissionDenied("Bad API key")

    def check_header(self, method: str, caller: Caller) -> None:
        if caller.thread and method not in GET_TOKEN:
            tid = parse_thread_id(caller.thread)
            self.check_thread(caller, tid, shared=method in self.cross_user)

    def check_request(self, method: str, caller: Caller, request: Any) -> None:
        if method.startswith(THREADS_PREFIX) and isinstance(request, Message):
            for db_id in request_db_ids(request):
                if db_id:
                    self.check_thread(caller, db_id)


class Undecodable:
    """What the tolerant deserializer returns for bytes that are not a valid request."""

    def __init__(self, error: str) -> None:
        self.error = error

    def refusal(self) -> InvalidArgument:
        return InvalidArgument(f"request could not be decoded: {self.error}")


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` returning :class:`Undecodable` instead of raising (see module doc)."""
    if deserializer is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # any decoding failure is the client's malformed request
            return Undecodable(str(exc) or type(exc).__name__)

    return decode


def _abort_with(context: grpc.ServicerContext, exc: BucketfsError) -> NoReturn:
    code, message = status_for(exc)
    context.abort(code, message)
    raise AssertionError("unreachable: abort raises")


class AuthInterceptor(grpc.ServerInterceptor):
    """Wrap every method handler with :class:`Authenticator` (see the module docstring)."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None:
            return handler
        return _wrap(handler, _Gate(self.auth, method))


class _Gate:
    """Per-method authorisation state used by the wrapped handlers."""

    def __init__(self, auth: Authenticator, method: str) -> None:
        self.auth = auth
        self.method = method

    def admit(self, request: Any, context: grpc.ServicerContext) -> Caller | None:
        """Authenticate and check ownership; aborts the call with the wire error otherwise.
        ``None`` for the skipped (unauthenticated) methods."""
        if self.method in SKIPPED:
            if isinstance(request, Undecodable):
                _abort_with(context, request.refusal())
            return None
        try:
            if self.method in BLOCKED:
                raise PermissionDenied("Method is not accessible")
            metadata = {
                k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)
            }
            caller = self.auth.authenticate(self.method, metadata)
            self.auth.check_header(self.method, caller)
            if isinstance(request, Undecodable):
                raise request.refusal()
            if request is not None:
                self.auth.check_request(self.method, caller, request)
        except BucketfsError as exc:
            log.debug("%s refused: %s", self.method, exc.message)
            _abort_with(context, exc)
        if log.isEnabledFor(logging.DEBUG):
            who = caller.identity or "(no identity yet)"
            log.debug(
                "%s by %s with %s key %s", self.method, who, caller.key_type.value, caller.api_key
            )
        return caller

    def checked(
        self, caller: Caller | None, requests: Iterable[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Pass stream messages through, checking each decoded and its ``dbID``."""
        for request in requests:
            if isinstance(request, Undecodable):
                _abort_with(context, request.refusal())
            if caller is not None:
                self.auth.check_request(self.method, caller, request)
            yield request


def _wrap(handler: grpc.RpcMethodHandler, gate: _Gate) -> grpc.RpcMethodHandler:
    serializers = {
        "request_deserializer": _tolerant(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        inner_uu = handler.unary_unary

        def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
            with acting_as(gate.admit(request, context)):
                return inner_uu(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **serializers)
    if handler.unary_stream is not None:
        inner_us = handler.unary_stream

        def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with acting_as(gate.admit(request, context)):
                yield from inner_us(request, context)

        return grpc.unary_stream_rpc_method_handler(unary_stream, **serializers)
    if handler.stream_unary is not None:
        inner_su = handler.stream_unary

        def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            caller = gate.admit(None, context)
            with acting_as(caller):
                return inner_su(gate.checked(caller, requests, context), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **serializers)
    inner_ss = handler.stream_stream
    assert inner_ss is not None

    def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        caller = gate.admit(None, context)
        with acting_as(caller):
            yield from inner_ss(gate.checked(caller, requests, context), context)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **serializers)
