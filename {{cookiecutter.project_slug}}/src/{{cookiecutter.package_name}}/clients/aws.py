"""What the S3 and DynamoDB clients share: aiobotocore, AWS's settings, its errors as HTTP.

aiobotocore (aio-libs, maintained in step with botocore) is botocore, the core of
the AWS SDK for Python, on aiohttp: every AWS API with its request signing and
credential chain, asyncio-native. It replaces the tutorial's tornado-botocore
and asyncdynamo, both unmaintained for years and written for Tornado's callbacks.

Each call has one deadline, `<NAME>_TIMEOUT` (also botocore's connect and read
timeouts), and no retries: botocore's default four, with backoff, would turn an
outage into seconds of waiting per request, where one 503 now, with
Retry-After, lets the caller decide. Credentials and region come from AWS's own
variables; without the keys, botocore looks further (~/.aws, an instance role).
botocore ships no type hints: its calls return `Any`, typed here at the edges.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

# No type hints in botocore (no py.typed): its names are Any here. aiobotocore (and
# aiohttp) are imported when a client opens, not with this package: a third of a
# second that every CLI command and process-pool worker would pay.
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
)

from ..settings import SettingsError
from ..web import ApiError
from .base import BadAnswer, Client, ServiceTimeout, ServiceUnavailable, url_address

DEFAULT_REGION = "us-east-1"
TIMEOUTS = (TimeoutError, ConnectTimeoutError, ReadTimeoutError)
# No connection, or nothing to sign with: the service is not usable from here.
UNREACHABLE = (EndpointConnectionError, ProxyConnectionError, SSLError)
NO_CREDENTIALS = (NoCredentialsError, PartialCredentialsError)
# "Slow down": the service is there, but refuses more for now.
THROTTLED = {
    "SlowDown",
    "ServiceUnavailable",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
}


@dataclasses.dataclass(frozen=True)
class AwsSettings:
    """Region and credentials, from the variables every AWS SDK reads."""

    region: str = DEFAULT_REGION
    # None: botocore's credential chain (~/.aws, an instance or task role...).
    access_key_id: str | None = None
    secret_access_key: str | None = dataclasses.field(default=None, repr=False)
    session_token: str | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if bool(key) != bool(secret):
            missing = "AWS_SECRET_ACCESS_KEY" if key else "AWS_ACCESS_KEY_ID"
            raise SettingsError(f"{missing} must be set with the other AWS key, or neither")
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region,
            access_key_id=key or None,
            secret_access_key=secret or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )


def read_endpoint(env: Mapping[str, str], variable: str) -> str:
    """`env[variable]`: empty for AWS itself, else an http(s)://host[:port] URL."""
    url = env.get(variable, "").strip().rstrip("/")
    parts = urlsplit(url)
    if url and (parts.scheme not in {"http", "https"} or not parts.hostname or parts.path):
        raise SettingsError(
            f"{variable} must be empty (AWS itself) or an http(s)://host:port URL, got {url!r}"
        )
    return url


class Unusable(Exception):
    """Why the service cannot be used, in words for the 503 and the log."""


def error_code(error: Any) -> str:
    """The AWS error code of a ClientError ("NoSuchKey"...): its HTTP status if none."""
    response: dict[str, Any] = error.response
    code = response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get(
        "HTTPStatusCode", "unknown"
    )
    return str(code)


def garbled(error: BaseException) -> bool:
    """Whether `error` says the answer was not one: not HTTP, not the API's, corrupted.

    (A connection closed without an answer is an HTTPClientError too, but means
    "gone": callers look for ConnectionClosedError first.)
    """
    # Loaded with the client by now; not with this module: see the imports.
    from botocore.parsers import ResponseParserError  # type: ignore[import-untyped]

    return isinstance(error, (HTTPClientError, ResponseParserError, FlexibleChecksumError))


class AwsClient(Client):
    """One AWS service at one endpoint: a pool for calls, a probe for the monitor.

    Subclasses name the service, say how to `ping` it (on `probe`) and what a
    missing bucket or table answers (`missing_codes`, `missing`).
    """

    service: ClassVar[str]  # botocore's name: "s3", "dynamodb"
    missing_codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: str, timeout: float, max_connections: int, aws: AwsSettings) -> None:
        super().__init__(timeout)
        self.url = url
        self.max_connections = max_connections
        self.aws = aws
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._probe: Any = None

    def address(self) -> tuple[str, int]:
        if not self.url:
            return f"{self.service}.{self.aws.region}.amazonaws.com", 443
        return url_address(self.url, 443 if self.url.startswith("https") else 80)

    def config(self, max_connections: int) -> dict[str, Any]:
        """botocore's Config options for a client with `max_connections` connections."""
        return {
            "connect_timeout": self.timeout,
            "read_timeout": self.timeout,
            "max_pool_connections": max_connections,
            "retries": {"mode": "standard", "total_max_attempts": 1},  # see the docstring
            "warm_up_loader_caches": True,  # the API model is read in a thread
        }

    def prepare(self, client: Any) -> None:
        """Adjust a new botocore client: a hook for subclasses."""

    async def open(self) -> None:
        """Two clients, none connected yet: calls use the pool, the monitor its own one.

        Importing aiobotocore and loading the service's API model take a third of a
        second of CPU: both run in a thread, so the loop (and every other client
        starting beside this one) never waits on them.
        """
        sessions = await asyncio.to_thread(importlib.import_module, "aiobotocore.session")
        self._stack = contextlib.AsyncExitStack()
        session = sessions.get_session()
        self._client = await self._stack.enter_async_context(
            self._create(session, self.max_connections)
        )
        self._probe = await self._stack.enter_async_context(self._create(session, 1))
        for client in (self._client, self._probe):
            self.prepare(client)

    def _create(self, session: Any, max_connections: int) -> Any:
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

        return session.create_client(
            self.service,
            region_name=self.aws.region,
            endpoint_url=self.url or None,
            aws_access_key_id=self.aws.access_key_id,
            aws_secret_access_key=self.aws.secret_access_key,
            aws_session_token=self.aws.session_token,
            config=AioConfig(**self.config(max_connections)),
        )

    async def release(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._client, self._probe = None, None, None

    @property
    def client(self) -> Any:
        """The aiobotocore client calls go through (botocore's API, untyped)."""
        if self._client is None:
            raise ServiceUnavailable(self.label, "not started")
        return self._client

    @property
    def probe(self) -> Any:
        """The monitor's own client: a full pool never makes `/health` wait."""
        if self._probe is None:
            raise ServiceUnavailable(self.label, "not started")
        return self._probe

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Around a call: fail fast while down, one deadline, its failures as 503/504/502."""
        self.require_up()
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except Exception as error:
            failure = self.failure(error)
            if failure is None:
                raise  # not the service's: an answer this code chose, or a bug
            raise failure from None

    def failure(self, error: Exception) -> ApiError | None:
        """The answer for a failed call; for want of the service, the monitor looks now."""
        if isinstance(error, TIMEOUTS):
            return ServiceTimeout(self.label, self.timeout)
        if isinstance(error, ClientError):
            return self.refused(error)
        if isinstance(error, (*UNREACHABLE, *NO_CREDENTIALS, ConnectionClosedError)):
            return self.lost(Unusable(self.reason(error)))
        if garbled(error):
            return BadAnswer(self.label, self.reason(error))
        return None

    def refused(self, error: Any) -> ApiError:
        """The answer for an error the service returned."""
        code = error_code(error)
        if code in self.missing_codes:
            return self.lost(Unusable(self.missing()))
        if code in THROTTLED:
            throttled = f"it is throttling requests ({code})"
            return ServiceUnavailable(self.label, throttled, retry_after=1)
        return BadAnswer(self.label, self.reason(error))

    def reason(self, error: BaseException) -> str:
        """What went wrong, in words (botocore's own would show the endpoint's address)."""
        if isinstance(error, ClientError):
            code = error_code(error)
            if code in self.missing_codes:
                return self.missing()
            message = str(error.response.get("Error", {}).get("Message") or "")
            return f"{code}: {message}" if message else code
        if isinstance(error, NO_CREDENTIALS):
            return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        if isinstance(error, TIMEOUTS):
            return "no answer"
        if isinstance(error, UNREACHABLE):
            return "could not connect"
        if isinstance(error, ConnectionClosedError):  # stopped, or cut off on the way
            return "it closed the connection without answering"
        if isinstance(error, FlexibleChecksumError):
            return "its answer does not match its checksum"
        if garbled(error):
            return "its answer is not HTTP, or not the API's"
        return str(error) or type(error).__name__

    def missing(self) -> str:
        """The bucket or table that does not exist, and how to create it: the 503's reason."""
        raise NotImplementedError

    async def ping(self) -> None:
        try:
            await self.probe_once()
        except Exception as error:  # the monitor's verdict: whatever it is, say it in words
            raise Unusable(self.reason(error)) from error

    async def probe_once(self) -> None:
        """One cheap call on `probe` that fails when the bucket or table is not usable."""
        raise NotImplementedError
