"""A browser against the hub: headless Chromium opens a page whose script (grpcweb_browser.js,
bundled with esbuild from the official ``@textile/hub`` SDK) pushes a file into a bucket over the
hub's gRPC-Web websockets and pulls it back, then asks for the bucket's links over gRPC-Web's
HTTP/1.1 transport (cross-origin, so through CORS), printing the outcome into the DOM. The page
itself is a public bucket served by the hub's gateway."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from grpcweb_cdp import Browser
from grpcweb_npm import install_script

from bucketfs.remote.session import HubConfig, HubSession
from bucketfs.testing.hubproc import HubProcess, free_tcp_port

PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>bucketfs grpc-web</title></head>'
    '<body><script src="page.js"></script></body></html>'
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page and its bundle (pushed into a public bucket and served by the hub's gateway)."""
    root = tmp_path_factory.mktemp("site")
    entry = install_script("grpcweb_browser.js")
    esbuild = entry.parent / "node_modules" / ".bin" / "esbuild"
    subprocess.run(
        [
            str(esbuild),
            str(entry),
            "--bundle",
            "--platform=browser",
            "--format=iife",
            f"--outfile={root / 'page.js'}",
            "--log-level=warning",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (root / "index.html").write_text(PAGE)
    return root


def publish(config: HubConfig, site: Path) -> str:
    """Push the page into a new public bucket; its gateway URL (``/ipns/<key>/``)."""

    async def main() -> str:
        async with await HubSession.connect(config) as session:
            thread = await session.threads.new_db("site")
            root = await session.buckets.create(thread, "site")
            for name in ("index.html", "page.js"):
                data = (site / name).read_bytes()

                async def chunks(data: bytes = data) -> AsyncIterator[bytes]:
                    yield data

                await session.buckets.push_path(thread, root.key, name, chunks)
            return root.key

    return trio.run(main)


def test_browser_pushes_and_pulls_a_file_with_the_sdk(site: Path) -> None:
    port, gateway = free_tcp_port(), free_tcp_port()
    extra = ("--grpc-web", f"127.0.0.1:{port}", "--gateway", f"127.0.0.1:{gateway}")
    with HubProcess(extra_args=extra) as hub:
        key, secret = hub.create_key(type="user")
        account = hub.create_key(type="account")
        bucket = publish(HubConfig(hub.address, *account, None), site)
        page = f"http://127.0.0.1:{gateway}/ipns/{bucket}/index.html"
        with urllib.request.urlopen(page, timeout=30) as reply:  # served as a page, not a file
            assert reply.headers["Content-Type"].startswith("text/html")
        query = urllib.parse.urlencode(
            {"url": f"http://127.0.0.1:{port}", "key": key, "secret": secret}
        )
        with Browser() as browser:
            text, errors = browser.result(
                f"{page}?{query}", "document.getElementById('result')?.textContent ?? null"
            )
        result = json.loads(text)
        assert result["ok"], (result, errors)
        assert result["sent"] == result["got"] == 300 * 1024
        assert "from-the-browser.bin" in result["names"]
        # the HTTP/1.1 transport (fetch, another origin than the page's: CORS) answers the same
        assert result["http"]["status"] == 0, (result["http"], errors)
        assert result["http"]["url"] == result["links"]["url"]
        assert result["http"]["ipns"] == result["links"]["ipns"]
        assert "Chrome" in result["userAgent"]
        assert not hub.log_errors(), hub.log_text()[-3000:]
