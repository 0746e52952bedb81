"""A project generated from an older template version updates cleanly with cruft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .matrix import TEMPLATE

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def sh(*command: str, cwd: Path) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **GIT_ENV},
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def commit_all(folder: Path, message: str) -> None:
    sh("git", "add", "-A", cwd=folder)
    sh("git", "commit", "-q", "-m", message, cwd=folder)


def test_cruft_update_applies_template_changes_and_keeps_the_users(tmp_path: Path) -> None:
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=IGNORED)
    sh("git", "init", "-q", cwd=template)
    commit_all(template, "template v1")

    cruft = [sys.executable, "-m", "cruft"]
    context = json.dumps({"async_strategy": "executor"})
    sh(
        *cruft,
        "create",
        "--no-input",
        "--extra-context",
        context,
        "--output-dir",
        str(tmp_path),
        str(template),
        cwd=tmp_path,
    )
    project = tmp_path / "tornado-service"
    sh("git", "init", "-q", cwd=project)
    commit_all(project, "generated")
    secret = (project / ".env").read_text()
    assert ".env" not in sh("git", "ls-files", cwd=project).split()

    # The user changes a file of their own...
    executor = project / "src/tornado_service/executor.py"
    executor.write_text(executor.read_text() + "# tuned for our load\n")
    commit_all(project, "our change")
    # ...and the template moves on, in other files.
    rendered = template / "{{cookiecutter.project_slug}}"
    with (rendered / "README.md").open("a") as readme:
        readme.write("\nA line from template v2.\n")
    with (rendered / ".env.example").open("a") as example:
        example.write("# A setting documented in template v2.\n")
    commit_all(template, "template v2")

    sh(*cruft, "update", "--skip-apply-ask", "--project-dir", str(project), cwd=project)
    changed = sorted(
        line[3:] for line in sh("git", "status", "--porcelain", cwd=project).splitlines()
    )
    assert changed == [".cruft.json", ".env.example", "README.md"]
    assert not list(project.rglob("*.rej"))
    assert (project / "README.md").read_text().endswith("A line from template v2.\n")
    assert executor.read_text().endswith("# tuned for our load\n")
    assert (project / ".env").read_text() == secret  # the secret is never regenerated


def test_the_answers_file_holds_answers_only(tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    out = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path)))
    answers = json.loads((out / ".cookiecutter.json").read_text())
    assert answers["async_strategy"] == "coroutine"
    assert not [key for key in answers if key.startswith("_")]  # no machine paths
    assert "COOKIE_SECRET" not in json.dumps(answers)
