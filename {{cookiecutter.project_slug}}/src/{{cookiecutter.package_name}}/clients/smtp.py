"""Mail through aiosmtplib.

It replaces the tutorial's "smtp" gist (a snippet to copy: no releases, no
tests, nobody maintaining it): aiosmtplib is asyncio-native, maintained and
typed, with a timeout on every step, STARTTLS, implicit TLS and AUTH; the
standard library's smtplib would block the IOLoop.

Each send opens its own connection (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT,
DATA, QUIT) and closes it: nothing is held between sends for the server to time
out, and a failed send never leaves a half-used connection behind. At most
SMTP_MAX_CONNECTIONS sends run at once per process; one timer of SMTP_TIMEOUT
bounds each, its wait for a turn included.

The envelope comes from the settings only: whatever headers a message carries,
it goes from SMTP_FROM to SMTP_TO and nowhere else (no open relay).

- `smtp://host:port`: STARTTLS when the server offers it; with
  `user:password@` in the URL, STARTTLS is required, so the password never
  crosses the network in clear.
- `smtps://host:port`: TLS from the first byte (implicit TLS, port 465).
The server's certificate is verified either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import re
import socket
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from typing import ClassVar, Self
from urllib.parse import unquote, urlsplit

import aiosmtplib

from ..settings import SettingsError, read_number
from ..web import ApiError
from .base import BadAnswer, Client, ServiceTimeout, ServiceUnavailable, url_address

URL_VARIABLE = "SMTP_URL"
DEFAULT_URL = "smtp://127.0.0.1:1025"
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
# QUIT comes after the server has accepted the message: a courtesy, briefly waited for.
QUIT_TIMEOUT = 1.0

# An address as an HTML form's <input type="email"> takes it, its local part a
# dot-atom (RFC 5322): nothing a header could be broken with (no line break,
# comma, quote or angle bracket), and ASCII only (no SMTPUTF8 needed).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LOCAL = "(?=.{1,64}@)" + _ATOM + r"(?:\." + _ATOM + ")*"  # at most 64 characters
ADDRESS = re.compile(_LOCAL + "@" + _LABEL + r"(?:\." + _LABEL + ")*")
MAX_ADDRESS = 254
# `Display Name <address>` or a bare address, as SMTP_FROM and SMTP_TO are written.
MAILBOX = re.compile(r"(?:(?P<name>[^<>\"\r\n]*?)\s*<(?P<quoted>[^<>]*)>|(?P<bare>[^<>\s]*))")


def parse_address(text: str) -> Address:
    """One plain address (`name@example.com`) as a header takes it; ValueError otherwise."""
    if len(text) > MAX_ADDRESS or not ADDRESS.fullmatch(text):
        raise ValueError(f"not an e-mail address: {text[:MAX_ADDRESS]!r}")
    return Address(addr_spec=text)


def parse_mailbox(text: str) -> Address:
    """`Display Name <name@example.com>` or a bare address; ValueError otherwise."""
    found = MAILBOX.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"not an e-mail address: {text!r}")
    address = parse_address(found["quoted"] or found["bare"] or "")
    return Address(display_name=(found["name"] or "").strip(), addr_spec=address.addr_spec)


def valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in DEFAULT_PORTS and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, or out of range
        return False


def read_mailbox(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        parse_mailbox(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be an e-mail address, or Name <address>, got {raw!r}"
        ) from None
    return raw


@dataclasses.dataclass(frozen=True)
class SMTPSettings:
    url: str = DEFAULT_URL
    # The envelope and headers of every message: From SMTP_FROM, To SMTP_TO.
    sender: str = "noreply@example.com"
    recipient: str = "contact@example.com"
    # Each send, its wait for a free connection included (504 past it); each ping.
    timeout: float = 10.0
    max_connections: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        url = env.get(URL_VARIABLE) or cls.url
        if not valid_url(url):
            raise SettingsError(
                f"{URL_VARIABLE} must be an smtp:// or smtps:// URL "
                f"(smtp://user:password@host:port), got {url!r}"
            )
        return cls(
            url=url,
            sender=read_mailbox(env, "SMTP_FROM", cls.sender),
            recipient=read_mailbox(env, "SMTP_TO", cls.recipient),
            timeout=read_number(env, "SMTP_TIMEOUT", cls.timeout, float, 0.1, 600.0),
            max_connections=read_number(
                env, "SMTP_MAX_CONNECTIONS", cls.max_connections, int, 1, 10_000
            ),
        )

    @property
    def implicit_tls(self) -> bool:
        return urlsplit(self.url).scheme == "smtps"

    @property
    def username(self) -> str | None:
        user = urlsplit(self.url).username
        return unquote(user) if user else None

    @property
    def password(self) -> str | None:
        password = urlsplit(self.url).password
        return unquote(password) if password is not None else None

    @property
    def start_tls(self) -> bool | None:
        """aiosmtplib's `start_tls`: required with a password, else if offered (None)."""
        if self.implicit_tls:
            return False  # TLS already
        return True if self.username else None


class SMTPClient(Client):
    """Sends a message from SMTP_FROM to SMTP_TO, one connection per send."""

    name: ClassVar[str] = "smtp"
    label: ClassVar[str] = "SMTP"
    # Each check is a connection (and a login) the server logs: one every 30 s,
    # not 5. A send that finds the server gone marks it down at once anyway.
    check_every: ClassVar[float] = 30.0

    def __init__(self, settings: SMTPSettings) -> None:
        super().__init__(settings.timeout)
        self.settings = settings
        self._slots: asyncio.Semaphore | None = None
        self._connections: set[aiosmtplib.SMTP] = set()
        self._hostname: str | None = None  # ours, for EHLO

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(SMTPSettings.from_env(env))

    def address(self) -> tuple[str, int]:
        scheme = urlsplit(self.settings.url).scheme
        return url_address(self.settings.url, DEFAULT_PORTS.get(scheme, 25))

    async def open(self) -> None:
        self._slots = asyncio.Semaphore(self.settings.max_connections)
        self._hostname = await local_hostname(self.settings.timeout)

    async def release(self) -> None:
        """Close the connections of sends still in progress (they answer 503)."""
        for connection in list(self._connections):
            connection.close()
        self._connections.clear()

    async def ping(self) -> None:
        """Connect as a send would (TLS, login), then NOOP: the server takes mail."""
        connection = self._connection(self.settings.timeout)
        try:
            await connection.connect()
            await connection.noop()
            await quit_politely(connection)
        finally:
            connection.close()

    def new_message(self) -> EmailMessage:
        """A message From SMTP_FROM To SMTP_TO, dated, with its Message-ID.

        Add a Subject and content, then `send` it.
        """
        sender = parse_mailbox(self.settings.sender)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = parse_mailbox(self.settings.recipient)
        message["Date"] = email.utils.formatdate(localtime=True)
        message["Message-ID"] = email.utils.make_msgid(domain=sender.domain)
        return message

    async def send(self, message: EmailMessage, timeout: float | None = None) -> str:
        """Hand `message` to the server, From SMTP_FROM To SMTP_TO; the server's reply.

        The reply is the text of its 250, e.g. `2.0.0 Ok: queued as 4Bx7`: worth logging.

        Within `timeout` seconds (SMTP_TIMEOUT by default), the wait for a free
        connection included. Its failures as HTTP answers: the server down or
        gone, no free connection in time, or a temporary refusal (4xx), 503;
        a refusal (5xx), 502 quoting it; too slow, 504 (if the server had the
        whole message by then, it may still deliver it).
        """
        self.require_up()
        if self._slots is None:
            raise ServiceUnavailable(self.label, "not started")
        limit = timeout or self.settings.timeout
        deadline = asyncio.get_running_loop().time() + limit
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            busy = f"all {self.settings.max_connections} connections are busy"
            raise ServiceUnavailable(self.label, f"{busy} (SMTP_MAX_CONNECTIONS)", 1) from None
        try:
            return await self._transmit(message, deadline, limit)
        finally:
            self._slots.release()

    async def _transmit(self, message: EmailMessage, deadline: float, limit: float) -> str:
        connection = self._connection(limit)
        self._connections.add(connection)
        connected = False
        try:
            async with asyncio.timeout_at(deadline):
                await connection.connect()
                connected = True
                _, reply = await connection.send_message(
                    message,
                    sender=parse_mailbox(self.settings.sender).addr_spec,
                    recipients=[parse_mailbox(self.settings.recipient).addr_spec],
                )
            await quit_politely(connection)
            return reply
        except TimeoutError:  # aiosmtplib's own timeouts are TimeoutErrors too
            if not connected:  # the greeting, TLS or login took it all: as good as down
                self.lost(TimeoutError(f"could not connect within {limit:g} s"))
            raise ServiceTimeout(self.label, limit) from None
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise self.refused(error.recipients[0]) from None
        except aiosmtplib.SMTPResponseException as error:
            raise self.refused(error) from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, OSError) as error:
            raise self.lost(error) from error
        except aiosmtplib.SMTPException as error:  # e.g. STARTTLS required but not offered
            raise BadAnswer(self.label, error.message) from None
        finally:
            connection.close()
            self._connections.discard(connection)

    def refused(self, error: aiosmtplib.SMTPResponseException) -> ApiError:
        """The server said no: for now (4xx), 503; for good (5xx), 502. Both quote it."""
        said = f"{error.code} {error.message}"
        if 400 <= error.code < 500:
            return ServiceUnavailable(self.label, f"it asks to try again later: {said}")
        return BadAnswer(self.label, f"it refused: {said}")

    def _connection(self, timeout: float) -> aiosmtplib.SMTP:
        settings = self.settings
        return aiosmtplib.SMTP(
            hostname=urlsplit(settings.url).hostname,
            port=self.address()[1],
            username=settings.username,
            password=settings.password,
            use_tls=settings.implicit_tls,
            start_tls=settings.start_tls,
            timeout=timeout,  # each step; the caller's timer bounds the whole
            local_hostname=self._hostname,
        )


async def quit_politely(connection: aiosmtplib.SMTP) -> None:
    """QUIT, as the protocol asks; a server that does not answer it changes nothing."""
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await connection.quit(timeout=QUIT_TIMEOUT)


async def local_hostname(timeout: float) -> str:
    """This host's name for EHLO, found once: `socket.getfqdn` may ask DNS, slowly."""
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(socket.getfqdn)
    except TimeoutError:
        return socket.gethostname()
