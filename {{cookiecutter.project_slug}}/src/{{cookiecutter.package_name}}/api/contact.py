"""/contact: a contact form that mails the site's owner, an example to copy.

`POST /contact` with `{"email": "...", "message": "..."}` sends one mail From
SMTP_FROM To SMTP_TO, its `Reply-To` the visitor's address: answering the mail
answers the visitor. 202 with the Message-ID once the SMTP server has accepted
it (it delivers it later). The visitor never chooses a recipient (that would
make this an open relay, sending anyone's spam), and what they send is checked
before it goes near a header: one plain address (no line break, comma or angle
bracket: no header injection), and a message of 1 to MAX_MESSAGE characters.
A public form also wants a rate limit or a CAPTCHA in front: not included.
"""

from __future__ import annotations

import logging
import re
from email.headerregistry import Address
from typing import Any

from ..clients.smtp import MAX_ADDRESS, SMTPClient, parse_address
from ..web import ApiError, JsonHandler, Routes, parse_json

log = logging.getLogger(__name__)
MAX_MESSAGE = 5000
FIELDS = {"email", "message"}
# Control characters but tab and newline (a message's line breaks become \n first).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visitor_address(body: dict[str, Any]) -> Address:
    raw = body.get("email")
    try:
        return parse_address(raw if isinstance(raw, str) else "")
    except ValueError:
        expected = f"one address, like name@example.com (at most {MAX_ADDRESS} characters)"
        raise ApiError(400, f"'email' must be {expected}") from None


def visitor_text(body: dict[str, Any]) -> str:
    raw = body.get("message")
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_MESSAGE:
        raise ApiError(400, f"'message' must be text of 1 to {MAX_MESSAGE} characters")
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if CONTROL.search(text):
        raise ApiError(400, "'message' must not contain control characters")
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \ud800 can carry
        raise ApiError(400, "'message' is not valid Unicode") from None
    return text


def contact_form(body: Any) -> tuple[Address, str]:
    """The visitor's address and message from the request's JSON; 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, 'the body must be a JSON object: {"email": ..., "message": ...}')
    unexpected = sorted(set(body) - FIELDS)
    if unexpected:
        names = ", ".join(repr(name) for name in unexpected)[:200]
        raise ApiError(400, f"unexpected fields: {names} (only 'email' and 'message')")
    return visitor_address(body), visitor_text(body)


class ContactHandler(JsonHandler):
    """Mails one message to the site's owner.

    Waits for the SMTP server to accept it (SMTP_TIMEOUT at most, a free
    connection included). A visitor who leaves meanwhile does not cancel it:
    a form submitted is a message sent.
    """

    def initialize(self, mailer: SMTPClient) -> None:  # type: ignore[override]  # its route's dict
        super().initialize()
        self.mailer = mailer

    async def post(self) -> None:
        reply_to, text = contact_form(parse_json(self.request.body or b"null"))
        message = self.mailer.new_message()
        message["Subject"] = f"Contact form: a message from {reply_to.addr_spec}"
        message["Reply-To"] = reply_to
        message.set_content(text)
        answer = await self.mailer.send(message)
        message_id = str(message["Message-ID"])
        log.info("contact message %s accepted: %s", message_id, answer)
        self.write_json(
            {
                "message_id": message_id,
                "subject": message["Subject"],
                "reply_to": reply_to.addr_spec,
            },
            status=202,
        )


def routes(mailer: SMTPClient) -> Routes:
    return [(r"/contact", ContactHandler, {"mailer": mailer})]
