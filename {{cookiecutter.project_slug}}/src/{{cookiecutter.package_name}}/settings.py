"""Configuration read from the environment (12-factor), validated once at start.

Every variable is documented in `.env.example`. A `.env` file in the working
directory is read too, but never overrides a variable that is already set.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self, TypeVar

T = TypeVar("T", int, float)
# COOKIE_SECRET as `cp .env.example .env` gives it: a placeholder, never a secret.
PLACEHOLDER = "change-me"


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it and says why."""


def load_dotenv(path: Path = Path(".env"), environ: dict[str, str] | None = None) -> None:
    """Copy `KEY=VALUE` lines of `path` into `environ` where the key is not set yet."""
    target = os.environ if environ is None else environ
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        target.setdefault(key.strip(), value.strip().strip("'\""))


def read_number(
    env: Mapping[str, str], name: str, default: T, kind: Callable[[str], T], low: T, high: T
) -> T:
    """Parse `env[name]` with `kind`, check `low <= value <= high`, else raise SettingsError."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def read_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in choices:
        raise SettingsError(f"{name} must be {' or '.join(choices)}, got {raw!r}")
    return raw


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every strategy shares: where to listen, how to log, how long to wait."""

    address: str = "127.0.0.1"
    port: int = 8888
    processes: int = 1
    # Tornado's default backlog is 128: 1,000 simultaneous clients then overflow the
    # accept queue and retried SYNs add ~1 s each. The kernel caps it at somaxconn.
    backlog: int = 4096
    log_level: str = "INFO"
    # "text" for a terminal, "json" for one JSON object per line (a log collector's).
    log_format: str = "text"
    debug: bool = False
    # Prometheus metrics at /metrics: on the service's port, or with metrics_port
    # set, only on that port of metrics_address (off the public port).
    metrics: bool = True
    metrics_port: int = 0
    metrics_address: str = "127.0.0.1"
    cookie_secret: str = ""
    sleep_max_seconds: float = 60.0
    # How long a wait may run past what the client asked for before it answers 504:
    # a burst of thousands of requests delays the loop by seconds, and a slow 200
    # beats a false 504.
    wait_margin: float = 30.0
    shutdown_timeout: float = 10.0
    use_uvloop: bool = False
    # Behind a reverse proxy: take the client's address from X-Forwarded-For /
    # X-Real-Ip. Never when clients reach the service directly: they could forge it.
    trust_proxy_headers: bool = False
    # Limits on what a client may hold: a body is refused (413) before it is read,
    # headers past the limit close the connection, an idle connection (between
    # requests, or sending its headers) is closed after idle_timeout, a body that
    # trickles in for longer than body_timeout too.
    max_body_bytes: int = 1024 * 1024
    max_header_bytes: int = 16 * 1024
    idle_timeout: float = 60.0
    body_timeout: float = 60.0
    # Open files (sockets) this process asks for; past max_connections (default:
    # what the open-file limit leaves room for), a new connection gets a 503.
    open_files: int = 65536
    max_connections: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        level = env.get("LOG_LEVEL", cls.log_level).upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
        return cls(
            address=env.get("ADDRESS", cls.address),
            port=read_number(env, "PORT", cls.port, int, 0, 65535),
            processes=read_number(env, "PROCESSES", cls.processes, int, 1, 256),
            backlog=read_number(env, "BACKLOG", cls.backlog, int, 1, 65535),
            log_level=level,
            log_format=read_choice(env, "LOG_FORMAT", cls.log_format, ("text", "json")),
            debug=read_bool(env, "DEBUG", cls.debug),
            metrics=read_bool(env, "METRICS", cls.metrics),
            metrics_port=read_number(env, "METRICS_PORT", cls.metrics_port, int, 0, 65535),
            metrics_address=env.get("METRICS_ADDRESS", cls.metrics_address),
            cookie_secret=env.get("COOKIE_SECRET", cls.cookie_secret),
            sleep_max_seconds=read_number(
                env, "SLEEP_MAX_SECONDS", cls.sleep_max_seconds, float, 0.0, 3600.0
            ),
            wait_margin=read_number(env, "WAIT_MARGIN", cls.wait_margin, float, 0.1, 3600.0),
            shutdown_timeout=read_number(
                env, "SHUTDOWN_TIMEOUT", cls.shutdown_timeout, float, 0.0, 600.0
            ),
            use_uvloop=read_bool(env, "USE_UVLOOP", cls.use_uvloop),
            trust_proxy_headers=read_bool(env, "TRUST_PROXY_HEADERS", cls.trust_proxy_headers),
            max_body_bytes=read_number(env, "MAX_BODY_BYTES", cls.max_body_bytes, int, 1024, 2**30),
            max_header_bytes=read_number(
                env, "MAX_HEADER_BYTES", cls.max_header_bytes, int, 1024, 2**20
            ),
            idle_timeout=read_number(env, "IDLE_TIMEOUT", cls.idle_timeout, float, 0.1, 86400.0),
            body_timeout=read_number(env, "BODY_TIMEOUT", cls.body_timeout, float, 0.1, 86400.0),
            open_files=read_number(env, "OPEN_FILES", cls.open_files, int, 64, 2**20),
            max_connections=read_number(env, "MAX_CONNECTIONS", cls.max_connections, int, 0, 2**20),
        ).validated()

    def validated(self) -> Self:
        """Check what crosses fields; return self so calls chain."""
        if self.processes > 1 and self.port == 0:
            raise SettingsError("PORT=0 (any free port) cannot be shared by PROCESSES > 1")
        if self.metrics_port and self.metrics_port == self.port:
            raise SettingsError("METRICS_PORT must differ from PORT (0: /metrics on PORT)")
        if self.cookie_secret == PLACEHOLDER:
            raise SettingsError(
                "COOKIE_SECRET is the placeholder from .env.example: set a secret of your own, "
                """e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"""
            )
        return self

    def replace(self, **changes: object) -> Self:
        return dataclasses.replace(self, **changes).validated()  # type: ignore[arg-type]
