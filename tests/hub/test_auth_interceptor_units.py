"""The Authenticator in-process (no gRPC): credential order, ownership rules, the cross-user
allow-list and how dbIDs are found in request messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bucketfs.auth.apisig import api_key_metadata
from bucketfs.auth.identity import Identity
from bucketfs.auth.threadid import ThreadID
from bucketfs.auth.token import issue_token
from bucketfs.errors import NotFound, PermissionDenied, Unauthenticated
from bucketfs.hub.accounts import Accounts
from bucketfs.hub.caller import KeyType
from bucketfs.hub.interceptor import CROSS_USER_BUCKETS, Authenticator, request_db_ids
from bucketfs.hub.store import open_store
from bucketfs.hub.threaddb import Engine
from bucketfs.proto import threads_pb2 as pb

HUB = Identity.generate()


@pytest.fixture
def auth() -> Iterator[Authenticator]:
    store = open_store(":memory:")
    yield Authenticator(Accounts(store), Engine(store), HUB.public_key, set(CROSS_USER_BUCKETS))
    store.close()


def md(key: str, secret: str | None, **extra: str) -> dict[str, str]:
    return {**dict(api_key_metadata(key, secret)), **extra}


def test_session_is_checked_before_the_key(auth: Authenticator) -> None:
    with pytest.raises(Unauthenticated, match="Invalid session"):
        auth.authenticate(
            "/threads.pb.API/Find", {"x-textile-session": "s", "x-textile-api-key": "k"}
        )


def test_account_key_acts_as_account_identity(auth: Authenticator) -> None:
    record = auth.accounts.create_key("acme")
    caller = auth.authenticate("/threads.pb.API/Find", md(record.key, record.secret))
    assert caller.identity == auth.accounts.find_account("acme").identity
    assert (caller.key_type, caller.account, caller.api_key) == (
        KeyType.ACCOUNT,
        "acme",
        record.key,
    )


def test_user_key_acts_as_token_subject(auth: Authenticator) -> None:
    record = auth.accounts.create_key(key_type=KeyType.USER, secure=False)
    user = Identity.generate()
    token = issue_token(HUB, user.public_key)
    caller = auth.authenticate(
        "/threads.pb.API/Find", md(record.key, None, authorization=f"Bearer {token}")
    )
    assert caller.identity == str(user.public_key) and caller.token == token
    getter = auth.authenticate("/threads.pb.API/GetToken", md(record.key, None))
    assert getter.identity == ""
    with pytest.raises(Unauthenticated, match="Token required"):
        auth.authenticate("/threads.pb.API/Find", md(record.key, None))


def test_ownership_and_cross_user_allow_list(auth: Authenticator) -> None:
    owner_key = auth.accounts.create_key("owner")
    other_key = auth.accounts.create_key("other")
    owner = auth.authenticate("/x", md(owner_key.key, owner_key.secret))
    db = ThreadID.new()
    auth.owners.new_db(db.bytes, name="", owner=owner.identity, api_key=owner.api_key)
    other_md = md(other_key.key, other_key.secret, **{"x-textile-thread": str(db)})
    other = auth.authenticate("/x", other_md)
    auth.check_thread(owner, db.bytes)
    with pytest.raises(PermissionDenied, match="User does not own thread"):
        auth.check_thread(other, db.bytes)
    with pytest.raises(PermissionDenied):
        auth.check_header("/api.bucketsd.pb.APIService/List", other)
    auth.check_header("/api.bucketsd.pb.APIService/PushPath", other)  # roles decide
    with pytest.raises(PermissionDenied):
        auth.check_header("/bucketfs.pb.BucketsExtension/SetPathAttrs", other)
    auth.cross_user.add("/bucketfs.pb.BucketsExtension/SetPathAttrs")
    auth.check_header("/bucketfs.pb.BucketsExtension/SetPathAttrs", other)
    auth.check_thread(other, ThreadID.new().bytes)  # unknown threads are the handler's business


def test_invalid_key_is_not_found(auth: Authenticator) -> None:
    record = auth.accounts.create_key()
    auth.accounts.invalidate_key(record.key)
    with pytest.raises(NotFound, match="API key not found or is invalid"):
        auth.authenticate("/x", md(record.key, record.secret))


def test_request_db_ids() -> None:
    db = ThreadID.new().bytes
    assert request_db_ids(pb.FindRequest(dbID=db)) == [db]
    start = pb.StartTransactionRequest(dbID=db, collectionName="c")
    assert request_db_ids(pb.WriteTransactionRequest(startTransactionRequest=start)) == [db]
    inner = pb.WriteTransactionRequest(createRequest=pb.CreateRequest(dbID=db))
    assert request_db_ids(inner) == [db]
    assert request_db_ids(pb.WriteTransactionRequest()) == []
    assert request_db_ids(pb.GetTokenRequest(key="k")) == []
