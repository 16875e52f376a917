"""BucketsClient against a real hub subprocess (with the bucketfs extensions): every method,
streamed transfers, byte ranges, paging, the root check, errors, cancellation."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from bucketfs import errors
from bucketfs.auth.identity import Identity
from bucketfs.auth.tokencache import TokenCache
from bucketfs.remote.session import HubConfig, HubSession

EMPTY_DIR = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
DATA = hashlib.sha256(b"seed").digest() * 40_000  # 1.28 MB: several IPFS chunks


async def chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def run_with_bucket(config: HubConfig, body) -> Any:  # type: ignore[no-untyped-def]
    async def main() -> Any:
        async with await HubSession.connect(config) as session:
            thread = await session.threads.new_db()
            bucket = await session.buckets.create(thread, "photos")
            return await body(session, thread, bucket)

    return trio.run(main)


def test_bucket_lifecycle(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession, thread: str, bucket: Any) -> None:
        assert bucket.name == "photos" and bucket.thread == thread and not bucket.private
        assert bucket.path.startswith("/ipfs/") and bucket.cid == bucket.path[len("/ipfs/") :]
        assert await s.buckets.root(thread, bucket.key) == bucket
        private = await s.buckets.create(thread, "secret", private=True)
        assert private.private
        assert sorted(b.name for b in await s.buckets.list(thread)) == ["photos", "secret"]
        links = await s.buckets.links(thread, bucket.key)
        assert set(links) == {"url", "www", "ipns"} and bucket.key in links["ipns"]
        await s.buckets.remove(thread, private.key)
        assert [b.key for b in await s.buckets.list(thread)] == [bucket.key]
        with pytest.raises(errors.NotFound):
            await s.buckets.root(thread, private.key)

    run_with_bucket(account_config, body)


def test_push_list_pull(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession, thread: str, bucket: Any) -> None:
        caps = await s.buckets.capabilities()
        assert caps.exact_sizes and caps.range_reads and caps.list_paging
        pushed = await s.buckets.push_path(
            thread,
            bucket.key,
            "/a/big.bin",
            chunks(DATA),
            root=bucket.path,
            mode=0o100600,
            mtime=1_700_000_000_000_000_000,
        )
        assert pushed.root.path != bucket.path and pushed.dag_size > len(DATA)
        listing = await s.buckets.list_path(thread, bucket.key, "a")
        assert listing.item.is_dir and listing.root == pushed.root and not listing.truncated
        (entry,) = listing.children
        assert (entry.name, entry.cid, entry.file_size) == ("big.bin", pushed.cid, len(DATA))
        assert entry.mode == 0o100600 and entry.mtime == 1_700_000_000_000_000_000
        top = await s.buckets.list_path(thread, bucket.key, "")
        assert {c.name for c in top.children} == {".textileseed", "a"} and top.item.name == "photos"
        whole = b"".join([c async for c in s.buckets.pull_path(thread, bucket.key, "a/big.bin")])
        assert whole == DATA
        for offset, length in [(0, 10), (262_140, 10), (1_000_000, 0), (len(DATA) - 1, 5)]:
            part = [
                c
                async for c in s.buckets.pull_path(
                    thread, bucket.key, "a/big.bin", offset=offset, length=length
                )
            ]
            end = offset + length if length else len(DATA)
            assert b"".join(part) == DATA[offset:end]
        with pytest.raises(errors.IsADirectory):
            async for _ in s.buckets.pull_path(thread, bucket.key, "a"):
                pass
        with pytest.raises(errors.NotFound):
            await s.buckets.list_path(thread, bucket.key, "nope")
        with pytest.raises(errors.NotFound):
            async for _ in s.buckets.pull_path(thread, bucket.key, "a/nope"):
                pass

    run_with_bucket(account_config, body)


def test_root_check_and_retryable_push(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession, thread: str, bucket: Any) -> None:
        first = await s.buckets.push_path(thread, bucket.key, "f", chunks(b"one"), root=bucket.path)
        with pytest.raises(errors.Conflict):
            await s.buckets.push_path(thread, bucket.key, "f", chunks(b"two"), root=bucket.path)
        with pytest.raises(errors.Conflict):
            await s.buckets.remove_path(thread, bucket.key, "f", root=bucket.path)
        opened = 0

        def reopen() -> AsyncIterator[bytes]:
            nonlocal opened
            opened += 1
            return chunks(b"three")

        third = await s.buckets.push_path(thread, bucket.key, "f", reopen, root=first.root.cid)
        assert opened == 1
        got = b"".join([c async for c in s.buckets.pull_path(thread, bucket.key, "f")])
        assert got == b"three"
        root = await s.buckets.remove_path(thread, bucket.key, "f", root=third.root.path)
        assert root.path != third.root.path
        with pytest.raises(errors.NotFound):
            await s.buckets.list_path(thread, bucket.key, "f")

    run_with_bucket(account_config, body)


def test_push_paths_set_move(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession, thread: str, bucket: Any) -> None:
        files = [("d/x.txt", chunks(b"x" * 10)), ("d/y.txt", chunks(b"")), ("z.txt", chunks(DATA))]
        root = await s.buckets.push_paths(thread, bucket.key, files, root=bucket.path)
        assert root.path == (await s.buckets.root(thread, bucket.key)).path
        sizes = {
            c.name: c.file_size
            for c in (await s.buckets.list_path(thread, bucket.key, "d")).children
        }
        assert sizes == {"x.txt": 10, "y.txt": 0}
        await s.buckets.set_path(thread, bucket.key, "empty", EMPTY_DIR)
        empty = await s.buckets.list_path(thread, bucket.key, "empty")
        assert empty.item.is_dir and empty.children == []
        await s.buckets.move_path(thread, bucket.key, "z.txt", "empty/z.txt")
        moved = await s.buckets.list_path(thread, bucket.key, "empty")
        assert [(c.name, c.file_size) for c in moved.children] == [("z.txt", len(DATA))]
        with pytest.raises(errors.NotFound):
            await s.buckets.list_path(thread, bucket.key, "z.txt")

    run_with_bucket(account_config, body)


def test_extensions_attrs_symlink_paging(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession, thread: str, bucket: Any) -> None:
        names = [f"f{i:02d}" for i in range(7)]
        await s.buckets.push_paths(
            thread, bucket.key, [(f"dir/{n}", chunks(n.encode())) for n in names]
        )
        await s.buckets.set_path_attrs(thread, bucket.key, "dir/f00", mode=0o100755, mtime=42)
        (entry,) = [
            c
            for c in (await s.buckets.list_path(thread, bucket.key, "dir")).children
            if c.name == "f00"
        ]
        assert (entry.mode, entry.mtime) == (0o100755, 42)
        await s.buckets.set_path_attrs(thread, bucket.key, "dir/f00", mtime=43)  # mode kept
        (entry,) = [
            c
            for c in (await s.buckets.list_path(thread, bucket.key, "dir")).children
            if c.name == "f00"
        ]
        assert (entry.mode, entry.mtime) == (0o100755, 43)
        await s.buckets.symlink(thread, bucket.key, "dir/link", "f01")
        (link,) = [
            c
            for c in (await s.buckets.list_path(thread, bucket.key, "dir")).children
            if c.name == "link"
        ]
        assert link.symlink_target == "f01" and not link.is_dir
        seen, after = [], ""
        while True:
            page = await s.buckets.list_path(thread, bucket.key, "dir", limit=3, after=after)
            seen += [c.name for c in page.children]
            assert len(page.children) <= 3
            if not page.truncated:
                break
            after = page.children[-1].name
        assert seen == [*names, "link"]

    run_with_bucket(account_config, body)


def test_pull_cancel_and_source_failure(account_config) -> None:  # type: ignore[no-untyped-def]
    async def body(s: HubSession, thread: str, bucket: Any) -> None:
        big = DATA * 8  # 10 MB
        await s.buckets.push_path(thread, bucket.key, "big", chunks(big, 1 << 20))
        limiter = s.rpc.bridge.limiter
        async with s.buckets.pull_path(thread, bucket.key, "big") as stream:
            async for chunk in stream:
                assert chunk
                break
        with trio.move_on_after(0.01):
            async for _ in s.buckets.pull_path(thread, bucket.key, "big"):
                await trio.sleep(0.001)
        with trio.fail_after(5):
            while limiter.borrowed_tokens:
                await trio.sleep(0.02)
        before = await s.buckets.root(thread, bucket.key)

        async def broken() -> AsyncIterator[bytes]:
            yield b"x" * 1000
            raise OSError("disk read failed")

        with pytest.raises(OSError, match="disk read failed"):
            await s.buckets.push_path(thread, bucket.key, "partial", broken())
        assert (await s.buckets.root(thread, bucket.key)).path == before.path
        with pytest.raises(errors.NotFound):
            await s.buckets.list_path(thread, bucket.key, "partial")

    run_with_bucket(account_config, body)


def test_private_bucket_and_user_owner(hub, user_key, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With a user key the bucket belongs to the identity (token subject); a private bucket's
    files come back as plaintext."""
    identity = Identity.generate()
    config = HubConfig(hub.address, user_key[0], user_key[1], identity, TokenCache(tmp_path / "t"))

    async def main() -> None:
        async with await HubSession.connect(config) as s:
            thread = await s.threads.new_db("buckets")
            bucket = await s.buckets.create(thread, "secret", private=True)
            assert bucket.private and bucket.owner == str(identity.public_key)
            await s.buckets.push_path(thread, bucket.key, "doc.txt", chunks(DATA))
            (entry,) = [
                c
                for c in (await s.buckets.list_path(thread, bucket.key, "")).children
                if c.name == "doc.txt"
            ]
            assert entry.file_size == len(DATA)
            got = b"".join([c async for c in s.buckets.pull_path(thread, bucket.key, "doc.txt")])
            assert got == DATA
            part = [
                c
                async for c in s.buckets.pull_path(
                    thread, bucket.key, "doc.txt", offset=7, length=70_000
                )
            ]
            assert b"".join(part) == DATA[7:70_007]

    trio.run(main)


def test_many_concurrent_transfers_share_few_threads(hub, account_key) -> None:  # type: ignore[no-untyped-def]
    """Twelve pushes and twelve pulls at once over one session limited to 3 stream threads
    all complete with the right bytes (no deadlock between pumps, replies and the limiter)."""
    config = HubConfig(hub.address, account_key[0], account_key[1], None, max_threads=3)
    files = {
        f"f{i}": hashlib.sha256(str(i).encode()).digest() * (1000 * (i + 1)) for i in range(12)
    }

    async def main() -> None:
        async with await HubSession.connect(config) as s:
            thread = await s.threads.new_db()
            bucket = await s.buckets.create(thread, "busy")
            got: dict[str, bytes] = {}

            async def push(name: str) -> None:
                await s.buckets.push_path(thread, bucket.key, name, chunks(files[name], 10_000))

            async def pull(name: str) -> None:
                got[name] = b"".join(
                    [c async for c in s.buckets.pull_path(thread, bucket.key, name)]
                )

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for name in files:
                        nursery.start_soon(push, name)
                async with trio.open_nursery() as nursery:  # pulls mixed with more pushes
                    for name in files:
                        nursery.start_soon(pull, name)
                        nursery.start_soon(
                            s.buckets.push_path, thread, bucket.key, "g" + name, chunks(files[name])
                        )
            assert got == files
            names = {c.name for c in (await s.buckets.list_path(thread, bucket.key, "")).children}
            assert names >= {*files, *("g" + n for n in files)}

    trio.run(main)
