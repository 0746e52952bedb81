"""Keep the chosen strategy's files, drop the rest, and write the untracked `.env`."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

# Rendered by cookiecutter. tojson escapes quotes, so no answer can break out of the string.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# async_client talks to one service: the broker answer picks which.
CLIENT_FILES = {
    "none": [
        "src/{package}/async_client/upstream.py",
        "tests/fixtures_upstream.py",
        "tests/test_upstream.py",
    ],
    "redis": [
        "src/{package}/async_client/redis_channels.py",
        "src/{package}/async_client/channels.py",
        "tests/fixtures_channels.py",
        "tests/test_redis_channels.py",
        "tests/test_long_poll.py",
    ],
    "rabbitmq": [
        "src/{package}/async_client/amqp_channels.py",
        "src/{package}/async_client/channels.py",
        "tests/fixtures_channels.py",
        "tests/test_amqp_channels.py",
        "tests/test_long_poll.py",
    ],
}
CLIENT_TESTS = sorted(
    {path for paths in CLIENT_FILES.values() for path in paths if path.startswith("tests/")}
)
# Every strategy's own files; all but the chosen strategy's are removed.
STRATEGY_FILES = {
    "coroutine": ["src/{package}/coroutine.py", "tests/test_coroutine.py"],
    "callback": ["src/{package}/callback.py", "tests/test_callback.py"],
    "executor": ["src/{package}/executor.py", "tests/test_executor.py"],
    "celery": ["src/{package}/tasks", "tests/test_celery.py", "tests/fixtures_celery.py"],
    "async_client": ["src/{package}/async_client", *CLIENT_TESTS],
}
DOCKER_FILES = ["Dockerfile", "compose.yaml", ".dockerignore", "tests/test_docker.py"]
SECRET_PLACEHOLDER = "change-me"


def remove(project: Path, patterns: list[str], package: str) -> None:
    for pattern in patterns:
        for path in project.glob(pattern.format(package=package)):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def remove_other_strategies(project: Path, strategy: str, package: str) -> None:
    for name, files in STRATEGY_FILES.items():
        if name != strategy:
            remove(project, files, package)


def remove_other_clients(project: Path, strategy: str, broker: str, package: str) -> None:
    if strategy != "async_client":
        return
    keep = set(CLIENT_FILES[broker])
    for name, files in CLIENT_FILES.items():
        if name != broker:
            remove(project, [path for path in files if path not in keep], package)


def remove_docker_files(project: Path, use_docker: bool) -> None:
    if not use_docker:
        remove(project, DOCKER_FILES, "")


def write_env_file(project: Path) -> None:
    """`.env` = `.env.example` with a fresh secret; an existing `.env` is kept as it is."""
    env = project / ".env"
    if env.exists():
        return
    example = (project / ".env.example").read_text(encoding="utf-8")
    secret = secrets.token_urlsafe(32)
    env.write_text(example.replace(SECRET_PLACEHOLDER, secret, 1), encoding="utf-8")
    env.chmod(0o600)


def main(answers: dict[str, object], project: Path) -> None:
    package = str(answers["package_name"])
    strategy = str(answers["async_strategy"])
    remove_other_strategies(project, strategy, package)
    remove_other_clients(project, strategy, str(answers["__broker"]), package)
    remove_docker_files(project, answers["use_docker"] in (True, "True", "true", "yes", "y"))
    write_env_file(project)


if __name__ == "__main__":
    main(ANSWERS, Path.cwd())
