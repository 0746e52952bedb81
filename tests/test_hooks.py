"""The hooks: what they refuse, what they remove, what they write."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .matrix import PRE_GEN, TEMPLATE, load_hook


@pytest.mark.parametrize(
    ("slug", "ok"),
    [
        ("my-service", True),
        ("svc2", True),
        ("3d-viewer", True),
        ("My-Service", False),
        ("my_service", False),
        ("my--service", False),
        ("-svc", False),
        ("", False),
    ],
)
def test_slug_rule(slug: str, ok: bool) -> None:
    assert (PRE_GEN.check_slug(slug) is None) is ok


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("my_service", None),
        ("class", "package_name 'class' is a Python keyword: choose another, e.g. 'class_service'"),
        ("match", "package_name 'match' is a Python keyword"),
        ("3d_viewer", "package_name '3d_viewer' is not a valid Python package name"),
        ("my-service", "package_name 'my-service' is not a valid Python package name"),
        ("tornado", "package_name 'tornado' would shadow the module of the same name"),
        ("celery", "package_name 'celery' would shadow"),
        ("test", "package_name 'test' would shadow"),
        ("json", "package_name 'json' would shadow"),
    ],
)
def test_package_rule(name: str, message: str | None) -> None:
    problem = PRE_GEN.check_package(name)
    if message is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem.startswith(message)


def test_broker_rule_says_what_to_choose_instead() -> None:
    assert PRE_GEN.check_broker("coroutine", "redis") == (
        "the coroutine strategy cannot use broker 'redis': choose 'auto' or 'none'"
    )
    assert PRE_GEN.check_broker("celery", "none") == (
        "the celery strategy cannot use broker 'none': choose 'auto' or 'rabbitmq' or 'redis'"
    )
    assert PRE_GEN.check_broker("celery", "auto") is None


def test_hook_reads_answers_safely_whatever_they_contain() -> None:
    nasty = {"project_name": "a'''b\"\"\"c\\", "package_name": "x", "project_slug": "x"}
    module = load_hook("pre_gen_project", nasty)
    assert module.ANSWERS["project_name"] == "a'''b\"\"\"c\\"


def post_gen_project(tmp_path: Path, **answers: Any) -> Path:
    """Render the template's project folder by hand (no hooks) into tmp_path."""
    from cookiecutter.main import cookiecutter

    context = {"async_strategy": "coroutine", "broker": "auto", "use_docker": True, **answers}
    out = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        extra_context=context,
        output_dir=str(tmp_path),
        accept_hooks=False,
    )
    return Path(out)


def answers_for(project: Path, **overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "package_name": "tornado_service",
        "async_strategy": "coroutine",
        "__broker": "none",
        "__services": "",
        "push": "none",
        "use_docker": True,
    }
    answers.update(overrides)
    return answers


def test_post_gen_keeps_only_the_chosen_strategy(tmp_path: Path) -> None:
    project = post_gen_project(tmp_path, async_strategy="executor")
    POST = load_hook("post_gen_project")
    POST.main(answers_for(project, async_strategy="executor"), project)
    package = project / "src" / "tornado_service"
    assert (package / "executor.py").exists()
    for gone in ("coroutine.py", "callback.py", "celery", "async_client.py", "clients/http.py"):
        assert not (package / gone).exists(), gone
    assert (project / "tests" / "test_executor.py").exists()
    assert not (project / "tests" / "test_coroutine.py").exists()


def test_a_broker_service_brings_long_polling_and_the_amqp_helper() -> None:
    post = load_hook("post_gen_project")
    answers = {"async_strategy": "async_client", "__services": "rabbitmq", "use_docker": False}
    expected = {"async_client", "rabbitmq", "channels", "broker_channels", "amqp"}
    assert post.chosen_features({**answers, "push": "none"}) == expected
    answers = {"async_strategy": "celery", "__services": "", "use_docker": "yes"}
    assert post.chosen_features({**answers, "push": "none"}) == {"celery", "amqp", "docker"}


def test_only_celery_on_redis_keeps_the_redis_publisher_tests() -> None:
    post = load_hook("post_gen_project")
    answers = {"__services": "", "use_docker": False, "push": "none"}
    on_redis = {**answers, "async_strategy": "celery", "__broker": "redis"}
    assert "celery_redis" in post.chosen_features(on_redis)
    assert "tests/test_redis_publisher.py" not in post.unwanted_files(
        post.chosen_features(on_redis), "pkg"
    )
    for strategy, broker in (("celery", "rabbitmq"), ("async_client", "redis")):
        features = post.chosen_features({**answers, "async_strategy": strategy, "__broker": broker})
        assert "celery_redis" not in features
        assert "tests/test_redis_publisher.py" in post.unwanted_files(features, "pkg")


def test_pushing_brings_the_channels_with_or_without_a_broker() -> None:
    post = load_hook("post_gen_project")
    answers = {"async_strategy": "coroutine", "__services": "", "use_docker": False}
    features = post.chosen_features({**answers, "push": "sse"})
    assert features == {"coroutine", "channels", "push", "sse"}
    features = post.chosen_features({**answers, "__services": "redis", "push": "socketio"})
    assert features == {"coroutine", "redis", "channels", "broker_channels", "push", "socketio"}


def test_post_gen_says_what_to_run_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = post_gen_project(tmp_path, async_strategy="celery", broker="redis")
    load_hook("post_gen_project").main(answers_for(project, async_strategy="celery"), project)
    printed = capsys.readouterr().out
    assert "cd tornado-service\n" in printed
    for step in ("pip install -e '.[test]'", "pytest", "python -m tornado_service serve"):
        assert f"  {step}\n" in printed
    assert "python -m tornado_service worker" in printed


def test_post_gen_removes_docker_files_when_not_wanted(tmp_path: Path) -> None:
    project = post_gen_project(tmp_path, use_docker=False)
    load_hook("post_gen_project").main(answers_for(project, use_docker=False), project)
    assert not (project / "Dockerfile").exists()
    assert not (project / "compose.yaml").exists()


def test_env_file_gets_a_fresh_secret_and_is_kept_on_a_second_run(tmp_path: Path) -> None:
    project = post_gen_project(tmp_path)
    POST = load_hook("post_gen_project")
    POST.main(answers_for(project), project)
    env = (project / ".env").read_text()
    secret = next(line for line in env.splitlines() if line.startswith("COOKIE_SECRET="))
    assert len(secret.split("=", 1)[1]) >= 40
    assert "change-me" not in secret
    assert (project / ".env").stat().st_mode & 0o077 == 0  # readable by its owner only
    POST.main(answers_for(project), project)  # idempotent: same files, same secret
    assert (project / ".env").read_text() == env
    assert ".env" in (project / ".gitignore").read_text().splitlines()
    assert "COOKIE_SECRET=change-me" in (project / ".env.example").read_text()


def test_two_projects_get_different_secrets(tmp_path: Path) -> None:
    secrets = set()
    for name in ("a", "b"):
        project = post_gen_project(tmp_path / name)
        load_hook("post_gen_project").main(answers_for(project), project)
        secrets.add((project / ".env").read_text())
    assert len(secrets) == 2


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]])
def test_the_templates_own_code_is_lint_clean(check: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *check, "hooks", "tests", "bench"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cookiecutter_json_labels_every_prompt() -> None:
    prompts = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    labels = prompts["__prompts__"]
    for key, value in prompts.items():
        if key.startswith("_"):
            continue
        assert key in labels, f"{key} has no label in __prompts__"
        if isinstance(value, list):
            assert set(labels[key]) - {"__prompt__"} == set(value), key


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", None),
        ("postgresql", None),
        (" Memcached , postgresql,mysql ", None),
        ("mongodb", "services 'mongodb': unknown 'mongodb'; choose among postgresql, mysql, "),
        ("redis,redis", "services 'redis,redis': 'redis' is named twice; choose among"),
        ("postgres", "services 'postgres': unknown 'postgres'"),
    ],
)
def test_services_rule(raw: str, message: str | None) -> None:
    problem = PRE_GEN.check_services(raw)
    assert problem is None if message is None else problem is not None
    if message is not None:
        assert problem.startswith(message)


def test_services_label_names_every_service() -> None:
    label = json.loads((TEMPLATE / "cookiecutter.json").read_text())["__prompts__"]["services"]
    assert label.endswith(f"({', '.join(PRE_GEN.SERVICES)})")


def test_every_service_has_its_parts() -> None:
    post = load_hook("post_gen_project")
    for name in PRE_GEN.SERVICES:
        assert (TEMPLATE / "templates" / "services" / f"{name}.jinja").exists(), name
        assert name in post.FEATURE_FILES, name
