"""A headless Chromium driven over the DevTools protocol, just enough for the browser tests:
open a page, evaluate an expression until it yields a value, collect the page's errors.

Chromium (Debian's ``chromium``, installed by scripts/install) is required: when it is missing
:func:`chromium_binary` raises instead of letting the test skip.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

_LISTENING = re.compile(r"DevTools listening on (ws://[^\s]+)")


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found is not None:
            return found
    raise RuntimeError("chromium is required for the browser tests and is not on PATH")


class Browser:
    """``with Browser() as b: b.result(url, expression)``; the process ends on leaving."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="bucketfs-chromium-")
        self._stderr = Path(self._profile.name) / "stderr.log"
        with open(self._stderr, "w") as err:
            self.proc = subprocess.Popen(
                [
                    chromium_binary(),
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--remote-debugging-address=127.0.0.1",
                    "--remote-debugging-port=0",
                    f"--user-data-dir={self._profile.name}/profile",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.debugger = self._wait_listening(timeout)

    def _wait_listening(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(self._stderr.read_text(errors="replace"))
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"chromium did not start:\n{self.log()[-2000:]}")

    def log(self) -> str:
        return self._stderr.read_text(errors="replace")

    def result(self, url: str, expression: str, timeout: float = 120.0) -> tuple[Any, list[str]]:
        """Open ``url``, poll ``expression`` until it is not null; returns it and the page's
        exceptions and console errors, followed by all its console messages."""
        return asyncio.run(self._result(url, expression, timeout))

    async def _result(self, url: str, expression: str, timeout: float) -> tuple[Any, list[str]]:
        http = self.debugger.split("/devtools/")[0].replace("ws://", "http://")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{http}/json/list") as response:
                targets = await response.json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = _Session(ws)
                await cdp.call("Runtime.enable")
                await cdp.call("Page.navigate", url=url)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    reply = await cdp.call(
                        "Runtime.evaluate", expression=expression, returnByValue=True
                    )
                    value = reply.get("result", {}).get("value")
                    if value is not None:
                        return value, cdp.errors + cdp.console
                    await asyncio.sleep(0.5)
                raise TimeoutError(f"page gave no result in {timeout} s; errors: {cdp.errors}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Session:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.errors: list[str] = []
        self.console: list[str] = []
        self._next = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self.ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive()).data)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        params = message.get("params", {})
        if message.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(str(details.get("exception", {}).get("description", details)))
        elif message.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
            )
            if params.get("type") == "error":
                self.errors.append(text)
            self.console.append(text)
