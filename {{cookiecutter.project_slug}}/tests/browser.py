"""A headless Chromium driven over the DevTools protocol, for tests in a real browser.

Tornado's own WebSocket client speaks the protocol: no browser download, no
driver package. Chromium comes from the system (`apt-get install chromium`;
Chrome works too, or any binary named by the CHROMIUM variable).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from .support import IN_CI

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HOW_TO_INSTALL = "apt-get install chromium, or set CHROMIUM to a Chrome or Chromium binary"
# As root (in containers) Chromium's sandbox cannot start; off the network as a test needs it.
FLAGS = [
    "--headless=new",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--remote-debugging-port=0",
]


def find_browser() -> str | None:
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def require_browser() -> str:
    """The browser's path; skipped outside CI when there is none, failed in CI."""
    found = find_browser()
    if found is None:
        message = f"no Chromium to run this test in: {HOW_TO_INSTALL}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


class Browser:
    """One headless Chromium process and its DevTools connection."""

    def __init__(
        self, process: asyncio.subprocess.Process, connection: WebSocketClientConnection
    ) -> None:
        self.process = process
        self.connection = connection
        self.ids = itertools.count(1)
        self.answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.errors: list[str] = []  # script errors, refusals of the page's policy, failed loads
        self.reading = asyncio.ensure_future(self.read())
        # Chromium goes on writing to stderr: a pipe left full would stop it.
        self.draining = asyncio.ensure_future(drain(process))

    @classmethod
    async def launch(cls, path: str, profile: str) -> Browser:
        flags = [*FLAGS, "--no-sandbox"] if os.geteuid() == 0 else FLAGS
        process = await asyncio.create_subprocess_exec(
            path,
            *flags,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            url = await asyncio.wait_for(devtools_url(process), 30)
            connection = await websocket_connect(url, max_message_size=64 * 1024 * 1024)
        except BaseException:
            process.kill()
            await process.wait()
            raise
        return cls(process, connection)

    async def read(self) -> None:
        while (frame := await self.connection.read_message()) is not None:
            message = json.loads(frame)
            answer = self.answers.pop(message.get("id", 0), None)
            if answer is not None and not answer.done():
                answer.set_result(message)
            elif message.get("method") == "Log.entryAdded":
                entry = message["params"]["entry"]
                if entry["level"] == "error":
                    self.errors.append(f"{entry['source']}: {entry['text']}")
            elif message.get("method") == "Runtime.exceptionThrown":
                self.errors.append(message["params"]["exceptionDetails"]["text"])

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """One DevTools command; its result, or an AssertionError with the browser's error."""
        command_id = next(self.ids)
        command: dict[str, Any] = {"id": command_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        answer = self.answers[command_id] = asyncio.get_running_loop().create_future()
        await self.connection.write_message(json.dumps(command))
        message = await asyncio.wait_for(answer, 30)
        assert "error" not in message, f"{method}: {message['error']}"
        result: dict[str, Any] = message["result"]
        return result

    async def open(self, url: str) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        for domain in ("Log.enable", "Runtime.enable", "Page.enable"):
            await page.send(domain)
        await page.send("Page.navigate", {"url": url})
        loaded = f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        await page.wait_for(loaded)
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close"), 5)
        self.connection.close()
        for task in (self.reading, self.draining):
            task.cancel()
        await asyncio.gather(self.reading, self.draining, return_exceptions=True)
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class Page:
    """A tab, through its DevTools session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Evaluate `expression` until it is truthy; its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (value := await self.evaluate(expression)):
            assert asyncio.get_running_loop().time() < deadline, f"never true: {expression}"
            await asyncio.sleep(0.05)
        return value


async def devtools_url(process: asyncio.subprocess.Process) -> str:
    """Chromium prints where its DevTools listen on stderr, once it has started."""
    assert process.stderr is not None
    printed = []
    while line := await process.stderr.readline():
        text = line.decode(errors="replace")
        printed.append(text)
        found = re.search(r"DevTools listening on (ws://\S+)", text)
        if found:
            return found.group(1)
    raise AssertionError("Chromium exited before it listened:\n" + "".join(printed[-20:]))


async def drain(process: asyncio.subprocess.Process) -> None:
    assert process.stderr is not None
    while await process.stderr.read(65536):
        pass


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A browser for the length of a test (skipped or failed without one, see above)."""
    path = require_browser()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        browser = await Browser.launch(path, profile)
        try:
            yield browser
        finally:
            await browser.close()
