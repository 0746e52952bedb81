"""The live page in a real browser: a notify appears on it, and its form notifies."""

from __future__ import annotations

import json

from tornado.testing import gen_test

from .browser import chromium
from .push_contract import PushTestCase


def compact(message: dict[str, str]) -> str:
    """A message as the page shows it (JavaScript's JSON.stringify)."""
    return json.dumps(message, separators=(",", ":"))


class LivePageTest(PushTestCase):
    @gen_test(timeout=90)
    async def test_a_notify_appears_on_the_page_and_the_form_sends_one(self) -> None:
        async with chromium() as browser:
            page = await browser.open(self.get_url("/live/?channel=browser"))
            await page.wait_for("document.getElementById('status')?.textContent === 'connected'")
            await self.until_subscribers(1)

            event_id = await self.notify("browser", {"text": "hello from the test"})
            line = f"document.querySelector('#events li[data-id=\"{event_id}\"]')?.textContent"
            assert await page.wait_for(line) == compact({"text": "hello from the test"})

            await page.evaluate(
                "document.getElementById('text').value = 'typed in the page';"
                "document.getElementById('send').requestSubmit()"
            )
            typed = json.dumps(compact({"text": "typed in the page"}))  # as a JavaScript string
            lines = "[...document.querySelectorAll('#events li')]"
            await page.wait_for(f"{lines}.some(li => li.textContent === {typed})")
            assert browser.errors == []  # no script error, nothing the page's policy refused
