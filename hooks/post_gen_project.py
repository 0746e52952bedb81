"""Keep the files of what was chosen, write the untracked `.env`, say what to run next."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

# Rendered by cookiecutter. tojson escapes quotes, so no answer can break out of the string.
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# Which files each feature brings. A file listed here is kept only when one of
# the features that list it is chosen (see `chosen_features`); any other file
# is always kept. `{package}` is the package's folder.
FEATURE_FILES: dict[str, list[str]] = {
    # async_strategy: one module (or package) and its own tests each
    "coroutine": ["src/{package}/coroutine.py", "tests/test_coroutine.py"],
    "callback": ["src/{package}/callback.py", "tests/test_callback.py"],
    "executor": ["src/{package}/executor.py", "tests/test_executor.py"],
    "celery": [
        "src/{package}/celery",
        "tests/test_celery.py",
        "tests/fixtures_celery.py",
        "bench/celery_tasks.py",
        "bench/saq_reference.py",
    ],
    # celery on a Redis broker: the tests of its LPUSH publisher need Redis
    "celery_redis": ["tests/test_redis_publisher.py"],
    "async_client": ["src/{package}/async_client.py", "tests/test_async_client.py"],
    # services: a client module and its tests each
    "http": ["src/{package}/clients/http.py", "tests/test_http.py", "tests/fixtures_http.py"],
    "redis": ["src/{package}/clients/redis.py", "tests/test_redis.py"],
    "rabbitmq": ["src/{package}/clients/rabbitmq.py", "tests/test_rabbitmq.py"],
    "postgresql": [
        "src/{package}/clients/postgresql.py",
        "src/{package}/api/items_postgresql.py",
        "tests/test_postgresql.py",
        "bench/sql_postgresql.py",
        "tests/fixtures_postgresql.py",
    ],
    "mysql": [
        "src/{package}/clients/mysql.py",
        "src/{package}/api/items_mysql.py",
        "tests/test_mysql.py",
        "bench/sql_mysql.py",
        "tests/fixtures_mysql.py",
    ],
    "memcached": [
        "src/{package}/clients/memcached.py",
        "src/{package}/api/cache.py",
        "tests/test_memcached.py",
    ],
    "smtp": [
        "src/{package}/clients/smtp.py",
        "src/{package}/api/contact.py",
        "tests/test_smtp.py",
        "tests/fixtures_smtp.py",
    ],
    "dns": [
        "src/{package}/clients/dns.py",
        "src/{package}/api/resolve.py",
        "tests/test_dns.py",
        "tests/fixtures_dns.py",
    ],
    "s3": [
        "src/{package}/clients/s3.py",
        "src/{package}/api/files.py",
        "tests/test_s3.py",
        "tests/fixtures_s3.py",
    ],
    "dynamodb": [
        "src/{package}/clients/dynamodb.py",
        "src/{package}/api/notes.py",
        "tests/test_dynamodb.py",
        "tests/fixtures_dynamodb.py",
    ],
    "beanstalkd": [
        "src/{package}/clients/beanstalkd.py",
        "src/{package}/api/work_queue.py",
        "tests/test_beanstalkd.py",
    ],
    "socks5": [
        "src/{package}/clients/socks5.py",
        "src/{package}/api/proxied.py",
        "tests/test_socks5.py",
        "tests/fixtures_socks5.py",
    ],
    "jsonrpc": [
        "src/{package}/clients/jsonrpc.py",
        "src/{package}/api/sum_jsonrpc.py",
        "tests/test_jsonrpc.py",
        "tests/fixtures_jsonrpc.py",
    ],
    "xmlrpc": [
        "src/{package}/clients/xmlrpc.py",
        "src/{package}/api/sum_xmlrpc.py",
        "tests/test_xmlrpc.py",
        "tests/fixtures_xmlrpc.py",
    ],
    "subprocess": [
        "src/{package}/clients/subprocess.py",
        "src/{package}/api/run.py",
        "tests/test_subprocess.py",
    ],
    # what a combination brings
    "sql": [
        "src/{package}/migrations",
        "src/{package}/api/items.py",
        "tests/test_items.py",
        "tests/test_migrations.py",
        "tests/sql_contract.py",
        "bench/sql.py",
    ],
    "amqp": ["src/{package}/amqp.py"],
    "aws": ["src/{package}/clients/aws.py", "tests/aws_servers.py"],
    "rpc": ["src/{package}/clients/rpc.py", "tests/rpc_contract.py"],
    "channels": [
        "src/{package}/channels.py",
        "src/{package}/long_poll.py",
        "tests/test_long_poll.py",
    ],
    "broker_channels": ["tests/test_broker_channels.py"],
    # push: what every way to push shares, then one module, script and test each
    "push": [
        "src/{package}/push",
        "tests/push_contract.py",
        "tests/browser.py",
        "tests/test_live_page.py",
        "bench/fan_out.py",
        "bench/subscribers.py",
    ],
    "sse": [
        "src/{package}/push/sse.py",
        "src/{package}/push/static/sse.js",
        "tests/test_sse.py",
        "bench/sse_reader.py",
    ],
    "websocket": [
        "src/{package}/push/websocket.py",
        "src/{package}/push/static/websocket.js",
        "tests/test_websocket.py",
    ],
    "socketio": [
        "src/{package}/push/socket_io.py",
        "src/{package}/push/static/socketio.js",
        "tests/test_socketio.py",
        "bench/socketio_reader.py",
    ],
    "docker": [
        "Dockerfile",
        "compose.yaml",
        "prometheus.yml",
        ".dockerignore",
        "tests/test_docker.py",
    ],
}
BROADCASTERS = {"redis", "rabbitmq"}  # services that fan messages out to every process
DATABASES = {"postgresql", "mysql"}  # services with a schema: migrations, /items
AWS = {"s3", "dynamodb"}  # services through aiobotocore, tested against moto
RPC = {"jsonrpc", "xmlrpc"}  # remote procedures over HTTP
SECRET_PLACEHOLDER = "change-me"


def service_names(answers: dict[str, object]) -> set[str]:
    return {name for name in str(answers["__services"]).split(",") if name}


def chosen_features(answers: dict[str, object]) -> set[str]:
    services = service_names(answers)
    features = {str(answers["async_strategy"]), *services}
    if services & BROADCASTERS or answers["push"] != "none":
        features.add("channels")  # /wait and /notify, through a broker if there is one
    if services & BROADCASTERS:
        features.add("broker_channels")
    if answers["push"] != "none":
        features |= {"push", str(answers["push"])}
    if services & DATABASES:
        features.add("sql")  # migrations, and the /items example
    if services & RPC:
        features.add("rpc")  # the HTTP transport and errors both protocols share
    if services & AWS:
        features.add("aws")  # the botocore session and settings they share
    if "rabbitmq" in services or answers["async_strategy"] == "celery":
        features.add("amqp")  # aio-pika: the RabbitMQ client, Celery's AMQP publisher
    if answers["async_strategy"] == "celery" and answers.get("__broker") == "redis":
        features.add("celery_redis")
    if answers["use_docker"] in (True, "True", "true", "yes", "y"):
        features.add("docker")
    return features


def unwanted_files(features: set[str], package: str) -> set[str]:
    """Files listed only under features that were not chosen."""
    wanted = {path for name in features for path in FEATURE_FILES.get(name, [])}
    listed = {path for paths in FEATURE_FILES.values() for path in paths}
    return {path.format(package=package) for path in listed - wanted}


def remove(project: Path, relative_paths: set[str]) -> None:
    for relative in sorted(relative_paths):
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def write_env_file(project: Path) -> None:
    """`.env` = `.env.example` with a fresh secret; an existing `.env` is kept as it is."""
    env = project / ".env"
    if env.exists():
        return
    example = (project / ".env.example").read_text(encoding="utf-8")
    secret = secrets.token_urlsafe(32)
    env.write_text(example.replace(SECRET_PLACEHOLDER, secret, 1), encoding="utf-8")
    env.chmod(0o600)


def next_steps(answers: dict[str, object], project: Path) -> str:
    package = answers["package_name"]
    steps = [
        f"cd {project.name}",
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install -e '.[test]'",
        "pytest",
    ]
    if service_names(answers) & DATABASES:
        steps.append(f"python -m {package} migrate")
    steps.append(f"python -m {package} serve")
    if answers["async_strategy"] == "celery":
        steps.append(f"python -m {package} worker     # in a second terminal")
    lines = [f"Created {project.name} ({answers['async_strategy']} strategy). Next:", ""]
    return "\n".join(lines + [f"  {step}" for step in steps]) + "\n"


def main(answers: dict[str, object], project: Path) -> None:
    remove(project, unwanted_files(chosen_features(answers), str(answers["package_name"])))
    write_env_file(project)
    print(next_steps(answers, project))


if __name__ == "__main__":
    main(ANSWERS, Path.cwd())
