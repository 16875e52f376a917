"""A browser against the hub: headless Chromium opens a page whose script (grpcweb_browser.js,
bundled with esbuild from the official ``@textile/hub`` SDK) pushes a file into a bucket over the
hub's gRPC-Web websockets and pulls it back, then asks for the bucket's links over gRPC-Web's
HTTP/1.1 transport (cross-origin, so through CORS), printing the outcome into the DOM."""

from __future__ import annotations

import functools
import json
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from grpcweb_cdp import Browser
from grpcweb_npm import install_script

from bucketfs.testing.hubproc import HubProcess, free_tcp_port

PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>bucketfs grpc-web</title></head>'
    '<body><script src="page.js"></script></body></html>'
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page and its bundle on a local HTTP server (another origin than the hub's)."""
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
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_browser_pushes_and_pulls_a_file_with_the_sdk(site: str) -> None:
    port = free_tcp_port()
    with HubProcess(extra_args=("--grpc-web", f"127.0.0.1:{port}")) as hub:
        key, secret = hub.create_key(type="user")
        query = urllib.parse.urlencode(
            {"url": f"http://127.0.0.1:{port}", "key": key, "secret": secret}
        )
        with Browser() as browser:
            text, errors = browser.result(
                f"{site}?{query}", "document.getElementById('result')?.textContent ?? null"
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
