"""Fixtures for the template's own tests."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter

from .matrix import TEMPLATE, combo_id

# What a generated project's checks see: every file but the secret and the answers.
NOT_CHECKED = {".env", ".cookiecutter.json"}
# What its own tests run: the code and the tests, but for those of the container files
# (a project without Docker runs the same tests, less test_docker.py).
TESTED = re.compile(r"(src|bench)/.*|tests/(?!test_docker\.py).*|pyproject\.toml")


@dataclasses.dataclass(frozen=True)
class Baked:
    """A generated project, with digests that tell identical trees apart from different ones."""

    path: Path
    digest: str  # every file its checks see
    tested: str  # what its own test suite runs


@pytest.fixture(scope="session")
def bake(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, Any]], Baked]:
    """Bake a combination once per test process; every check of it reuses the project."""
    baked: dict[str, Baked] = {}

    def bake_once(combo: dict[str, Any]) -> Baked:
        key = combo_id(combo)
        if key not in baked:
            out = tmp_path_factory.mktemp("bake")
            project = cookiecutter(
                str(TEMPLATE), no_input=True, extra_context=combo, output_dir=str(out)
            )
            # Digests are taken now, before any tool writes its cache into the tree.
            path = Path(project)
            baked[key] = Baked(path, tree_digest(path), tree_digest(path, TESTED))
        return baked[key]

    return bake_once


def tree_digest(project: Path, only: re.Pattern[str] | None = None) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in project.rglob("*") if p.is_file()):
        relative = path.relative_to(project).as_posix()
        if relative in NOT_CHECKED or (only and not only.fullmatch(relative)):
            continue
        content = path.read_bytes()
        if relative == "pyproject.toml":  # the test tools' settings, not the dependencies
            content = content[content.index(b"[tool.pytest") :]
        digest.update(relative.encode() + b"\0" + content + b"\0")
    return digest.hexdigest()


@pytest.fixture(scope="session")
def checked_trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Digests of generated trees that passed a check, shared by the xdist workers."""
    folder = tmp_path_factory.getbasetemp().parent / "checked-trees"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One mypy cache per xdist worker: third-party modules are analysed once."""
    return tmp_path_factory.getbasetemp().parent / f"mypy-cache-{worker_id}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest checks first, each paired with a short one.

    xdist's load scheduler starts each worker on two consecutive tests: paired
    this way, every worker starts on a long one, and the suite lasts about as
    long as its longest test. A project's own test suite takes the most; Celery's
    (a 30 s broker outage, real workers) the most of all.
    """

    def cost(item: pytest.Item) -> int:
        if item.name.startswith("test_pytest[celery"):
            return 0
        return 1 if item.name.startswith(("test_pytest", "test_an_endpoint_added")) else 2

    items.sort(key=cost)
    long = [item for item in items if cost(item) < 2]
    short = items[len(long) :]
    paired = [item for pair in zip(long, short, strict=False) for item in pair]
    items[:] = paired + short[len(long) :]
