"""A real SMTP server (aiosmtpd) for the whole test session, on a free port.

It keeps each message it accepts in RECEIVED, for the tests to read what
arrived. On request it misbehaves, one way each: a recipient whose local part
is `refused` gets 550; a message whose text holds REFUSE gets 554, DEFER 451,
and STALL no answer for STALL_SECONDS. No test ever sends real mail: SMTP_URL
points here for the session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import os
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from .support import closed_port

REFUSE = "[test server: refuse]"
DEFER = "[test server: defer]"
STALL = "[test server: stall]"
STALL_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Received:
    """A message as the server got it: its envelope, and its parsed content."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        """The plain text, decoded, its line breaks \n as they were before the wire's \r\n."""
        body = self.message.get_body(("plain",))
        assert isinstance(body, EmailMessage)
        content = body.get_content()
        assert isinstance(content, str)
        return content.replace("\r\n", "\n")


RECEIVED: list[Received] = []


def received_with(token: str) -> list[Received]:
    """The messages whose text holds `token` (each test sends its own)."""
    return [mail for mail in RECEIVED if token in mail.text]


class Recorder:
    """aiosmtpd's handler: accepts, records, or misbehaves as the message asks."""

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's name for the hook)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused@"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802  (aiosmtpd's name for the hook)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.content, bytes)
        assert envelope.mail_from is not None
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        mail = Received(envelope.mail_from, list(envelope.rcpt_tos), message)
        if STALL in mail.text:
            await asyncio.sleep(STALL_SECONDS)
        if REFUSE in mail.text:
            return "554 5.7.1 Refused by the test server"
        if DEFER in mail.text:
            return "451 4.3.0 Try again later"
        RECEIVED.append(mail)
        return "250 2.0.0 OK: queued"


SERVERS: list[Controller] = []


def pytest_configure(config: pytest.Config) -> None:
    server = Controller(Recorder(), hostname="127.0.0.1", port=closed_port())
    server.start()  # in a thread of its own, with its own event loop
    SERVERS.append(server)
    os.environ["SMTP_URL"] = f"smtp://127.0.0.1:{server.port}"


def pytest_unconfigure(config: pytest.Config) -> None:
    while SERVERS:
        SERVERS.pop().stop()
