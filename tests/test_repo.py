"""The template repository itself: its CI runs what the README says, with the servers."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from .matrix import TEMPLATE as ROOT


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\n```sh\n(.+?)\n```\n<!-- /test-command -->", readme)
    assert block, "README.md must show the test command between its markers"
    return block.group(1)


def test_ci_script_extracts_the_readme_test_command() -> None:
    """`.ci/run` runs exactly the README's command: the same sed it uses, checked here."""
    script = (ROOT / ".ci/run").read_text()
    extract = re.search(r"command=\$\((.+)\)\n", script)
    assert extract, ".ci/run must read the command from the README"
    done = subprocess.run(
        ["/bin/bash", "-c", extract.group(1)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == readme_test_command()
    assert readme_test_command().endswith("pytest")


def test_template_workflow_runs_the_ci_script_with_every_server() -> None:
    workflow: dict[str, Any] = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert job["steps"][-1]["run"] == "bash .ci/run"
    ports = {name: service["ports"] for name, service in job["services"].items()}
    assert ports == {
        "redis": ["6379:6379"],
        "rabbitmq": ["5672:5672"],
        "postgresql": ["5432:5432"],
        "mysql": ["3306:3306"],
        "memcached": ["11211:11211"],
        "beanstalkd": ["11300:11300"],
    }
    for step in job["steps"]:
        if "uses" in step:  # pinned to a commit, the tag in a comment
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_changelog_lists_the_version_the_readme_pins() -> None:
    pinned = set(re.findall(r"--checkout (v\d+\.\d+\.\d+)", (ROOT / "README.md").read_text()))
    assert pinned
    changelog = (ROOT / "CHANGELOG.md").read_text()
    for version in pinned:
        assert f"## {version} (" in changelog
