"""The generated README's recipes, followed literally, and what the wheel ships."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Baked
from .matrix import PROMPTS, resolved
from .test_bake import run

Bake = Callable[[dict[str, Any]], Baked]


def recipe(readme: str) -> tuple[list[str], str]:
    """The "Add an endpoint" section's code blocks and the route it says to add."""
    section = readme.split("## Add an endpoint", 1)[1].split("\n## ", 1)[0]
    blocks = [
        re.sub(r"^   ", "", block, flags=re.MULTILINE)
        for block in re.findall(r"```python\n(.*?)   ```", section, flags=re.DOTALL)
    ]
    route = re.search(r"and add `(.+?)` as the first line of the list in `routes\(\)`", section)
    assert route, "the recipe must say which route to add"
    return blocks, route.group(1)


@pytest.mark.parametrize("strategy", PROMPTS["async_strategy"])
def test_an_endpoint_added_as_the_readme_says_is_served_and_tested(
    bake: Bake, strategy: str, mypy_cache: Path
) -> None:
    combo = {"async_strategy": strategy, "project_name": f"recipe {strategy}"}
    project = bake(combo).path
    package = resolved(combo)["package_name"]
    (module, import_line, test), route = recipe((project / "README.md").read_text())
    api = project / "src" / package / "api"
    # 1. the module; 2. its import after the others, its URL first in routes(); 3. its test
    (api / "greeting.py").write_text(module)
    init = (api / "__init__.py").read_text()
    last_import = max(init.rfind("\nfrom "), init.rfind("\nimport "))
    end_of_line = init.index("\n", last_import + 1)
    init = init[: end_of_line + 1] + import_line + init[end_of_line + 1 :]
    init = init.replace("    return [\n", f"    return [\n        {route}\n", 1)
    (api / "__init__.py").write_text(init)
    (project / "tests" / "test_greeting.py").write_text(test)
    run([sys.executable, "-m", "ruff", "check", "."], project)
    run([sys.executable, "-m", "ruff", "format", "--check", "."], project)
    run([sys.executable, "-m", "mypy", "--cache-dir", str(mypy_cache)], project)
    tests = ["tests/test_greeting.py"]
    run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *tests],
        project,
    )


def test_the_wheel_holds_the_package_and_no_benchmark(bake: Bake, tmp_path: Path) -> None:
    """What the image installs: the package with the live page's files, nothing else."""
    combo = {"async_strategy": "celery", "project_name": "wheel check", "push": "websocket"}
    project = bake(combo).path
    options = ["--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", str(tmp_path)]
    command = [sys.executable, "-m", "pip", "wheel", *options, str(project)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "wheel_check/celery/client.py" in names
    for static in ("live.html", "live.js", "live.css", "websocket.js"):
        assert f"wheel_check/push/static/{static}" in names
    assert not [name for name in names if "bench" in name or name.startswith("tests/")]
