"""The option matrix, computed from cookiecutter.json, and the hooks loaded as modules."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from jinja2 import Environment, FileSystemLoader

TEMPLATE = Path(__file__).resolve().parent.parent
PROMPTS: dict[str, Any] = json.loads((TEMPLATE / "cookiecutter.json").read_text("utf-8"))


def load_hook(name: str, answers: dict[str, Any] | None = None) -> ModuleType:
    """Render hooks/<name>.py with `answers` (as cookiecutter would) and import it."""
    source = (TEMPLATE / "hooks" / f"{name}.py").read_text("utf-8")
    rendered = Environment(autoescape=False).from_string(source).render(cookiecutter=answers or {})
    spec = importlib.util.spec_from_loader(f"hook_{name}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(rendered, f"hooks/{name}.py", "exec"), module.__dict__)
    return module


PRE_GEN = load_hook("pre_gen_project")
POST_GEN = load_hook("post_gen_project")


def options(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, bool):
        return [True, False]
    return []


# Prompts whose every answer is not multiplied by all the others (see their combinations).
APART = {"push"}


def all_combinations() -> list[dict[str, Any]]:
    """The full product of every choice list and boolean prompt, but for those set apart."""
    keys = [k for k, v in PROMPTS.items() if k[0] != "_" and k not in APART and options(v)]
    product = itertools.product(*(options(PROMPTS[k]) for k in keys))
    return [dict(zip(keys, values, strict=True)) for values in product]


def is_valid(combo: dict[str, Any]) -> bool:
    return PRE_GEN.check_broker(combo["async_strategy"], combo["broker"]) is None


def resolved(combo: dict[str, Any]) -> dict[str, Any]:
    """Every answer as the template sees it, the derived `__` ones included."""
    context = generate_context(str(TEMPLATE / "cookiecutter.json"), extra_context=combo)
    answers: dict[str, Any] = prompt_for_config(context, no_input=True)
    return answers


def service_parts(name: str, answers: dict[str, Any]) -> Any:
    """The macros and names of templates/services/<name>.jinja, as a module."""
    loader = FileSystemLoader(TEMPLATE / "templates")
    template = Environment(loader=loader).get_template(f"services/{name}.jinja")
    return template.make_module({"cookiecutter": answers})


def combo_id(combo: dict[str, Any]) -> str:
    return "-".join(str(v) for v in combo.values())


def service_combinations() -> list[dict[str, Any]]:
    """Each service alone, and all of them together with each strategy.

    The full product of strategies and service sets would be thousands of
    projects; a service's code does not depend on the strategy beside it, so
    each alone (with the strategies in turn) and all together cover every pair.
    """
    strategies = options(PROMPTS["async_strategy"])
    services = list(PRE_GEN.SERVICES)
    base = {"broker": "auto", "use_docker": True}
    # Started at the third strategy: memcached, which cannot hold a /sleep, meets async_client.
    alone = [
        {"async_strategy": strategies[(index + 2) % len(strategies)], **base, "services": name}
        for index, name in enumerate(services)
    ]
    together = [
        {"async_strategy": strategy, **base, "services": ",".join(services)}
        for strategy in strategies
    ]
    return alone + together


def push_combinations() -> list[dict[str, Any]]:
    """Each way to push with each strategy, once with a broker among the services, once without.

    Push code does not depend on the strategy; the strategy's own tests run in
    the rest of the matrix. The brokers take turns.
    """
    strategies = options(PROMPTS["async_strategy"])
    ways = [way for way in options(PROMPTS["push"]) if way != "none"]
    brokers = ["redis", "rabbitmq"]
    pairs = itertools.product(ways, strategies)
    base = {"broker": "auto", "use_docker": True}
    return [
        {"async_strategy": strategy, **base, "services": services, "push": way}
        for index, (way, strategy) in enumerate(pairs)
        for services in ("", brokers[index % len(brokers)])
    ]


SHARDS = 3  # runs the longest project's per-service tests are split into, side by side


def pytest_runs(combo: dict[str, Any]) -> list[list[str]]:
    """The pytest runs of a project's own tests, each its options: usually one, whole.

    All services are tested in full beside the first strategy, the longest run of
    all: its per-service tests are split over a few runs that go side by side.
    Beside the other strategies, each service's own tests would only repeat that
    (its code does not depend on the strategy), so those runs keep what tests the
    app as a whole: the contract, the strategy's tests, the server, each client
    started beside the rest. A project that pushes runs the contract and what
    its channels and push do.
    """
    way = combo.get("push", "none")
    if way != "none":
        chosen = [f"tests/test_{way}.py", "tests/test_live_page.py", "tests/test_long_poll.py"]
        if combo.get("services"):
            chosen.append("tests/test_broker_channels.py")
        return [["tests/test_contract.py", *chosen]]
    chosen_services = {name for name in combo.get("services", "").split(",") if name}
    if chosen_services != set(PRE_GEN.SERVICES):
        return [[]]
    own = [f"tests/test_{name}.py" for name in [*PRE_GEN.SERVICES, "items", "migrations"]]
    app_wide = [f"--ignore={path}" for path in own]
    if combo["async_strategy"] != options(PROMPTS["async_strategy"])[0]:
        return [app_wide]
    return [app_wide, *(own[shard::SHARDS] for shard in range(SHARDS))]


VALID = [c for c in all_combinations() if is_valid(c)]
VALID += service_combinations() + push_combinations()
INVALID = [c for c in all_combinations() if not is_valid(c)]
