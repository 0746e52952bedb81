"""S3, or any S3-compatible store (MinIO, moto...), through aiobotocore.

It replaces the tutorial's tornado-botocore (unmaintained, Tornado callbacks):
see `aws.py` for why aiobotocore, and for the timeouts, retries and errors all
AWS clients share. This client reads and writes objects of one bucket,
S3_BUCKET, which it never creates: giving the service the right to create
buckets is rarely wanted, and a bucket's region, policy and lifecycle are
decisions of its own. While the bucket is missing, calls get a 503 saying how
to create it. An object is read whole into memory: up to S3_MAX_OBJECT_BYTES.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from ..settings import SettingsError, read_number
from .aws import AwsClient, AwsSettings, read_endpoint
from .base import BadAnswer

URL_VARIABLE = "S3_URL"
# S3's rules: 3 to 63 lowercase letters, digits, dots and hyphens, a letter or digit at each end.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclasses.dataclass(frozen=True)
class S3Settings:
    # Empty: AWS itself, in the region of AwsSettings.
    url: str = ""
    bucket: str = "files"
    # Each call, its wait for a pooled connection and reading the object included.
    timeout: float = 10.0
    max_connections: int = 32
    max_object_bytes: int = 1024 * 1024
    aws: AwsSettings = dataclasses.field(default_factory=AwsSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        bucket = env.get("S3_BUCKET") or cls.bucket
        if not BUCKET_NAME.fullmatch(bucket):
            raise SettingsError(f"S3_BUCKET must be a valid S3 bucket name, got {bucket!r}")
        return cls(
            url=read_endpoint(env, URL_VARIABLE),
            bucket=bucket,
            timeout=read_number(env, "S3_TIMEOUT", cls.timeout, float, 0.01, 600.0),
            max_connections=read_number(
                env, "S3_MAX_CONNECTIONS", cls.max_connections, int, 1, 10_000
            ),
            max_object_bytes=read_number(
                env, "S3_MAX_OBJECT_BYTES", cls.max_object_bytes, int, 1, 5 * 2**30
            ),
            aws=AwsSettings.from_env(env),
        )


@dataclasses.dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str


class S3Client(AwsClient):
    """The objects of S3_BUCKET: put, get, delete."""

    name: ClassVar[str] = "s3"
    label: ClassVar[str] = "S3"
    service: ClassVar[str] = "s3"
    # HeadBucket (the monitor's probe) answers without a body: its code is the status.
    missing_codes: ClassVar[frozenset[str]] = frozenset({"NoSuchBucket", "404"})

    def __init__(self, settings: S3Settings) -> None:
        super().__init__(settings.url, settings.timeout, settings.max_connections, settings.aws)
        self.settings = settings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        return cls(S3Settings.from_env(env))

    def config(self, max_connections: int) -> dict[str, Any]:
        options = super().config(max_connections)
        if self.url:  # not AWS: MinIO, moto, another S3-compatible store
            # bucket.host names need DNS for every bucket: address it in the path instead.
            options["s3"] = {"addressing_style": "path"}
            # botocore >= 1.36 adds checksums that many S3-compatible stores refuse.
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        return options

    def prepare(self, client: Any) -> None:
        # Loaded with the client by now (see aws.py's imports); botocore has no type hints.
        from botocore.handlers import add_expect_header  # type: ignore[import-untyped]

        # botocore asks for "Expect: 100-continue" on every upload, and aiohttp then
        # holds the body back until the server answers "100 Continue". A server or
        # proxy that never does (moto's test server was seen to) leaves the upload
        # waiting for S3_TIMEOUT. Bodies here are in memory and bounded
        # (S3_MAX_OBJECT_BYTES): sent at once, a refused one costs little.
        client.meta.events.unregister("before-call.s3", add_expect_header)

    @property
    def s3(self) -> Any:
        """The aiobotocore S3 client calls go through (botocore's API, untyped)."""
        return self.client

    def missing(self) -> str:
        bucket = self.settings.bucket
        return (
            f"bucket {bucket!r} does not exist: create it (aws s3 mb s3://{bucket}, "
            "with --endpoint-url for a server other than AWS) or set S3_BUCKET"
        )

    async def probe_once(self) -> None:
        await self.probe.head_bucket(Bucket=self.settings.bucket)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` as object `key`, replacing any."""
        async with self.call():
            await self.s3.put_object(
                Bucket=self.settings.bucket, Key=key, Body=data, ContentType=content_type
            )

    async def get(self, key: str) -> StoredObject | None:
        """Object `key` and its content type, or None; 502 if over S3_MAX_OBJECT_BYTES."""
        async with self.call():
            try:
                answer = await self.s3.get_object(Bucket=self.settings.bucket, Key=key)
            except self.s3.exceptions.NoSuchKey:
                return None
            size: int = answer["ContentLength"]
            async with answer["Body"] as body:  # closed unread if too large
                if size > self.settings.max_object_bytes:
                    too_large = f"{key!r} is {size} bytes: over S3_MAX_OBJECT_BYTES"
                    raise BadAnswer(self.label, too_large)
                data: bytes = await body.read()
            content_type: str = answer.get("ContentType") or "application/octet-stream"
        return StoredObject(data, content_type)

    async def delete(self, key: str) -> None:
        """Remove object `key`; none there is no error (S3 says the same either way)."""
        async with self.call():
            await self.s3.delete_object(Bucket=self.settings.bucket, Key=key)
