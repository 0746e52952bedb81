"""Names people really type: each bakes into a valid project, or is refused clearly."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.exceptions import FailedHookException


@pytest.mark.parametrize(
    ("answers", "slug", "package"),
    [
        ({"project_name": "My Service"}, "my-service", "my_service"),
        ({"project_name": "my-hyphenated_name"}, "my-hyphenated-name", "my_hyphenated_name"),
        ({"project_name": "Café Ünïcode Service"}, "cafe-unicode-service", "cafe_unicode_service"),
        (
            {"project_name": 'Bob\'s "Best" API', "description": 'Say "hi" \\ to O\'Brien'},
            "bob-s-best-api",
            "bob_s_best_api",
        ),
        ({"project_name": "3D Viewer", "package_name": "viewer3d"}, "3d-viewer", "viewer3d"),
    ],
)
def test_names_that_bake(cookies: Any, answers: dict[str, str], slug: str, package: str) -> None:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, result.exception
    project = Path(result.project_path)
    assert project.name == slug
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["name"] == slug
    assert metadata["description"] == answers.get(
        "description", "A non-blocking Tornado 6 service."
    )
    assert (project / "README.md").read_text().startswith(f"# {answers['project_name']}\n")
    code = f"import {package}.__main__, {package}.app; print({package}.__doc__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project / "src", capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert answers["project_name"] in done.stdout


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "class"}, "package_name 'class' is a Python keyword"),
        ({"project_name": "3D Viewer"}, "package_name '3d_viewer' is not a valid Python package"),
        ({"project_name": "Tornado"}, "package_name 'tornado' would shadow"),
        (
            {"project_slug": "Not A Slug", "package_name": "ok_service"},
            "project_slug 'Not A Slug' is not valid",
        ),
    ],
)
def test_names_that_are_refused_with_one_clear_line(
    cookies: Any, answers: dict[str, str], message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    result = cookies.bake(extra_context=answers)
    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None or not Path(result.project_path).exists()
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {message}")
