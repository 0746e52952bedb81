"""Bake every combination cookiecutter.json allows; check each, one check per test id.

A baked project is checked for what it contains (bake), for template debris
(leftovers), for lint and format (ruff), types (mypy) and its own test suite
(pytest). broker=auto renders the same files as the broker it resolves to:
identical trees are linted and type-checked once, and each group of combinations
that generate the same code runs its test suite once (test_same_code_as_its_group
proves they do).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException

from .conftest import Baked
from .matrix import INVALID, POST_GEN, VALID, combo_id, pytest_runs, resolved, service_parts

JINJA_LEFTOVER = re.compile(r"{{|{%|%}|{#|(?<![.\w])cookiecutter\.\w")
BLANK_RUN = re.compile(r"\n\s*\n\s*\n\s*\n")  # three blank lines: Jinja block debris
TEXT_SUFFIXES = {".py", ".toml", ".md", ".yaml", ".yml", ".example", ".txt", ".cfg", ""}
TEXT_SUFFIXES |= {".html", ".js", ".css"}  # the live page's
Bake = Callable[[dict[str, Any]], Baked]


def run(command: list[str], cwd: Path, timeout: float = 600) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} failed in {cwd}:\n{what_failed(done)}"


def what_failed(done: subprocess.CompletedProcess[str]) -> str:
    """The end of what a failed run printed, pytest's summary of its failures first."""
    output = done.stdout + done.stderr
    summary = output.rfind("short test summary info")
    return (output[summary : summary + 3000] + "\n...\n" if summary >= 0 else "") + output[-6000:]


def rendered_text_files(project: Path) -> list[Path]:
    return [
        path
        for path in project.rglob("*")
        if path.is_file() and path.suffix in TEXT_SUFFIXES and ".git" not in path.parts
    ]


def empty_sections(markdown: str) -> list[str]:
    """Headings followed by nothing before the next heading of the same or a higher level."""
    found = []
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        heading = re.match(r"(#+) ", line)
        if not heading:
            continue
        rest = []
        for following in lines[index + 1 :]:
            deeper = re.match(r"(#+) ", following)
            if deeper and len(deeper.group(1)) <= len(heading.group(1)):
                break
            rest.append(following)
        if not "".join(rest).strip():
            found.append(line)
    return found


def check_once(
    project: Baked, check: str, checked_trees: Path, command: list[str], digest: str = ""
) -> None:
    """Run `command` in `project` unless an identical tree is being or was checked.

    The first test process to claim the tree runs the check; a twin waits for its
    verdict instead of loading the same cores with the same work.
    """
    verdict = checked_trees / f"{check}-{digest or project.digest}"
    claim = verdict.with_suffix(".claimed")
    try:
        claim.touch(exist_ok=False)
    except FileExistsError:
        deadline = time.monotonic() + 900
        while not verdict.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert verdict.read_text() == "passed", f"an identical tree failed {check}"
        return
    try:
        run(command, project.path)
    except BaseException:
        verdict.write_text("failed")
        raise
    verdict.write_text("passed")


@pytest.mark.parametrize("combo", VALID, ids=combo_id)
def test_bake(bake: Bake, combo: dict[str, Any]) -> None:
    """The project has the files of what was chosen, and none of what was not."""
    project = bake(combo).path
    answers = resolved(combo)
    package = answers["package_name"]
    features = POST_GEN.chosen_features(answers)
    listed = {path for paths in POST_GEN.FEATURE_FILES.values() for path in paths}
    for path in listed:
        wanted = any(path in POST_GEN.FEATURE_FILES.get(name, []) for name in features)
        assert (project / path.format(package=package)).exists() is wanted, path
    assert (project / ".env").exists()
    assert (project / "src" / package / "api" / "__init__.py").exists()


@pytest.mark.parametrize("combo", VALID, ids=combo_id)
def test_no_leftovers(bake: Bake, combo: dict[str, Any]) -> None:
    """No template syntax, no blank-line debris, no empty README section, CI as documented."""
    project = bake(combo).path
    for path in rendered_text_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".yml" and ".github" in path.parts:
            text = text.replace("${{", "")  # GitHub Actions expressions
        assert not JINJA_LEFTOVER.search(text), f"template syntax left in {path}"
        assert not BLANK_RUN.search(text), f"blank-line debris in {path}"
        assert text.endswith("\n") or not text, f"{path} does not end with a newline"
    assert empty_sections((project / "README.md").read_text()) == []
    assert_ci_config(project, resolved(combo))


def assert_ci_config(project: Path, answers: dict[str, Any]) -> None:
    """The generated CI runs the README's test command, with the servers as services."""
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    job = workflow["jobs"]["test"]
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands[-1] == "pytest"
    readme = (project / "README.md").read_text()
    assert "\npytest\n" in readme
    assert "pip install -e '.[test]'" in readme
    assert "pip install -e '.[test]'" in commands
    servers = [name for name in answers["__servers"].split(",") if name]
    containers = {name for name in servers if hasattr(service_parts(name, answers), "ci")}
    assert set(job.get("services", {})) == containers
    for step in job["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    pre_commit = (project / ".pre-commit-config.yaml").read_text()
    assert "{{" not in pre_commit
    assert "{%" not in pre_commit
    hooks = {hook["id"] for repo in yaml.safe_load(pre_commit)["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy", "end-of-file-fixer"} <= hooks


@pytest.mark.parametrize("combo", VALID, ids=combo_id)
def test_ruff(bake: Bake, combo: dict[str, Any], checked_trees: Path) -> None:
    project = bake(combo)
    check_once(project, "ruff", checked_trees, [sys.executable, "-m", "ruff", "check", "."])
    check_once(
        project, "format", checked_trees, [sys.executable, "-m", "ruff", "format", "--check", "."]
    )


@pytest.mark.parametrize("combo", VALID, ids=combo_id)
def test_mypy(bake: Bake, combo: dict[str, Any], checked_trees: Path, mypy_cache: Path) -> None:
    project = bake(combo)
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(mypy_cache)]
    check_once(project, "mypy", checked_trees, command)


def code_group(combo: dict[str, Any]) -> str:
    """What decides the generated code: strategy, broker and services, once resolved.

    broker=auto renders what the broker it resolves to does, and Docker adds files
    but no code: combinations of one group run the same tests, so they run once.
    """
    answers = resolved(combo)
    services = answers["__services"] or "none"
    return f"{answers['async_strategy']}-{answers['__broker']}-{services}-{answers['push']}"


GROUPS: dict[str, dict[str, Any]] = {}  # each group's first combination
for _combo in VALID:
    GROUPS.setdefault(code_group(_combo), _combo)
# Each group's test runs: (its id, its combination, the run's number, the run's options).
RUNS: list[tuple[str, dict[str, Any], int, list[str]]] = []
for _group, _combo in GROUPS.items():
    _runs = pytest_runs(_combo)
    for _number, _options in enumerate(_runs, start=1):
        _id = f"{_group}-part{_number}" if len(_runs) > 1 else _group
        RUNS.append((_id, _combo, _number, _options))


@pytest.mark.parametrize("combo", VALID, ids=combo_id)
def test_same_code_as_its_group(bake: Bake, combo: dict[str, Any]) -> None:
    """What lets test_pytest run once per group: the tested code is the same."""
    assert bake(combo).tested == bake(GROUPS[code_group(combo)]).tested


@pytest.mark.parametrize(
    ("combo", "number", "options"), [r[1:] for r in RUNS], ids=[r[0] for r in RUNS]
)
def test_pytest(
    bake: Bake, combo: dict[str, Any], number: int, options: list[str], checked_trees: Path
) -> None:
    project = bake(combo)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"]
    check = f"pytest-{number}"
    check_once(project, check, checked_trees, [*command, *options], digest=project.tested)


@pytest.mark.parametrize("combo", INVALID, ids=combo_id)
def test_every_invalid_combination_is_refused_with_a_reason(
    cookies: Any, combo: dict[str, Any]
) -> None:
    result = cookies.bake(extra_context=combo)
    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None or not Path(result.project_path).exists()


def test_empty_sections_are_found() -> None:
    markdown = "# A\n\ntext\n\n## B\n\n## C\n\nmore\n\n### D\n"
    assert empty_sections(markdown) == ["## B", "### D"]
