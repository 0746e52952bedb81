"""Bake every combination cookiecutter.json allows; lint, type-check and test each one."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException

from .matrix import INVALID, VALID, combo_id, resolved_broker

JINJA_LEFTOVER = re.compile(r"{{|{%|%}|{#|(?<![.\w])cookiecutter\.\w")
BLANK_RUN = re.compile(r"\n\s*\n\s*\n\s*\n")  # three blank lines: Jinja block debris
TEXT_SUFFIXES = {".py", ".toml", ".md", ".yaml", ".yml", ".example", ".txt", ".cfg", ""}


def run(command: list[str], cwd: Path, timeout: float = 600) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"{' '.join(command)} failed in {cwd}:\n{output}"


def rendered_text_files(project: Path) -> list[Path]:
    return [
        path
        for path in project.rglob("*")
        if path.is_file() and path.suffix in TEXT_SUFFIXES and ".git" not in path.parts
    ]


def assert_clean_render(project: Path) -> None:
    for path in rendered_text_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".yml" and ".github" in path.parts:
            text = text.replace("${{", "")  # GitHub Actions expressions
        assert not JINJA_LEFTOVER.search(text), f"template syntax left in {path}"
        assert not BLANK_RUN.search(text), f"blank-line debris in {path}"
        assert text.endswith("\n") or not text, f"{path} does not end with a newline"


def assert_ci_config(project: Path, broker: str) -> None:
    """The generated CI runs the README's test command, with the broker as a service."""
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    job = workflow["jobs"]["test"]
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands[-1] == "pytest"
    readme = (project / "README.md").read_text()
    assert "\npytest\n" in readme
    assert "pip install -e '.[test]'" in readme
    assert "pip install -e '.[test]'" in commands
    assert set(job.get("services", {})) == ({broker} - {"none"})
    for step in job["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    pre_commit = (project / ".pre-commit-config.yaml").read_text()
    assert "{{" not in pre_commit
    assert "{%" not in pre_commit
    hooks = {hook["id"] for repo in yaml.safe_load(pre_commit)["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy", "end-of-file-fixer"} <= hooks


def tree_digest(project: Path) -> str:
    """What the generated project's checks see: every file but the secret and the answers."""
    digest = hashlib.sha256()
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        relative = path.relative_to(project).as_posix()
        if relative not in {".env", ".cookiecutter.json"}:
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@pytest.mark.parametrize("combo", VALID, ids=combo_id)
def test_every_valid_combination_bakes_lints_and_passes_its_tests(
    cookies: Any, combo: dict[str, Any], mypy_cache: Path, checked_trees: Path
) -> None:
    result = cookies.bake(extra_context=combo)
    assert result.exception is None, result.exception
    project = Path(result.project_path)
    assert_clean_render(project)
    assert_ci_config(project, resolved_broker(combo))
    # broker=auto renders the same files as the broker it resolves to: check each once.
    passed = checked_trees / tree_digest(project)
    if passed.exists():
        return
    run([sys.executable, "-m", "ruff", "check", "."], project)
    run([sys.executable, "-m", "ruff", "format", "--check", "."], project)
    run([sys.executable, "-m", "mypy", "--cache-dir", str(mypy_cache)], project)
    run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"], project)
    passed.touch()


@pytest.mark.parametrize("combo", INVALID, ids=combo_id)
def test_every_invalid_combination_is_refused_with_a_reason(
    cookies: Any, combo: dict[str, Any]
) -> None:
    result = cookies.bake(extra_context=combo)
    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None or not Path(result.project_path).exists()


@pytest.fixture
def checked_trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Digests of generated trees that passed every check, shared by xdist workers."""
    folder = tmp_path_factory.getbasetemp().parent / "checked-trees"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def mypy_cache(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One mypy cache per xdist worker: third-party modules are analysed once."""
    return tmp_path_factory.getbasetemp().parent / f"mypy-cache-{worker_id}"
