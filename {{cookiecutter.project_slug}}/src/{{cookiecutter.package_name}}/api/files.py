"""/files/<name>: files kept in S3 (S3_BUCKET), an example to copy.

PUT stores the request's body as object <name>, with the request's
Content-Type; GET answers it with that type, as a download; DELETE removes it
(204 whether it was there or not, as S3 itself answers). A body is held in
memory: up to S3_MAX_OBJECT_BYTES (and the server's MAX_BODY_BYTES). For larger
files, let clients upload to S3 directly with a presigned URL
(`generate_presigned_url`) rather than through this process.
"""

from __future__ import annotations

import re

from ..clients.s3 import S3Client
from ..web import ApiError, JsonHandler, Routes

# The object's key: no "/" (no folders to escape into), no leading "." or "-".
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
# type/subtype, then parameters: "text/plain; charset=utf-8".
MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=(\"[\w.+ -]*\"|[\w.+-]+))*")
DEFAULT_TYPE = "application/octet-stream"


def file_name(raw: str) -> str:
    if not NAME.fullmatch(raw):
        raise ApiError(
            400,
            "a file name is 1 to 200 letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit",
        )
    return raw


def media_type(raw: str) -> str:
    if len(raw) > 200 or not MEDIA_TYPE.fullmatch(raw):
        raise ApiError(400, f"Content-Type must be a media type such as text/plain, got {raw!r}")
    return raw


class FileHandler(JsonHandler):
    """Waits on S3: one call, within S3_TIMEOUT; cancelled if the client leaves."""

    def initialize(self, s3: S3Client) -> None:  # type: ignore[override]
        super().initialize()
        self.s3 = s3
        self.patience = s3.settings.timeout + 1  # S3Client answers 504 before this

    async def put(self, raw: str) -> None:
        name = file_name(raw)
        content_type = media_type(self.request.headers.get("Content-Type", DEFAULT_TYPE))
        data = self.request.body
        limit = self.s3.settings.max_object_bytes
        if len(data) > limit:
            raise ApiError(413, f"the file is over {limit} bytes (S3_MAX_OBJECT_BYTES)")
        await self.wait(self.s3.put(name, data, content_type), self.patience, "S3")
        self.write_json({"name": name, "bytes": len(data), "content_type": content_type})

    async def get(self, raw: str) -> None:
        name = file_name(raw)
        stored = await self.wait(self.s3.get(name), self.patience, "S3")
        if stored is None:
            raise ApiError(404, f"no file named {name!r}")
        self.set_header("Content-Type", stored.content_type)
        # A download, never a page of this site: an uploaded text/html runs no script here.
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.set_header("X-Content-Type-Options", "nosniff")
        self.finish(stored.data)

    async def delete(self, raw: str) -> None:
        await self.wait(self.s3.delete(file_name(raw)), self.patience, "S3")
        self.set_status(204)
        self.finish()


def routes(s3: S3Client) -> Routes:
    return [(r"/files/([^/]+)", FileHandler, {"s3": s3})]
