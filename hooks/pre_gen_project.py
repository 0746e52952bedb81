"""Refuse answers that would give a broken project: one clear line each, nothing written."""

from __future__ import annotations

import json
import keyword
import re
import sys

# Rendered by cookiecutter. tojson escapes quotes, so no answer can break out of the string.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
PACKAGE = re.compile(r"^[a-z_][a-z0-9_]*$")
# Importing any of these from the project would pick up the project instead.
TAKEN_NAMES = {
    "aio_pika",
    "aiohttp",
    "amqp",
    "celery",
    "engineio",
    "kombu",
    "mypy",
    "pytest",
    "redis",
    "ruff",
    "setuptools",
    "socketio",
    "src",
    "test",
    "tests",
    "tornado",
    "uvloop",
    "vine",
}
# The services a project may talk to: one client module each (clients/<name>.py).
SERVICES = (
    "postgresql",
    "mysql",
    "memcached",
    "redis",
    "rabbitmq",
    "http",
    "smtp",
    "dns",
    "s3",
    "dynamodb",
    "beanstalkd",
    "socks5",
    "jsonrpc",
    "xmlrpc",
    "subprocess",
)
STRATEGIES_WITH_BROKER = {
    "celery": {"redis", "rabbitmq"},
    "async_client": {"none", "redis", "rabbitmq"},
}


def check_slug(slug: str) -> str | None:
    if not SLUG.match(slug):
        return (
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and single "
            "hyphens, e.g. 'my-service'"
        )
    return None


def check_package(name: str) -> str | None:
    if not PACKAGE.match(name):
        return (
            f"package_name {name!r} is not a valid Python package name: use lowercase letters, "
            "digits and underscores, not starting with a digit, e.g. 'my_service'"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"package_name {name!r} is a Python keyword: choose another, e.g. '{name}_service'"
    if name in sys.stdlib_module_names or name in TAKEN_NAMES:
        return (
            f"package_name {name!r} would shadow the module of the same name: "
            f"choose another, e.g. '{name}_service'"
        )
    return None


def check_broker(strategy: str, broker: str) -> str | None:
    allowed = STRATEGIES_WITH_BROKER.get(strategy, {"none"})
    if broker == "auto" or broker in allowed:
        return None
    choices = " or ".join(repr(b) for b in sorted(allowed))
    return f"the {strategy} strategy cannot use broker {broker!r}: choose 'auto' or {choices}"


def check_services(raw: str) -> str | None:
    """A comma-separated list of known names, each once; order and spaces do not matter."""
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in SERVICES]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if not unknown and not repeated:
        return None
    what = f"unknown {unknown[0]!r}" if unknown else f"{repeated[0]!r} is named twice"
    return f"services {raw!r}: {what}; choose among {', '.join(SERVICES)}"


def problems(answers: dict[str, str]) -> list[str]:
    found = [
        check_slug(answers["project_slug"]),
        check_package(answers["package_name"]),
        check_broker(answers["async_strategy"], answers["broker"]),
        check_services(answers.get("services", "")),
    ]
    return [problem for problem in found if problem]


def main() -> int:
    found = problems(ANSWERS)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
