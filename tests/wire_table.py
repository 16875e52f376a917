"""The Textile wire contract as a table, transcribed by hand from reference/WIRE.md.

tests/test_protos.py compares this table with the compiled descriptors of ``bucketfs.proto``
in both directions. It is deliberately *not* generated from the .proto files: it is the second,
independent copy of the contract. ``UPSTREAM`` mirrors WIRE.md §2.4 and §3-§7 exactly;
``EXTENSIONS`` lists the bucketfs additions (DESIGN §5, docs/PROTOCOL.md "Extensions").

Each package is a text block, one item per line:

* ``rpc <Method> <kind> [<Request> <Response>]`` — kind is unary/server/client/bidi; the types
  default to ``<Method>Request``/``<Method>Response``; ``deprecated`` may follow.
* ``<Message> | <field>; <field>; ...`` with fields
  ``<name> <number> [repeated|optional|required] <type> [oneof=<name>] [deprecated]``.
  A message may appear on several lines (continuations); an empty field list is an empty message.
* ``enum <Enum> | <VALUE> <number>; ...``.

Type names starting with an upper-case letter are relative to the package; others are scalars
or fully qualified names (``api.billingd.pb.Usage``); maps are ``map<K,V>`` without spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Field(NamedTuple):
    number: int
    type: str  # scalar type name, full message/enum name, or "map<K,V>" with full names
    label: str = ""  # "", "repeated", "optional", "required" or "map"
    oneof: str = ""


class Method(NamedTuple):
    kind: str  # "unary", "server", "client" or "bidi"
    request: str
    response: str


@dataclass
class Contract:
    """Services, messages and enums keyed by full name; deprecated items by full name/path."""

    methods: dict[str, Method] = field(default_factory=dict)
    messages: dict[str, dict[str, Field]] = field(default_factory=dict)
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    deprecated: set[str] = field(default_factory=set)


LABELS = ("repeated", "optional", "required")
KINDS = ("unary", "server", "client", "bidi")


def resolve(package: str, name: str) -> str:
    """Full name of a type written relative to ``package`` (see module docstring)."""
    if name.startswith("map<") and name.endswith(">"):
        key, value = name[4:-1].split(",")
        return f"map<{resolve(package, key)},{resolve(package, value)}>"
    return f"{package}.{name}" if name[:1].isupper() else name


def parse_field(package: str, spec: str) -> tuple[str, Field, bool]:
    """``(name, Field, deprecated)`` from one field spec."""
    tokens = spec.split()
    name, number, rest = tokens[0], int(tokens[1]), tokens[2:]
    deprecated = rest[-1:] == ["deprecated"]
    rest = rest[:-1] if deprecated else rest
    label = rest.pop(0) if rest[0] in LABELS else ""
    type_ = resolve(package, rest.pop(0))
    if type_.startswith("map<"):
        label = "map"
    oneof = rest.pop(0).removeprefix("oneof=") if rest else ""
    if rest:
        raise ValueError(f"bad field spec {spec!r}")
    return name, Field(number, type_, label, oneof), deprecated


def add_block(contract: Contract, package: str, service: str, block: str) -> None:
    """Parse one package's text block (format in the module docstring) into ``contract``."""
    for raw in block.strip().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("rpc "):
            _add_rpc(contract, package, service, line.split()[1:])
        elif line.startswith("enum "):
            name, _, values = line[5:].partition("|")
            enum = contract.enums.setdefault(resolve(package, name.strip()), {})
            for value in filter(str.strip, values.split(";")):
                key, number = value.split()
                if key in enum:
                    raise ValueError(f"enum value {name.strip()}.{key} listed twice")
                enum[key] = int(number)
        else:
            name, _, specs = line.partition("|")
            full = resolve(package, name.strip())
            fields = contract.messages.setdefault(full, {})
            for spec in filter(str.strip, specs.split(";")):
                fname, value, deprecated = parse_field(package, spec)
                if fname in fields:
                    raise ValueError(f"{full}.{fname} listed twice")
                fields[fname] = value
                if deprecated:
                    contract.deprecated.add(f"{full}.{fname}")


def _add_rpc(contract: Contract, package: str, service: str, words: list[str]) -> None:
    deprecated = words[-1:] == ["deprecated"]
    name, kind, *types = words[:-1] if deprecated else words
    if kind not in KINDS:
        raise ValueError(f"bad streaming kind {kind!r} for {name}")
    request, response = types or (f"{name}Request", f"{name}Response")
    path = f"/{package}.{service}/{name}"
    contract.methods[path] = Method(kind, resolve(package, request), resolve(package, response))
    if deprecated:
        contract.deprecated.add(path)


# WIRE §2.4 — libp2p keys (proto2).
CRYPTO = """
PublicKey | Type 1 required KeyType; Data 2 required bytes
PrivateKey | Type 1 required KeyType; Data 2 required bytes
enum KeyType | RSA 0; Ed25519 1; Secp256k1 2; ECDSA 3
"""

# WIRE §3 — ThreadDB.
THREADS = """
rpc GetToken bidi GetTokenRequest GetTokenReply
rpc NewDB unary NewDBRequest NewDBReply
rpc NewDBFromAddr unary NewDBFromAddrRequest NewDBReply
rpc ListDBs unary ListDBsRequest ListDBsReply
rpc GetDBInfo unary GetDBInfoRequest GetDBInfoReply
rpc DeleteDB unary DeleteDBRequest DeleteDBReply
rpc NewCollection unary NewCollectionRequest NewCollectionReply
rpc UpdateCollection unary UpdateCollectionRequest UpdateCollectionReply
rpc DeleteCollection unary DeleteCollectionRequest DeleteCollectionReply
rpc GetCollectionInfo unary GetCollectionInfoRequest GetCollectionInfoReply
rpc GetCollectionIndexes unary GetCollectionIndexesRequest GetCollectionIndexesReply deprecated
rpc ListCollections unary ListCollectionsRequest ListCollectionsReply
rpc Create unary CreateRequest CreateReply
rpc Verify unary VerifyRequest VerifyReply
rpc Save unary SaveRequest SaveReply
rpc Delete unary DeleteRequest DeleteReply
rpc Has unary HasRequest HasReply
rpc Find unary FindRequest FindReply
rpc FindByID unary FindByIDRequest FindByIDReply
rpc ReadTransaction bidi ReadTransactionRequest ReadTransactionReply
rpc WriteTransaction bidi WriteTransactionRequest WriteTransactionReply
rpc Listen server ListenRequest ListenReply

GetTokenRequest | key 1 string oneof=payload; signature 2 bytes oneof=payload
GetTokenReply | challenge 1 bytes oneof=payload; token 2 string oneof=payload
NewDBRequest | dbID 1 bytes; collections 2 repeated CollectionConfig; name 3 string
NewDBRequest | block 5 bool deprecated; key 6 bytes; logKey 7 bytes
NewDBFromAddrRequest | addr 1 bytes; key 2 bytes; collections 3 repeated CollectionConfig
NewDBFromAddrRequest | name 4 string; block 5 bool; threadKey 6 bytes deprecated; logKey 7 bytes
CollectionConfig | name 1 string; schema 2 bytes; indexes 3 repeated Index
CollectionConfig | writeValidator 4 string; readFilter 5 string
Index | path 1 string; unique 2 bool
NewDBReply |
ListDBsRequest |
ListDBsReply | dbs 1 repeated ListDBsReply.DB
ListDBsReply.DB | dbID 1 bytes; info 2 GetDBInfoReply
GetDBInfoRequest | dbID 1 bytes
GetDBInfoReply | addrs 1 repeated bytes; key 2 bytes; name 3 string
DeleteDBRequest | dbID 1 bytes
DeleteDBReply |
NewCollectionRequest | dbID 1 bytes; config 2 CollectionConfig
NewCollectionReply |
UpdateCollectionRequest | dbID 1 bytes; config 2 CollectionConfig
UpdateCollectionReply |
DeleteCollectionRequest | dbID 1 bytes; name 2 string
DeleteCollectionReply |
GetCollectionInfoRequest | dbID 1 bytes; name 2 string
GetCollectionInfoReply | name 1 string; schema 2 bytes; indexes 3 repeated Index
GetCollectionInfoReply | writeValidator 4 string; readFilter 5 string
GetCollectionIndexesRequest | dbID 1 bytes; name 2 string
GetCollectionIndexesReply | indexes 1 repeated Index
ListCollectionsRequest | dbID 1 bytes
ListCollectionsReply | collections 1 repeated GetCollectionInfoReply
CreateRequest | dbID 1 bytes; collectionName 2 string; instances 3 repeated bytes
CreateReply | instanceIDs 1 repeated string; transactionError 2 string
VerifyRequest | dbID 1 bytes; collectionName 2 string; instances 3 repeated bytes
VerifyReply | transactionError 1 string
SaveRequest | dbID 1 bytes; collectionName 2 string; instances 3 repeated bytes
SaveReply | transactionError 1 string
DeleteRequest | dbID 1 bytes; collectionName 2 string; instanceIDs 3 repeated string
DeleteReply | transactionError 1 string
HasRequest | dbID 1 bytes; collectionName 2 string; instanceIDs 3 repeated string
HasReply | exists 1 bool; transactionError 2 string
FindRequest | dbID 1 bytes; collectionName 2 string; queryJSON 3 bytes
FindReply | instances 1 repeated bytes; transactionError 2 string
FindByIDRequest | dbID 1 bytes; collectionName 2 string; instanceID 3 string
FindByIDReply | instance 1 bytes; transactionError 2 string
DiscardRequest |
DiscardReply |
StartTransactionRequest | dbID 1 bytes; collectionName 2 string
ReadTransactionRequest | startTransactionRequest 1 StartTransactionRequest oneof=option
ReadTransactionRequest | hasRequest 2 HasRequest oneof=option; findRequest 3 FindRequest oneof=option
ReadTransactionRequest | findByIDRequest 4 FindByIDRequest oneof=option
ReadTransactionReply | hasReply 1 HasReply oneof=option; findReply 2 FindReply oneof=option
ReadTransactionReply | findByIDReply 3 FindByIDReply oneof=option
WriteTransactionRequest | startTransactionRequest 1 StartTransactionRequest oneof=option
WriteTransactionRequest | createRequest 2 CreateRequest oneof=option; saveRequest 3 SaveRequest oneof=option
WriteTransactionRequest | deleteRequest 4 DeleteRequest oneof=option; hasRequest 5 HasRequest oneof=option
WriteTransactionRequest | findRequest 6 FindRequest oneof=option
WriteTransactionRequest | findByIDRequest 7 FindByIDRequest oneof=option
WriteTransactionRequest | verifyRequest 8 VerifyRequest oneof=option
WriteTransactionRequest | discardRequest 9 DiscardRequest oneof=option
WriteTransactionReply | createReply 1 CreateReply oneof=option; saveReply 2 SaveReply oneof=option
WriteTransactionReply | deleteReply 3 DeleteReply oneof=option; hasReply 4 HasReply oneof=option
WriteTransactionReply | findReply 5 FindReply oneof=option; findByIDReply 6 FindByIDReply oneof=option
WriteTransactionReply | verifyReply 7 VerifyReply oneof=option; discardReply 8 DiscardReply oneof=option
ListenRequest | dbID 1 bytes; filters 2 repeated ListenRequest.Filter
ListenRequest.Filter | collectionName 1 string; instanceID 2 string
ListenRequest.Filter | action 3 ListenRequest.Filter.Action
enum ListenRequest.Filter.Action | ALL 0; CREATE 1; SAVE 2; DELETE 3
ListenReply | collectionName 1 string; instanceID 2 string; action 3 ListenReply.Action
ListenReply | instance 4 bytes
enum ListenReply.Action | CREATE 0; SAVE 1; DELETE 2
"""

# WIRE §4 — Buckets.
BUCKETS = """
rpc List unary
rpc Create unary
rpc Root unary
rpc Links unary
rpc ListPath unary
rpc ListIpfsPath unary
rpc PushPath bidi
rpc PushPaths bidi
rpc PullPath server
rpc PullIpfsPath server
rpc SetPath unary
rpc MovePath unary
rpc Remove unary
rpc RemovePath unary
rpc PushPathAccessRoles unary
rpc PullPathAccessRoles unary
rpc DefaultArchiveConfig unary
rpc SetDefaultArchiveConfig unary
rpc Archive unary
rpc Archives unary
rpc ArchiveWatch server

Metadata | roles 1 map<string,PathAccessRole>; updated_at 2 int64; key 3 string
Root | key 1 string; name 2 string; path 3 string; created_at 4 int64; updated_at 5 int64
Root | thread 6 string; owner 7 string; version 8 int32; metadata 9 Metadata; link_key 10 string
Root | path_metadata 11 map<string,Metadata>; archives 12 Archives
ListRequest |
ListResponse | roots 1 repeated Root
CreateRequest | name 1 string; bootstrap_cid 2 string; private 3 bool; unfreeze 4 bool
CreateResponse | root 1 Root; links 2 LinksResponse; seed 3 bytes; seed_cid 4 string
CreateResponse | pinned 5 int64; retrieval_id 6 string
RootRequest | key 1 string
RootResponse | root 1 Root
LinksRequest | key 1 string; path 2 string
LinksResponse | url 1 string; www 2 string; ipns 3 string
ListPathRequest | key 1 string; path 2 string
ListPathResponse | item 1 PathItem; root 2 Root
PathItem | cid 1 string; name 2 string; path 3 string; size 4 int64; is_dir 5 bool
PathItem | items 6 repeated PathItem; items_count 7 int32; metadata 9 Metadata
ListIpfsPathRequest | path 1 string
ListIpfsPathResponse | item 1 PathItem
PushPathRequest | header 1 PushPathRequest.Header oneof=payload; chunk 2 bytes oneof=payload
PushPathRequest.Header | key 1 string; path 2 string; root 3 string
PushPathResponse | event 1 PushPathResponse.Event
PushPathResponse.Event | name 1 string; path 2 string; bytes 3 int64; size 4 string; root 5 Root
PushPathResponse.Event | pinned 6 int64
PushPathsRequest | header 1 PushPathsRequest.Header oneof=payload
PushPathsRequest | chunk 2 PushPathsRequest.Chunk oneof=payload
PushPathsRequest.Header | key 1 string; root 2 string; paths 3 repeated string
PushPathsRequest.Chunk | path 1 string; data 2 bytes
PushPathsResponse | path 1 string; cid 2 string; size 3 int64; pinned 4 int64; root 5 Root
PullPathRequest | key 1 string; path 2 string
PullPathResponse | chunk 1 bytes
PullIpfsPathRequest | path 1 string
PullIpfsPathResponse | chunk 1 bytes
SetPathRequest | key 1 string; path 2 string; cid 3 string
SetPathResponse | pinned 1 int64
MovePathRequest | key 1 string; from_path 2 string; to_path 3 string
MovePathResponse |
RemoveRequest | key 1 string
RemoveResponse | pinned 1 int64
RemovePathRequest | key 1 string; path 2 string; root 3 string
RemovePathResponse | root 1 Root; pinned 2 int64
enum PathAccessRole | PATH_ACCESS_ROLE_UNSPECIFIED 0; PATH_ACCESS_ROLE_READER 1
enum PathAccessRole | PATH_ACCESS_ROLE_WRITER 2; PATH_ACCESS_ROLE_ADMIN 3
PushPathAccessRolesRequest | key 1 string; path 2 string; roles 3 map<string,PathAccessRole>
PushPathAccessRolesResponse | pinned 1 int64
PullPathAccessRolesRequest | key 1 string; path 2 string
PullPathAccessRolesResponse | roles 1 map<string,PathAccessRole>

ArchiveConfig | rep_factor 1 int32; deal_min_duration 2 int64; excluded_miners 3 repeated string
ArchiveConfig | trusted_miners 4 repeated string; country_codes 5 repeated string
ArchiveConfig | renew 6 ArchiveRenew; max_price 7 uint64; fast_retrieval 8 bool
ArchiveConfig | deal_start_offset 9 int64; verified_deal 10 bool
Archives | current 1 Archive; history 2 repeated Archive
Archive | cid 1 string; job_id 2 string; archive_status 3 ArchiveStatus; aborted 4 bool
Archive | aborted_msg 5 string; failure_msg 6 string; created_at 7 int64
Archive | deal_info 8 repeated DealInfo
enum ArchiveStatus | ARCHIVE_STATUS_UNSPECIFIED 0; ARCHIVE_STATUS_QUEUED 1
enum ArchiveStatus | ARCHIVE_STATUS_EXECUTING 2; ARCHIVE_STATUS_FAILED 3
enum ArchiveStatus | ARCHIVE_STATUS_CANCELED 4; ARCHIVE_STATUS_SUCCESS 5
DealInfo | proposal_cid 1 string; state_id 2 uint64; state_name 3 string; miner 4 string
DealInfo | piece_cid 5 string; size 6 uint64; price_per_epoch 7 uint64; start_epoch 8 uint64
DealInfo | duration 9 uint64; deal_id 10 uint64; activation_epoch 11 int64; message 12 string
ArchiveRenew | enabled 1 bool; threshold 2 int32
DefaultArchiveConfigRequest | key 1 string
DefaultArchiveConfigResponse | archive_config 1 ArchiveConfig
SetDefaultArchiveConfigRequest | key 1 string; archive_config 2 ArchiveConfig
SetDefaultArchiveConfigResponse |
ArchiveRequest | key 1 string; archive_config 2 ArchiveConfig
ArchiveRequest | skip_automatic_verified_deal 3 bool
ArchiveResponse |
ArchivesRequest | key 1 string
ArchivesResponse | current 1 Archive; history 2 repeated Archive
ArchiveWatchRequest | key 1 string
ArchiveWatchResponse | msg 1 string
"""

# WIRE §5 — Hub (all unary).
HUB = """
rpc BuildInfo unary
rpc Signup unary
rpc Signin unary
rpc Signout unary
rpc GetSessionInfo unary
rpc GetIdentity unary
rpc CreateKey unary
rpc ListKeys unary
rpc InvalidateKey unary
rpc CreateOrg unary
rpc GetOrg unary
rpc ListOrgs unary
rpc RemoveOrg unary
rpc InviteToOrg unary
rpc LeaveOrg unary
rpc SetupBilling unary
rpc GetBillingSession unary
rpc ListBillingUsers unary
rpc IsUsernameAvailable unary
rpc IsOrgNameAvailable unary
rpc DestroyAccount unary

BuildInfoRequest |
BuildInfoResponse | git_commit 1 string; git_branch 2 string; git_state 3 string
BuildInfoResponse | git_summary 4 string; build_date 5 string; version 6 string
SignupRequest | username 1 string; email 2 string
SignupResponse | key 1 bytes; session 2 string
SigninRequest | username_or_email 1 string
SigninResponse | key 1 bytes; session 2 string
SignoutRequest |
SignoutResponse |
GetSessionInfoRequest |
GetSessionInfoResponse | key 1 bytes; username 2 string; email 3 string
GetIdentityRequest |
GetIdentityResponse | identity 1 bytes
enum KeyType | KEY_TYPE_UNSPECIFIED 0; KEY_TYPE_ACCOUNT 1; KEY_TYPE_USER 2
KeyInfo | key 1 string; secret 2 string; type 3 KeyType; valid 4 bool; threads 5 int32
KeyInfo | secure 6 bool
CreateKeyRequest | type 1 KeyType; secure 2 bool
CreateKeyResponse | key_info 1 KeyInfo
InvalidateKeyRequest | key 1 string
InvalidateKeyResponse |
ListKeysRequest |
ListKeysResponse | list 1 repeated KeyInfo
OrgInfo | key 1 bytes; name 2 string; slug 3 string; host 4 string
OrgInfo | members 5 repeated OrgInfo.Member; created_at 6 int64
OrgInfo.Member | key 1 bytes; username 2 string; role 3 string
CreateOrgRequest | name 1 string
CreateOrgResponse | org_info 1 OrgInfo
GetOrgRequest |
GetOrgResponse | org_info 1 OrgInfo
ListOrgsRequest |
ListOrgsResponse | list 1 repeated OrgInfo
RemoveOrgRequest |
RemoveOrgResponse |
LeaveOrgRequest |
LeaveOrgResponse |
InviteToOrgRequest | email 1 string
InviteToOrgResponse | token 1 string
SetupBillingRequest |
SetupBillingResponse |
GetBillingSessionRequest |
GetBillingSessionResponse | url 1 string
ListBillingUsersRequest | offset 1 int64; limit 2 int64
ListBillingUsersResponse | users 1 repeated api.billingd.pb.GetCustomerResponse
ListBillingUsersResponse | next_offset 2 int64
IsUsernameAvailableRequest | username 1 string
IsUsernameAvailableResponse |
IsOrgNameAvailableRequest | name 1 string
IsOrgNameAvailableResponse | slug 1 string; host 2 string
DestroyAccountRequest |
DestroyAccountResponse |
"""

# WIRE §6 — Users.
USERS = """
rpc GetThread unary
rpc ListThreads unary
rpc SetupMailbox unary
rpc SendMessage unary
rpc ListInboxMessages unary
rpc ListSentboxMessages unary
rpc ReadInboxMessage unary
rpc DeleteInboxMessage unary
rpc DeleteSentboxMessage unary
rpc GetUsage unary
rpc ArchivesLs unary
rpc ArchivesImport unary
rpc ArchiveRetrievalLs unary
rpc ArchiveRetrievalLogs server

GetThreadRequest | name 1 string
GetThreadResponse | id 1 bytes; name 2 string; is_db 3 bool
ListThreadsRequest |
ListThreadsResponse | list 1 repeated GetThreadResponse
SetupMailboxRequest |
SetupMailboxResponse | mailbox_id 1 bytes
Message | id 1 string; from 2 string; to 3 string; body 4 bytes; signature 5 bytes
Message | created_at 6 int64; read_at 7 int64
SendMessageRequest | to 1 string; to_body 2 bytes; to_signature 3 bytes; from_body 4 bytes
SendMessageRequest | from_signature 5 bytes
SendMessageResponse | id 1 string; created_at 2 int64
ListInboxMessagesRequest | seek 1 string; limit 2 int64; ascending 3 bool
ListInboxMessagesRequest | status 4 ListInboxMessagesRequest.Status
enum ListInboxMessagesRequest.Status | STATUS_UNSPECIFIED 0; STATUS_ALL 1; STATUS_READ 2
enum ListInboxMessagesRequest.Status | STATUS_UNREAD 3
ListInboxMessagesResponse | messages 1 repeated Message
ListSentboxMessagesRequest | seek 1 string; limit 2 int64; ascending 3 bool
ListSentboxMessagesResponse | messages 1 repeated Message
ReadInboxMessageRequest | id 1 string
ReadInboxMessageResponse | read_at 1 int64
DeleteInboxMessageRequest | id 1 string
DeleteInboxMessageResponse |
DeleteSentboxMessageRequest | id 1 string
DeleteSentboxMessageResponse |
GetUsageRequest | key 1 string
GetUsageResponse | customer 1 api.billingd.pb.GetCustomerResponse
GetUsageResponse | usage 2 api.billingd.pb.GetCustomerUsageResponse
ArchivesLsRequest |
ArchivesLsResponse | archives 1 repeated ArchiveLsItem
ArchiveLsItem | cid 1 string; info 2 repeated ArchiveLsItemMetadata
ArchiveLsItemMetadata | deal_id 1 uint64
ArchivesImportRequest | cid 1 string; deal_ids 2 repeated uint64
ArchivesImportResponse |
ArchiveRetrievalLsRequest |
ArchiveRetrievalLsResponse | retrievals 1 repeated ArchiveRetrievalLsItem
ArchiveRetrievalLsItem | id 1 string; cid 2 string; status 3 ArchiveRetrievalStatus
ArchiveRetrievalLsItem | failure_cause 4 string; created_at 5 int64
ArchiveRetrievalLsItem | new_bucket 6 ArchiveRetrievalLsItemNewBucket oneof=retrieval_type
ArchiveRetrievalLsItemNewBucket | name 1 string; private 2 bool
enum ArchiveRetrievalStatus | ARCHIVE_RETRIEVAL_STATUS_UNSPECIFIED 0
enum ArchiveRetrievalStatus | ARCHIVE_RETRIEVAL_STATUS_QUEUED 1
enum ArchiveRetrievalStatus | ARCHIVE_RETRIEVAL_STATUS_EXECUTING 2
enum ArchiveRetrievalStatus | ARCHIVE_RETRIEVAL_STATUS_MOVETOBUCKET 3
enum ArchiveRetrievalStatus | ARCHIVE_RETRIEVAL_STATUS_FAILED 4
enum ArchiveRetrievalStatus | ARCHIVE_RETRIEVAL_STATUS_CANCELED 5
enum ArchiveRetrievalStatus | ARCHIVE_RETRIEVAL_STATUS_SUCCESS 6
ArchiveRetrievalLogsRequest | id 1 string
ArchiveRetrievalLogsResponse | msg 1 string
"""

# go-threads net/api/pb/threadsnet.proto — the thread network API (served in part, PROTOCOL.md).
THREADS_NET = """
rpc GetHostID unary GetHostIDRequest GetHostIDReply
rpc GetToken bidi GetTokenRequest GetTokenReply
rpc CreateThread unary CreateThreadRequest ThreadInfoReply
rpc AddThread unary AddThreadRequest ThreadInfoReply
rpc GetThread unary GetThreadRequest ThreadInfoReply
rpc PullThread unary PullThreadRequest PullThreadReply
rpc DeleteThread unary DeleteThreadRequest DeleteThreadReply
rpc AddReplicator unary AddReplicatorRequest AddReplicatorReply
rpc CreateRecord unary CreateRecordRequest NewRecordReply
rpc AddRecord unary AddRecordRequest AddRecordReply
rpc GetRecord unary GetRecordRequest GetRecordReply
rpc Subscribe server SubscribeRequest NewRecordReply

GetHostIDRequest |
GetHostIDReply | peerID 1 bytes
GetTokenRequest | key 1 string oneof=payload; signature 2 bytes oneof=payload
GetTokenReply | challenge 1 bytes oneof=payload; token 2 string oneof=payload
CreateThreadRequest | threadID 1 bytes; keys 2 Keys
Keys | threadKey 1 bytes; logKey 2 bytes
ThreadInfoReply | threadID 1 bytes; threadKey 2 bytes; logs 3 repeated LogInfo
ThreadInfoReply | addrs 4 repeated bytes
LogInfo | ID 1 bytes; pubKey 2 bytes; privKey 3 bytes; addrs 4 repeated bytes; head 5 bytes
LogInfo | counter 6 bytes
AddThreadRequest | addr 1 bytes; keys 2 Keys
GetThreadRequest | threadID 1 bytes
PullThreadRequest | threadID 1 bytes
PullThreadReply |
DeleteThreadRequest | threadID 1 bytes
DeleteThreadReply |
AddReplicatorRequest | threadID 1 bytes; addr 2 bytes
AddReplicatorReply | peerID 1 bytes
CreateRecordRequest | threadID 1 bytes; body 2 bytes
NewRecordReply | threadID 1 bytes; logID 2 bytes; record 3 Record
AddRecordRequest | threadID 1 bytes; logID 2 bytes; record 3 Record
Record | recordNode 1 bytes; eventNode 2 bytes; headerNode 3 bytes; bodyNode 4 bytes
AddRecordReply |
GetRecordRequest | threadID 1 bytes; recordID 2 bytes
GetRecordReply | record 1 Record
SubscribeRequest | threadIDs 1 repeated bytes
"""

# WIRE §7 — billing types (messages only, no service).
BILLING = """
Period | unix_start 1 int64; unix_end 2 int64
Usage | description 1 string; units 2 int64; total 3 int64; free 4 int64; grace 5 int64
Usage | cost 6 double; period 7 Period
GetCustomerResponse | key 1 string; customer_id 2 string; parent_key 3 string; email 4 string
GetCustomerResponse | account_type 5 int32; account_status 6 string
GetCustomerResponse | subscription_status 7 string; balance 8 int64; billable 9 bool
GetCustomerResponse | delinquent 10 bool; created_at 11 int64; grace_period_end 12 int64
GetCustomerResponse | invoice_period 13 Period; daily_usage 14 map<string,Usage>
GetCustomerResponse | dependents 15 int64
GetCustomerUsageResponse | usage 1 map<string,Usage>
"""

# DESIGN §5 — bucketfs extensions: fields >= 1000 on upstream messages, plus one new service.
BUCKETS_EXTENSIONS = """
PathItem | file_size 1000 int64; mode 1001 uint32; mtime 1002 int64; symlink_target 1003 string
Metadata | mode 1000 uint32
ListPathRequest | limit 1000 int32; after 1001 string
ListPathResponse | truncated 1000 bool
PullPathRequest | offset 1000 int64; length 1001 int64
PushPathRequest.Header | mode 1000 uint32; mtime 1001 int64; size 1002 int64
PushPathRequest.Header | path_check 1003 bool; path_cid 1004 string
PushPathResponse.Event | rebased 1000 bool
PushPathsRequest.Header | modes 1000 repeated uint32; mtimes 1001 repeated int64
SetPathRequest | root 1000 string
SetPathResponse | root 1000 Root
MovePathRequest | root 1000 string
MovePathResponse | root 1000 Root
"""

EXTENSION_SERVICE = """
rpc Capabilities unary
rpc SetPathAttrs unary
rpc Symlink unary

CapabilitiesRequest |
CapabilitiesResponse | exact_sizes 1 bool; range_reads 2 bool; path_attrs 3 bool
CapabilitiesResponse | symlinks 4 bool; list_paging 5 bool; push_paths_attrs 6 bool
CapabilitiesResponse | path_check 7 bool
SetPathAttrsRequest | key 1 string; path 2 string; set_mode 3 bool; mode 4 uint32
SetPathAttrsRequest | set_mtime 5 bool; mtime 6 int64
SetPathAttrsResponse | root 1 api.bucketsd.pb.Root
SymlinkRequest | key 1 string; path 2 string; target 3 string; root 4 string
SymlinkResponse | root 1 api.bucketsd.pb.Root
"""

# The package that holds bucketfs-only messages and services.
EXTENSION_PACKAGE = "bucketfs.pb"
# Extension fields on upstream messages must use numbers at or above this.
EXTENSION_MIN_NUMBER = 1000


def build(blocks: list[tuple[str, str, str]]) -> Contract:
    """A Contract from ``(package, service, block)`` triples."""
    contract = Contract()
    for package, service, block in blocks:
        add_block(contract, package, service, block)
    return contract


def upstream() -> Contract:
    """The contract of WIRE.md as transcribed above (a fresh copy each call)."""
    return build(
        [
            ("crypto.pb", "", CRYPTO),
            ("threads.pb", "API", THREADS),
            ("threads.net.pb", "API", THREADS_NET),
            ("api.bucketsd.pb", "APIService", BUCKETS),
            ("api.hubd.pb", "APIService", HUB),
            ("api.usersd.pb", "APIService", USERS),
            ("api.billingd.pb", "", BILLING),
        ]
    )


def extensions() -> Contract:
    """The bucketfs extensions (a fresh copy each call)."""
    return build(
        [
            ("api.bucketsd.pb", "APIService", BUCKETS_EXTENSIONS),
            (EXTENSION_PACKAGE, "BucketsExtension", EXTENSION_SERVICE),
        ]
    )
