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
    debug: bool = False
    cookie_secret: str = ""
    sleep_max_seconds: float = 60.0
    shutdown_timeout: float = 10.0
    use_uvloop: bool = False
    # Behind a reverse proxy: take the client's address from X-Forwarded-For /
    # X-Real-Ip. Never when clients reach the service directly: they could forge it.
    trust_proxy_headers: bool = False

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
            debug=read_bool(env, "DEBUG", cls.debug),
            cookie_secret=env.get("COOKIE_SECRET", cls.cookie_secret),
            sleep_max_seconds=read_number(
                env, "SLEEP_MAX_SECONDS", cls.sleep_max_seconds, float, 0.0, 3600.0
            ),
            shutdown_timeout=read_number(
                env, "SHUTDOWN_TIMEOUT", cls.shutdown_timeout, float, 0.0, 600.0
            ),
            use_uvloop=read_bool(env, "USE_UVLOOP", cls.use_uvloop),
            trust_proxy_headers=read_bool(env, "TRUST_PROXY_HEADERS", cls.trust_proxy_headers),
        ).validated()

    def validated(self) -> Self:
        """Check what crosses fields; return self so calls chain."""
        if self.processes > 1 and self.port == 0:
            raise SettingsError("PORT=0 (any free port) cannot be shared by PROCESSES > 1")
        return self

    def replace(self, **changes: object) -> Self:
        return dataclasses.replace(self, **changes).validated()  # type: ignore[arg-type]
