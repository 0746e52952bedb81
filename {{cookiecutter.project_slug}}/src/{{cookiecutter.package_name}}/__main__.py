{%- set celery = cookiecutter.async_strategy == "celery" -%}
{%- set services = cookiecutter.__services.split(",") -%}
{%- set sql = "postgresql" in services or "mysql" in services -%}
"""Command line: `python -m {{ cookiecutter.package_name }} --help`."""

from __future__ import annotations

import argparse
{%- if sql %}
import logging
import os
{%- endif %}
import sys
from collections.abc import Sequence

from . import __version__
from .settings import Settings, SettingsError, load_dotenv
from .telemetry.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}",
        description={{ cookiecutter.description | tojson }},
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--address", help="interface to listen on (ADDRESS)")
    serve.add_argument("--port", type=int, help="port to listen on (PORT)")
    serve.add_argument("--processes", type=int, help="serving processes (PROCESSES)")
{%- if celery %}

    worker = commands.add_parser(
        "worker",
        help="run the Celery worker; other options go to `celery worker`, e.g. --concurrency 200",
    )
    worker.set_defaults(passes_options_on=True)
{%- endif %}
{%- if sql %}

    commands.add_parser("migrate", help="bring every database's schema up to date")
{%- endif %}
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_options_on", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    load_dotenv()
    try:
        config = Settings.from_env()
        if args.command == "serve":
            overrides = {"address": args.address, "port": args.port, "processes": args.processes}
            config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format)
{%- if celery %}
    if args.command == "worker":
        from .celery.app import run_worker

        return run_worker(extra)
{%- endif %}
{%- if sql %}
    if args.command == "migrate":
        return migrate()
{%- endif %}
    from .server import run

    run(config)
    return 0
{%- if sql %}


def migrate() -> int:
    """Apply the migrations to every database; one line each, or the error."""
    import asyncio

    # The one line per database below says what was applied; Alembic's INFO lines repeat it.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Imported here: `serve` need not load SQLAlchemy and Alembic.
    from .migrations import MigrationFailed, migrate_all

    try:
        outcomes = asyncio.run(migrate_all(os.environ))
    except MigrationFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(outcome)
    return 0
{%- endif %}


if __name__ == "__main__":
    sys.exit(main())
