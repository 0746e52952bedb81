"""The SMTP client and /contact against a real SMTP server (fixtures_smtp.py), and without it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
import uuid
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse
from tornado.testing import gen_test

from {{ cookiecutter.package_name }}.app import ServiceApp, make_app
from {{ cookiecutter.package_name }}.clients import BadAnswer, ServiceTimeout, ServiceUnavailable
from {{ cookiecutter.package_name }}.clients.smtp import SMTPClient, SMTPSettings
from {{ cookiecutter.package_name }}.settings import SettingsError
from {{ cookiecutter.package_name }}.web import ApiError

from .fixtures_smtp import DEFER, REFUSE, STALL, received_with
from .support import (
    AppTestCase,
    ProxiedAppTestCase,
    body,
    closed_port,
    started,
    until_available,
)


def smtp_client(**changes: Any) -> SMTPClient:
    """A client of the test server, with `changes` to its settings."""
    return SMTPClient(dataclasses.replace(SMTPSettings.from_env(os.environ), **changes))


def unique() -> str:
    """A token to find this test's message by: the session's server is shared."""
    return f"test-{uuid.uuid4().hex}"


async def send(client: SMTPClient, text: str, timeout: float | None = None) -> str:
    message = client.new_message()
    message["Subject"] = "A test"
    message.set_content(text)
    return await client.send(message, timeout)


async def send_error(
    client: SMTPClient, text: str, *, up: bool = False
) -> tuple[ApiError, float, str]:
    """What sending `text` raises, how long it took, and the client's health after.

    `up`: the server runs; wait until the client has seen it answer a ping.
    """
    async with started(client):
        if up:
            await until_available([client])
        begun = time.monotonic()
        with pytest.raises(ApiError) as raised:
            await send(client, text)
        return raised.value, time.monotonic() - begun, client.health()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMTP_URL": "http://mail.example.com"}, "SMTP_URL must be an smtp:// or smtps:// URL"),
        ({"SMTP_URL": "smtp://mail.example.com:port"}, "SMTP_URL must be an smtp://"),
        ({"SMTP_FROM": "nobody"}, "SMTP_FROM must be an e-mail address"),
        ({"SMTP_TO": "a@example.com, b@example.com"}, "SMTP_TO must be an e-mail address"),
        ({"SMTP_TO": "a@example.com\r\nBcc: b@example.com"}, "SMTP_TO must be an e-mail"),
        ({"SMTP_TIMEOUT": "soon"}, "SMTP_TIMEOUT must be a number"),
        ({"SMTP_MAX_CONNECTIONS": "0"}, "SMTP_MAX_CONNECTIONS must be between 1 and"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        SMTPSettings.from_env(env)


def test_the_url_says_where_how_and_as_whom() -> None:
    implicit = SMTPClient.from_env({"SMTP_URL": "smtps://me:p%40ss@mail.example.com"})
    assert implicit.address() == ("mail.example.com", 465)
    settings = implicit.settings
    assert (settings.implicit_tls, settings.start_tls) == (True, False)
    assert (settings.username, settings.password) == ("me", "p@ss")
    with_password = SMTPSettings.from_env({"SMTP_URL": "smtp://me:secret@mail.example.com:587"})
    assert (with_password.implicit_tls, with_password.start_tls) == (False, True)  # required
    plain = SMTPClient.from_env({"SMTP_URL": "smtp://mail.example.com"})
    assert plain.address() == ("mail.example.com", 25)
    assert (plain.settings.start_tls, plain.settings.username) == (None, None)  # if offered


def test_a_message_arrives_from_and_to_the_configured_addresses_only() -> None:
    token = unique()

    async def scenario() -> str:
        client = smtp_client(sender="Shop <shop@example.com>")
        async with started(client):
            message = client.new_message()
            message["Subject"] = "Grüße"
            message["Cc"] = "someone-else@example.org"  # a header: not the envelope
            message.set_content(f"Hello {token}\nGrüße ✓\n")
            return await client.send(message)

    answer = asyncio.run(scenario())
    assert answer.startswith("2.0.0 OK")
    [mail] = received_with(token)
    settings = SMTPSettings.from_env(os.environ)
    assert (mail.sender, mail.recipients) == ("shop@example.com", [settings.recipient])
    assert mail.message["From"] == "Shop <shop@example.com>"
    assert mail.message["To"] == settings.recipient
    assert mail.message["Subject"] == "Grüße"
    assert mail.message["Message-ID"].endswith("@example.com>")
    assert mail.message["Date"]
    assert mail.text == f"Hello {token}\nGrüße ✓\n"


def test_a_refused_recipient_is_a_502_quoting_the_server() -> None:
    error, _, health = asyncio.run(send_error(smtp_client(recipient="refused@example.com"), "Hi"))
    assert isinstance(error, BadAnswer)
    assert error.message == "SMTP answered badly: it refused: 550 5.1.1 No such mailbox here"
    assert health == "up"  # a refusal is no outage


def test_a_message_deferred_by_the_server_is_a_503_to_retry() -> None:
    error, _, health = asyncio.run(send_error(smtp_client(), f"{DEFER} {unique()}"))
    assert isinstance(error, ServiceUnavailable)
    later = "it asks to try again later: 451 4.3.0 Try again later"
    assert error.message == f"SMTP unavailable: {later}"
    assert error.headers["Retry-After"]
    assert health == "up"


def test_a_server_slower_than_the_timeout_is_a_504() -> None:
    client = smtp_client(timeout=0.5)
    error, took, health = asyncio.run(send_error(client, f"{STALL} {unique()}", up=True))
    assert isinstance(error, ServiceTimeout)
    assert error.message == "SMTP did not answer within 0.5 s"
    assert took < 2.5  # the server stalls 5 s
    assert health == "up"  # it answered the connection: slow, not down


def test_past_the_connections_a_send_gets_503_naming_the_setting() -> None:
    async def scenario() -> None:
        client = smtp_client(max_connections=1, timeout=0.5)
        async with started(client):
            await until_available([client])  # a first ping within 0.5 s can fail when busy
            holding = asyncio.ensure_future(send(client, f"{STALL} {unique()}", timeout=2))
            await asyncio.sleep(0.3)
            with pytest.raises(ServiceUnavailable) as refused:
                await send(client, unique())
            busy = "all 1 connections are busy (SMTP_MAX_CONNECTIONS)"
            assert refused.value.message == f"SMTP unavailable: {busy}"
            with pytest.raises(ServiceTimeout):
                await holding
            assert client.health() == "up"  # a full house is not an outage
            await send(client, unique())  # and the connection is free again

    asyncio.run(scenario())


def test_smtp_down_is_a_fast_503_and_health_says_so() -> None:
    client = smtp_client(url=f"smtp://127.0.0.1:{closed_port()}", timeout=0.5)
    error, took, health = asyncio.run(send_error(client, "Hi"))
    assert isinstance(error, ServiceUnavailable)
    assert error.message.startswith("SMTP unavailable: Error connecting to 127.0.0.1")
    assert took < 0.1  # known to be down: no attempt at all
    assert health == "down"


def test_a_password_is_never_sent_unencrypted() -> None:
    """This server offers no STARTTLS: with a password in the URL, nothing is sent."""
    url = os.environ["SMTP_URL"].replace("smtp://", "smtp://me:secret@")
    error, _, health = asyncio.run(send_error(smtp_client(url=url), unique()))
    assert isinstance(error, ServiceUnavailable)
    assert "STARTTLS extension not supported" in error.message
    assert health == "down"


class ContactTest(AppTestCase):
    async def post(self, payload: Any) -> HTTPResponse:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.get("/contact", method="POST", body=raw)

    @gen_test(timeout=30)
    async def test_a_message_is_mailed_to_the_owner_replying_to_the_visitor(self) -> None:
        token = unique()
        text = f"Hello {token}\r\nGrüße ✓ " + "long " * 300  # a line over SMTP's 998
        response = await self.post({"email": "visitor@example.org", "message": text})
        assert response.code == 202, response.body
        answer = body(response)
        [mail] = received_with(token)
        settings = SMTPSettings.from_env(os.environ)
        assert (mail.sender, mail.recipients) == (settings.sender, [settings.recipient])
        headers = mail.message
        assert (headers["From"], headers["To"]) == (settings.sender, settings.recipient)
        assert headers["Reply-To"] == answer["reply_to"] == "visitor@example.org"
        assert headers["Subject"] == answer["subject"]
        assert answer["subject"] == "Contact form: a message from visitor@example.org"
        assert headers["Message-ID"] == answer["message_id"]
        assert mail.text == text.replace("\r\n", "\n") + "\n"

    @gen_test(timeout=30)
    async def test_the_visitor_chooses_no_recipient_and_injects_no_header(self) -> None:
        token = unique()
        expected = "one address, like name@example.com (at most 254 characters)"
        address_error = f"'email' must be {expected}"
        for payload, error in [
            ({"email": "a@example.org\r\nBcc: victim@example.com"}, address_error),
            ({"email": "a@example.org, victim@example.com"}, address_error),
            ({"email": "Victim <victim@example.com>"}, address_error),
            ({"to": "victim@example.com"}, "unexpected fields: 'to' (only 'email' and 'message')"),
        ]:
            response = await self.post({"email": "a@example.org", "message": token, **payload})
            assert (response.code, body(response)["error"]) == (400, error), payload
        assert received_with(token) == []

    @gen_test(timeout=30)
    async def test_bad_input_is_a_400_saying_what_is_wrong(self) -> None:
        text_error = "'message' must be text of 1 to 5000 characters"
        for payload, error in [
            (b"not json", "the body is not valid JSON"),
            ([], "the body must be a JSON object"),
            ({"message": "Hi"}, "'email' must be one address"),
            ({"email": "a" * 65 + "@example.org", "message": "Hi"}, "'email' must be one"),
            ({"email": "a@example.org"}, text_error),
            ({"email": "a@example.org", "message": " \n "}, text_error),
            ({"email": "a@example.org", "message": "x" * 5001}, text_error),
            ({"email": "a@example.org", "message": "a\x00b"}, "'message' must not contain control"),
            (b'{"email": "a@example.org", "message": "\\ud800"}', "'message' is not valid Unicode"),
        ]:
            response = await self.post(payload)
            assert response.code == 400, payload
            assert body(response)["error"].startswith(error), payload

    @gen_test(timeout=30)
    async def test_a_message_the_server_refuses_is_a_502_saying_so(self) -> None:
        response = await self.post({"email": "a@example.org", "message": f"{REFUSE} {unique()}"})
        assert response.code == 502
        assert body(response)["error"] == (
            "SMTP answered badly: it refused: 554 5.7.1 Refused by the test server"
        )


class ContactTimeoutTest(AppTestCase):
    def get_app(self) -> ServiceApp:
        self.app = make_app(self.settings(), env={**os.environ, "SMTP_TIMEOUT": "0.5"})
        return self.app

    @gen_test(timeout=30)
    async def test_a_server_that_does_not_answer_in_time_is_a_504(self) -> None:
        await self.until_up()  # a first ping within 0.5 s can fail on a busy machine
        begun = time.monotonic()
        response = await self.get(
            "/contact",
            method="POST",
            body=json.dumps({"email": "a@example.org", "message": f"{STALL} {unique()}"}),
        )
        assert (response.code, body(response)["error"]) == (504, "SMTP did not answer within 0.5 s")
        assert time.monotonic() - begun < 2.5


class ContactWithoutSMTPTest(ProxiedAppTestCase):
    """The SMTP server stops: /contact answers 503 at once; it returns: mail goes again."""

    def proxied_setting(self) -> tuple[str, str]:
        return "SMTP_URL", os.environ["SMTP_URL"]

    async def contact(self, token: str) -> HTTPResponse:
        payload = {"email": "a@example.org", "message": token}
        return await self.get("/contact", method="POST", body=json.dumps(payload))

    @gen_test(timeout=30)
    async def test_a_stopped_server_is_a_fast_503_and_it_recovers(self) -> None:
        self.proxy.cut()
        for _ in range(2):  # the first finds out, the next knows
            begun = time.monotonic()
            response = await self.contact(unique())
            assert time.monotonic() - begun < 2  # not SMTP_TIMEOUT (10 s); a busy loop: ~1 s
            assert response.code == 503
            assert body(response)["error"].startswith("SMTP unavailable: ")
            assert response.headers["Retry-After"]
        health = await self.get("/health")
        assert (health.code, body(health)["checks"]["smtp"]) == (503, "down")
        self.proxy.restore()
        for _ in range(100):  # the monitor looks again every second
            if body(await self.get("/health"))["checks"]["smtp"] == "up":
                break
            await asyncio.sleep(0.1)
        token = unique()
        assert (await self.contact(token)).code == 202
        assert len(received_with(token)) == 1
