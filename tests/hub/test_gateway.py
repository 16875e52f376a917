"""The HTTP gateway against a real hub process: content types, directory links, ranges, HEAD,
ETag/304, Cache-Control, trustless raw/CAR responses, /health, the Textile thread routes and
private links made with an account key."""

from __future__ import annotations

import http.client
import json
import random
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import pytest
from conftest import gateway_hub
from gatewaylib import crawl, dfs_order, fetch, follow, links_of, read_car
from test_buckets_api import Buckets, rpc_error

from bucketfs.ipfs import multibase
from bucketfs.ipfs.cid import CID
from bucketfs.proto import bucketsd_pb2 as pb
from bucketfs.proto import threads_pb2
from bucketfs.testing.hubproc import HubProcess

if TYPE_CHECKING:
    from conftest import Client, HubClients

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
IMMUTABLE = "public, max-age=29030400, immutable"


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    with gateway_hub() as proc:
        yield proc


@pytest.fixture
def gw(hub: HubProcess) -> str:
    return str(hub.gateway)  # type: ignore[attr-defined]


@pytest.fixture
def b(alice: Client) -> Buckets:
    return Buckets(alice)


def _bucket_url(b: Buckets, key: str, path: str = "") -> str:
    return b.api.Links(pb.LinksRequest(key=key, path=path), metadata=b.md()).url


def test_health(gw: str) -> None:
    assert fetch(gw, "/health").status == 204


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("index.html", b"<h1>hi</h1>", "text/html"),
        ("app.js", b"console.log(1)", "text/javascript"),
        ("data.json", b'{"a": 1}', "application/json"),
        ("pic.png", PNG, "image/png"),
        ("notes.txt", b"hello", "text/plain"),
        ("style.css", b"a{}", "text/css"),
        ("noext-png", PNG, "image/png"),
        ("noext-html", b"<!doctype html><p>x", "text/html"),
        ("noext-text", "plain words, ünïcode\n".encode(), "text/plain"),
        ("noext-bin", bytes(range(256)), "application/octet-stream"),
    ],
)
def test_content_type(b: Buckets, gw: str, name: str, data: bytes, expected: str) -> None:
    key = b.create().root.key
    b.push(key, f"d/{name}", data)
    item = b.ls(key, f"d/{name}").item
    for url in (_bucket_url(b, key, f"d/{name}"), f"/ipfs/{item.cid}", f"/ipns/{key}/d/{name}"):
        resp = fetch(gw, url)
        if url.startswith("/ipfs/") and "." in name:
            continue  # a bare CID has no file name to take an extension from
        assert resp.status == 200 and resp.body == data, url
        assert resp.header("Content-Type").split(";")[0] == expected, url


def _random_tree(rng: random.Random) -> dict[str, bytes]:
    names = ["a", "b c", "ü.txt", "x#y", "q?z", "100%", "index.htm", "dir.d", "'quote'", "&amp"]
    files: dict[str, bytes] = {}
    for _ in range(12):
        depth = rng.randint(1, 3)
        parts = [rng.choice(names) + str(rng.randint(0, 2)) for _ in range(depth)]
        path = "/".join(parts)
        if any(p == path or p.startswith(path + "/") or path.startswith(p + "/") for p in files):
            continue
        files[path] = rng.randbytes(rng.randint(0, 3000))
    return files


@pytest.mark.parametrize("seed", range(3))
def test_directory_listing_links_all_work(b: Buckets, gw: str, seed: int) -> None:
    """Crawling the HTML listings from the Links URL (no trailing slash) reaches every file by
    absolute links, each answering its bytes; the same from /ipfs/<root> and /ipns/<key>."""
    files = _random_tree(random.Random(seed))
    key = b.create().root.key
    for path, data in files.items():
        b.push(key, path, data)
    root = b.root(key).path
    url = _bucket_url(b, key)
    assert not url.endswith("/")
    redirect = fetch(gw, url)
    assert redirect.status == 301
    assert redirect.header("Location") == urllib.parse.urlsplit(url).path + "/"
    for start, prefix in (
        (url, urllib.parse.urlsplit(url).path),
        (root, root),
        (f"/ipns/{key}", f"/ipns/{key}"),
    ):
        found = crawl(gw, start)
        expected = {f"{prefix}/{p}": d for p, d in files.items()}
        expected[f"{prefix}/.textileseed"] = b.pull(key, ".textileseed")
        assert found == expected


def test_directory_url_from_links_works(b: Buckets, gw: str) -> None:
    key = b.create().root.key
    b.push(key, "sub/dir/f.txt", b"x")
    url = _bucket_url(b, key, "sub/dir")
    resp = follow(gw, url)
    assert resp.status == 200
    assert links_of(resp.body) == [
        urllib.parse.urlsplit(url).path.rsplit("/", 1)[0] + "/",
        urllib.parse.urlsplit(url).path + "/f.txt",
    ]


def test_directory_index_html_is_served(b: Buckets, gw: str) -> None:
    key = b.create().root.key
    b.push(key, "site/index.html", b"<p>home</p>")
    resp = follow(gw, f"/ipns/{key}/site")
    assert resp.status == 200 and resp.body == b"<p>home</p>"
    assert resp.header("Content-Type").startswith("text/html")


@pytest.mark.parametrize("size", [0, 1, 100, 700_000])
def test_ranges(b: Buckets, gw: str, size: int) -> None:
    """Random single ranges: 206 with exactly those bytes, 416 ``bytes */LEN`` past the end, the
    whole file for invalid, unparseable and multiple ranges."""
    rng = random.Random(size)
    data = rng.randbytes(size)
    key = b.create().root.key
    b.push(key, "f.bin", data)
    url = f"/ipns/{key}/f.bin"
    for _ in range(25):
        first = rng.randint(0, size + 5)
        last = rng.choice([first + rng.randint(0, 1000), first - rng.randint(1, 5), None])
        spec = f"bytes={first}-{'' if last is None else last}"
        resp = fetch(gw, url, Range=spec)
        if last is not None and last < first:
            assert (resp.status, resp.body) == (200, data), spec
        elif first >= size:
            assert resp.status == 416, spec
            assert resp.header("Content-Range") == f"bytes */{size}"
        else:
            stop = size if last is None else min(size, last + 1)
            assert resp.status == 206, spec
            assert resp.body == data[first:stop]
            assert resp.header("Content-Range") == f"bytes {first}-{stop - 1}/{size}"
            assert resp.header("Content-Length") == str(stop - first)
    for suffix in (1, 10, size, size + 10):
        resp = fetch(gw, url, Range=f"bytes=-{suffix}")
        if size == 0:
            assert resp.status == 416
        else:
            assert (resp.status, resp.body) == (206, data[-suffix:])
    for bad in ("bytes=abc", "bytes=5", "items=0-1", "bytes=0-1,3-4", "bytes=--1"):
        resp = fetch(gw, url, Range=bad)
        assert (resp.status, resp.body) == (200, data), bad


def test_head_matches_get(b: Buckets, gw: str) -> None:
    key = b.create().root.key
    b.push(key, "d/page.html", b"<p>" * 1000)
    for path in ("d/page.html", "d/"):
        got = fetch(gw, f"/ipns/{key}/{path}")
        head = fetch(gw, f"/ipns/{key}/{path}", method="HEAD")
        assert head.status == got.status == 200 and head.body == b""
        for name in ("Content-Type", "Content-Length", "ETag", "Cache-Control"):
            assert head.header(name) == got.header(name), name
        assert int(head.header("Content-Length")) == len(got.body)


def test_etag_is_the_cid_and_if_none_match(b: Buckets, gw: str) -> None:
    key = b.create().root.key
    b.push(key, "f.txt", b"v1")
    cid = b.ls(key, "f.txt").item.cid
    for url in (f"/ipns/{key}/f.txt", f"/ipfs/{cid}"):
        resp = fetch(gw, url)
        assert resp.header("ETag") == f'"{cid}"'
        again = fetch(gw, url, If_None_Match=f'"{cid}"')
        assert (again.status, again.body) == (304, b"")
        assert fetch(gw, url, If_None_Match='"other"').status == 200
    assert fetch(gw, f"/ipfs/{cid}").header("Cache-Control") == IMMUTABLE
    assert "immutable" not in fetch(gw, f"/ipns/{key}/f.txt").header("Cache-Control")
    b.push(key, "f.txt", b"v2")
    assert fetch(gw, f"/ipns/{key}/f.txt", If_None_Match=f'"{cid}"').status == 200


# -- trustless ---------------------------------------------------------------------------------


def _tree_bucket(b: Buckets, size: int = 700_000) -> tuple[str, str, bytes]:
    key = b.create().root.key
    data = random.Random(1).randbytes(size)
    b.push(key, "a/b/big.bin", data)
    b.push(key, "a/small.txt", b"small")
    return key, b.root(key).path.removeprefix("/ipfs/"), data


def test_raw_blocks_verify(b: Buckets, gw: str) -> None:
    _key, root, _ = _tree_bucket(b)
    for how in ({"format": "raw"}, {}):
        headers = {} if how else {"Accept": "application/vnd.ipld.raw"}
        query = "?format=raw" if how else ""
        resp = fetch(gw, f"/ipfs/{root}{query}", **headers)
        assert resp.status == 200
        assert resp.header("Content-Type") == "application/vnd.ipld.raw"
        assert CID.parse(root).verify(resp.body)
        assert resp.header("ETag") == f'"{root}.raw"'
    probe = fetch(gw, "/ipfs/bafkqaaa?format=raw")
    assert (probe.status, probe.body) == (200, b"")
    missing = CID.for_data(b"never stored")
    assert fetch(gw, f"/ipfs/{missing}?format=raw").status == 404


@pytest.mark.parametrize("how", ["query", "accept"])
def test_car_whole_dag_in_dfs_order(b: Buckets, gw: str, how: str) -> None:
    _key, root, data = _tree_bucket(b)
    kwargs = {"Accept": "application/vnd.ipld.car"} if how == "accept" else {}
    url = f"/ipfs/{root}" + ("?format=car" if how == "query" else "")
    resp = fetch(gw, url, **kwargs)
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    header, blocks = read_car(resp.body)
    assert header == {"version": 1, "roots": [CID.parse(root)]}
    assert all(cid.verify(block) for cid, block in blocks)
    cids = [cid for cid, _ in blocks]
    assert len(set(cids)) == len(cids)
    assert cids == list(dfs_order(dict(blocks), CID.parse(root)))
    raw_leaves = [blk for cid, blk in blocks if cid.codec == 0x55]
    assert b"".join(raw_leaves).find(data[:1000]) >= 0


def test_car_path_and_scopes(b: Buckets, gw: str) -> None:
    key, root, _data = _tree_bucket(b)
    root_cid = CID.parse(root)
    items = {p: CID.parse(b.ls(key, p).item.cid) for p in ("a", "a/b", "a/b/big.bin")}
    big = items["a/b/big.bin"]

    def car(path: str, **params: str) -> list[CID]:
        query = urllib.parse.urlencode({"format": "car", **params})
        resp = fetch(gw, f"/ipfs/{root}/{path}?{query}")
        assert resp.status == 200, resp.body
        header, blocks = read_car(resp.body)
        assert header["roots"] == [root_cid]
        assert all(cid.verify(block) for cid, block in blocks)
        return [cid for cid, _ in blocks]

    path_blocks = [root_cid, items["a"], items["a/b"]]
    whole = car("a/b/big.bin")
    assert whole[:4] == [*path_blocks, big] and len(whole) > 5
    assert car("a/b/big.bin", **{"dag-scope": "block"}) == [*path_blocks, big]
    assert car("a/b/big.bin", **{"dag-scope": "entity"}) == whole
    assert car("a", **{"dag-scope": "entity"}) == [root_cid, items["a"]]
    ranged = car("a/b/big.bin", **{"entity-bytes": "0:10"})
    assert ranged[:4] == [*path_blocks, big] and len(ranged) == 5
    assert fetch(gw, f"/ipfs/{root}/nope?format=car").status == 404
    assert fetch(gw, f"/ipfs/{root}?format=car&dag-scope=wrong").status == 400
    assert fetch(gw, f"/ipfs/{root}?format=tar").status == 400
    probe = fetch(gw, "/ipfs/bafkqaaa?format=car")
    assert read_car(probe.body) == ({"version": 1, "roots": [CID.parse("bafkqaaa")]}, [])


# -- Textile routes ----------------------------------------------------------------------------


def test_thread_bucket_list_and_instances(b: Buckets, gw: str) -> None:
    one = b.create("one").root.key
    b.push(one, "f.txt", b"1")
    secret = b.create("secret", private=True).root.key
    page = fetch(gw, f"/thread/{b.thread}/buckets")
    assert page.status == 200 and page.header("Content-Type").startswith("text/html")
    hrefs = links_of(page.body)
    assert hrefs == [f"/thread/{b.thread}/buckets/{one}/"]  # anonymous: public buckets only
    assert follow(gw, hrefs[0]).status == 200
    listed = json.loads(fetch(gw, f"/thread/{b.thread}/buckets?json=true").body)
    assert [d["_id"] for d in listed] == [one]
    doc = json.loads(fetch(gw, f"/thread/{b.thread}/buckets/{one}?json=true").body)
    assert doc["_id"] == one and doc["name"] == "one"
    assert fetch(gw, f"/thread/{b.thread}/buckets/{secret}?json=true").status == 403
    assert fetch(gw, f"/thread/{b.thread}/buckets/{one}/f.txt?json=true").status == 404
    assert fetch(gw, "/thread/not-a-thread/buckets").status == 400


def test_thread_collection_json_needs_the_owner_token(clients: HubClients, gw: str) -> None:
    user = clients.user()
    db = user.new_db()
    made = user.threads.Create(
        threads_pb2.CreateRequest(
            dbID=db.bytes, collectionName="things", instances=[b'{"name": "milk"}']
        ),
        metadata=user.md(),
    )
    iid = made.instanceIDs[0]
    token = urllib.parse.quote(user.token)
    assert fetch(gw, f"/thread/{db}/things").status == 403
    other = clients.user()
    assert fetch(gw, f"/thread/{db}/things?token={urllib.parse.quote(other.token)}").status == 403
    listed = fetch(gw, f"/thread/{db}/things?token={token}")
    assert listed.status == 200 and listed.header("Content-Type") == "application/json"
    assert [d["name"] for d in json.loads(listed.body)] == ["milk"]
    one = json.loads(fetch(gw, f"/thread/{db}/things/{iid}?token={token}").body)
    assert (one["_id"], one["name"]) == (iid, "milk")
    assert fetch(gw, f"/thread/{db}/things/nope?token={token}").status == 404
    assert fetch(gw, f"/thread/{db}/nothing?token={token}").status == 404


def test_private_links_of_an_account_key_work(b: Buckets, gw: str) -> None:
    """An account key has no user token: Links still carries ?token= and the gateway accepts it
    (files, directories and the listing's links); without the token it is refused."""
    key = b.create("p", private=True).root.key
    b.push(key, "dir/s.txt", b"secret")
    url = _bucket_url(b, key, "dir/s.txt")
    assert "?token=" in url
    resp = fetch(gw, url)
    assert (resp.status, resp.body) == (200, b"secret")
    assert fetch(gw, url.split("?")[0]).status == 403
    listing = follow(gw, _bucket_url(b, key, "dir"))
    assert listing.status == 200
    child = [h for h in links_of(listing.body) if "s.txt" in h]
    assert child and "?token=" in child[0]
    assert fetch(gw, child[0]).body == b"secret"
    assert fetch(gw, url).header("Cache-Control") == "private, no-cache"


@pytest.mark.parametrize("kind", ["account", "user"])
def test_link_tokens_open_links_only(clients: HubClients, gw: str, kind: str) -> None:
    """The token in a private link is no API credential: paired with a user API key it is
    refused (else a shared link plus any user key would act as the owner), for links made with
    an account key and with a user key (whose own token stays out of the link); at the gateway
    it opens that bucket only, not the owner's other buckets nor the thread's collections."""
    owner = clients.account() if kind == "account" else clients.user()
    owner.db = owner.new_db()
    b = Buckets(owner)
    key = b.create("p", private=True).root.key
    b.push(key, "f", b"mine")
    url = _bucket_url(b, key, "f")
    minted = urllib.parse.unquote(url.split("?token=", 1)[1])
    assert minted != owner.token
    assert fetch(gw, url).body == b"mine"
    thief = clients.user()
    thief.token = minted
    stub = Buckets(thief, b.thread)
    err = rpc_error(stub.api.ListPath, pb.ListPathRequest(key=key), metadata=stub.md())
    assert (err.code(), err.details()) == (grpc.StatusCode.UNKNOWN, "invalid thread token")
    other = b.create("q", private=True).root.key
    b.push(other, "f", b"other")
    scoped = f"?token={urllib.parse.quote(minted)}"
    assert fetch(gw, f"/ipns/{other}/f{scoped}").status == 403  # one bucket per link token
    assert fetch(gw, f"/thread/{b.thread}/things{scoped}").status == 403
    user_token = f"?token={urllib.parse.quote(owner.token)}"
    if kind == "user":  # upstream-style links with the user's own token still open
        assert fetch(gw, url.split("?")[0] + user_token).body == b"mine"


def test_trustless_from_a_bucket_route(b: Buckets, gw: str) -> None:
    """``/ipns/<key>/path?format=car`` is the CAR of ``/ipfs/<current root>/path``; a private
    bucket's blocks are ciphertext, so it gets no trustless response."""
    key, root, _ = _tree_bucket(b, size=1000)
    via_key = fetch(gw, f"/ipns/{key}/a?format=car")
    via_cid = fetch(gw, f"/ipfs/{root}/a?format=car")
    assert via_key.status == 200 and via_key.body == via_cid.body
    assert "immutable" not in via_key.header("Cache-Control")
    private = b.create("p", private=True).root.key
    assert fetch(gw, f"/ipns/{private}?format=car").status == 403  # anonymous: no role
    url = _bucket_url(b, private)
    assert fetch(gw, url + "&format=raw").status == 400


def test_a_block_lost_mid_stream_cuts_the_response(b: Buckets, gw: str, hub: HubProcess) -> None:
    """Headers are out when a later block turns out missing: the connection is closed (the
    client sees a short body), never an error page spliced into the file."""
    key = b.create().root.key
    data = random.Random(3).randbytes(600_000)
    b.push(key, "f.bin", data)
    cid = CID.parse(b.ls(key, "f.bin").item.cid)
    _, blocks = read_car(fetch(gw, f"/ipfs/{cid}?format=car").body)
    last_leaf = blocks[-1][0]
    name = multibase.b32encode(last_leaf.multihash)
    victims = [p for p in (hub.data_dir / "blocks").rglob(name) if p.is_file()]
    assert len(victims) == 1
    victims[0].unlink()
    with pytest.raises(http.client.IncompleteRead):
        fetch(gw, f"/ipns/{key}/f.bin")
    assert fetch(gw, "/health").status == 204
