"""The container files: what can be checked without a Docker engine."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.package_name }}.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def dockerfile_instruction(name: str) -> str:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    found = [line.split(" ", 1)[1] for line in lines if line.startswith(name + " ")]
    return found[-1]


def test_the_image_runs_the_serve_command_in_exec_form() -> None:
    command = json.loads(dockerfile_instruction("CMD"))
    assert command[:3] == ["python", "-m", "{{ cookiecutter.package_name }}"]
    assert build_parser().parse_args(command[3:]).command == "serve"


def test_the_image_listens_on_the_port_it_exposes_and_checks() -> None:
    port = dockerfile_instruction("EXPOSE")
    assert f"PORT={port}" in (ROOT / "Dockerfile").read_text()
    assert f"127.0.0.1:{port}/health" in (ROOT / "Dockerfile").read_text()
    assert compose()["services"]["web"]["ports"] == [f"{port}:{port}"]


def test_every_compose_command_is_one_the_cli_accepts() -> None:
    for name, service in compose()["services"].items():
        command = service.get("command")
        if service.get("build") and command:
            assert command[:3] == ["python", "-m", "{{ cookiecutter.package_name }}"], name
            assert build_parser().parse_args(command[3:]).command == command[3], name


def test_every_variable_compose_sets_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    for name, service in compose()["services"].items():
        if service.get("build"):
            assert set(service.get("environment", {})) <= documented, name


def test_services_that_need_the_broker_wait_for_its_healthcheck() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} -> {dependency}"


def test_what_compose_builds_is_restarted_or_runs_once_before_web() -> None:
    """A worker (or web process) that dies is brought back without a human; a one-shot
    step (migrate) is not, and web waits for it to succeed."""
    services = compose()["services"]
    for name, service in services.items():
        if not service.get("build"):
            continue
        if service.get("restart") == "no":
            waits = services["web"]["depends_on"][name]
            assert waits == {"condition": "service_completed_successfully"}, name
        else:
            assert service.get("restart") == "unless-stopped", name


def test_prometheus_scrapes_the_metrics_port_that_web_keeps_private() -> None:
    services = compose()["services"]
    web, prometheus = services["web"], services["prometheus"]
    port = web["environment"]["METRICS_PORT"]
    assert all(str(port) not in published for published in web["ports"])
    assert prometheus["profiles"] == ["metrics"]  # only with --profile metrics
    assert re.fullmatch(r"prom/prometheus:v[0-9.]+", prometheus["image"])  # pinned
    config = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["static_configs"] == [{"targets": [f"web:{port}"]}]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
