"""Bake every strategy, run each generated project's benchmark, write the comparison.

    python bench/compare.py                 # writes docs/benchmarks.md and docs/benchmarks.png
    python bench/compare.py --sizes 100 500 --repeat 1    # a quicker look
    python bench/compare.py --only celery                 # re-measure one, keep the others
    python bench/compare.py --report                      # rewrite from docs/benchmarks.json

Each project's own `python -m bench` starts its server (and worker), a
bare Tornado baseline, and a blocking baseline, all in the same run, and reports
ratios against them; this script only collects those numbers. Not a test: it
takes minutes, and its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

TEMPLATE = Path(__file__).resolve().parent.parent
DOCS = TEMPLATE / "docs"
# strategy, broker, and the settings that let it keep N requests in flight at once.
STRATEGIES: list[tuple[str, str, Callable[[int], dict[str, int]]]] = [
    ("coroutine", "none", lambda n: {}),
    ("callback", "none", lambda n: {}),
    ("executor", "none", lambda n: {"EXECUTOR_THREADS": n}),
    ("celery", "rabbitmq", lambda n: {}),
    ("celery", "redis", lambda n: {}),  # the bench sizes its worker for the burst
    # Each waiting /sleep holds a connection (BLPOP); the subscription holds one more.
    ("async_client", "redis", lambda n: {"REDIS_MAX_CONNECTIONS": n + 1}),
]


def bake(strategy: str, broker: str, out: Path) -> Path:
    name = f"bench {strategy} {broker}"
    context = {"async_strategy": strategy, "broker": broker, "project_name": name}
    return Path(
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=context, output_dir=str(out))
    )


def run_bench(
    project: Path, n: int, args: argparse.Namespace, settings: Callable[[int], dict[str, int]]
) -> dict[str, Any]:
    report = project / f"bench-{n}.json"
    options = {"--requests": n, "--seconds": args.seconds, "--repeat": args.repeat}
    options |= {"--duration": args.duration, "--json": report}
    command = [sys.executable, "-m", "bench", *(str(x) for pair in options.items() for x in pair)]
    if args.processes:
        command.append("--processes")
    environment = {**os.environ, "PYTHONPATH": str(project / "src")}
    environment.update({key: str(value) for key, value in settings(n).items()})
    print(f"  {project.name}: python -m bench --requests {n}", file=sys.stderr, flush=True)
    subprocess.run(command, cwd=project, env=environment, check=True)
    results: dict[str, Any] = json.loads(report.read_text())
    results["measured"] = datetime.date.today().isoformat()
    return results


def table(results: dict[str, dict[int, dict[str, Any]]], sizes: list[int], seconds: float) -> str:
    lines = [
        f"| strategy | N x {seconds:g} s: wall / ideal | failed | /health p99 in the burst "
        "vs bare Tornado's | /health req/s vs bare hello-world | 2 processes vs 1 | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for strategy, by_size in results.items():
        walls = ", ".join(f"{n}: x{by_size[n]['ratios']['sleep_wall_vs_ideal']:.2f}" for n in sizes)
        last = by_size[sizes[-1]]
        failed = sum(r["medians"]["sleeps.failed"] for r in by_size.values())
        lines.append(
            f"| {strategy} | {walls} | {failed:g}"
            f" | x{last['ratios']['health_p99_loaded_vs_bare_loaded']:.2f}"
            f" | x{last['ratios']['health_rps_vs_bare_hello']:.2f}"
            f" | {processes(last)}"
            f" | {last['medians']['peak_rss_mb']:.0f} MB |"
        )
    first = next(iter(results.values()))[sizes[-1]]
    lines.append(
        f"| bare Tornado `asyncio.sleep` | x{first['ratios']['bare_sleep_wall_vs_ideal']:.2f} at "
        f"{sizes[-1]} | 0 | x1.00 | x1.00 | | |"
    )
    blocking = first["medians"]
    lines.append(
        f"| blocking `time.sleep` (10 x 0.2 s) | x{first['ratios']['blocking_wall_vs_ideal']:.1f} "
        f"| 0 | /health p50 {blocking['blocking.p50_ms']:.0f} ms | | | |"
    )
    return "\n".join(lines)


def processes(run: dict[str, Any]) -> str:
    ratio = run["ratios"].get("two_processes_vs_one")
    return "" if ratio is None else f"x{ratio:.2f}"


CELERY_OTHERS = {
    "v010": "v0.1.0 settings",
    "executor": "run_in_executor(result.get)",
    "polling": "polling",
    "saq": "saq",
}


def celery_table(results: dict[str, dict[int, dict[str, Any]]], sizes: list[int]) -> str:
    """Celery's awaiting layer against the other ways to the same result, same run."""
    others = " | ".join(f"vs {label}" for label in CELERY_OTHERS.values())
    cpu = " / ".join(["ours", *CELERY_OTHERS])
    lines = [
        f"| broker | round trips/s c=50 / c=200 | {others} "
        f"| CPU per round trip, web + worker (c=200): {cpu} "
        "| run_in_executor(result.get), 200 at once | web threads, 200 waiting |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for strategy, by_size in results.items():
        if not strategy.startswith("celery"):
            continue
        m, r = by_size[sizes[-1]]["medians"], by_size[sizes[-1]]["ratios"]
        versus = " | ".join(
            f"x{r.get(f'celery_vs_{other}_c50', math.nan):.2f} / "
            f"x{r.get(f'celery_vs_{other}_c200', math.nan):.2f}"
            for other in CELERY_OTHERS
        )
        spent = " / ".join(
            f"{m.get(f'celery.{way}_web_ms_c200', math.nan):.2f} + "
            f"{m.get(f'celery.{way}_worker_ms_c200', math.nan):.2f}"
            for way in ["ours", *CELERY_OTHERS]
        )
        failed = m.get("celery.executor_failed_of_200", math.nan)
        broker = strategy.partition("+")[2]
        lines.append(
            f"| {broker} | {m['celery.ours_c50']:.0f} / {m['celery.ours_c200']:.0f}"
            f" | {versus} | {spent} ms | {failed:.0f} failed or timed out"
            f" | {m['celery.threads_ours']:.0f} / {m['celery.threads_executor']:.0f} |"
        )
    return "\n".join(lines).replace("xnan", "n/a").replace("nan", "n/a")


def plot(
    results: dict[str, dict[int, dict[str, Any]]], sizes: list[int], seconds: float, path: Path
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return False
    figure, (walls, p99) = plt.subplots(1, 2, figsize=(12, 4.5))
    for strategy, by_size in results.items():
        medians = [by_size[n]["medians"] for n in sizes]
        walls.plot(sizes, [m["sleeps.wall_s"] for m in medians], "o-", label=strategy)
        p99.plot(sizes, [m["sleeps.p99_ms"] for m in medians], "o-", label=strategy)
    first = next(iter(results.values()))
    bare = [first[n]["medians"] for n in sizes]
    walls.plot(sizes, [m["bare_sleeps.wall_s"] for m in bare], "k--", label="bare Tornado")
    p99.plot(sizes, [m["bare_sleeps.p99_ms"] for m in bare], "k--", label="bare Tornado")
    # The blocking handler serialises: measured on a few requests, projected to N.
    blocking = first[sizes[0]]
    per_request = (
        blocking["ratios"]["blocking_wall_vs_ideal"] / blocking["arguments"]["blocking_requests"]
    )
    walls.plot(sizes, [n * seconds * per_request for n in sizes], "r:", label="time.sleep")
    walls.set_yscale("log")
    walls.set_title("N concurrent /sleep requests: wall time to the last answer")
    walls.set_xlabel(f"N (each sleeps {seconds:g} s)")
    walls.set_ylabel("seconds")
    p99.set_title("/health p99 while the N are in flight")
    p99.set_xlabel("N")
    p99.set_ylabel("milliseconds")
    for axes in (walls, p99):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--processes", action="store_true", help="also measure 2 processes vs 1")
    parser.add_argument(
        "--only",
        nargs="+",
        help="re-measure these strategies; the others keep their numbers from docs/benchmarks.json",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="measure nothing: write the table, plot and README from docs/benchmarks.json",
    )
    args = parser.parse_args()
    results = earlier_results(args) if args.only or args.report else {}
    with tempfile.TemporaryDirectory() as out:
        for strategy, broker, env in STRATEGIES:
            if args.report or (args.only and strategy not in args.only):
                continue
            print(f"{strategy} ({broker})", file=sys.stderr, flush=True)
            project = bake(strategy, broker, Path(out))
            name = f"{strategy}+{broker}" if strategy == "celery" else strategy
            results[name] = {n: run_bench(project, n, args, env) for n in args.sizes}
            results = {key: results[key] for key in order(results)}
            # Saved as it goes: a failure later on loses nothing measured so far.
            DOCS.mkdir(exist_ok=True)
            (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=1, default=str))
    dates = {run.get("measured") for by_size in results.values() for run in by_size.values()}
    when = " to ".join(sorted(date for date in dates if date)) or datetime.date.today().isoformat()
    machine = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    pictured = plot(results, args.sizes, args.seconds, DOCS / "benchmarks.png")
    repeat = recorded_arguments(results)["repeat"]
    text = [
        "# Benchmarks",
        "",
        f"Measured {when} on {machine}, with `{command_line(results, args.sizes)}`: medians of "
        f"{repeat} repetitions, each ratio taken within one repetition against a baseline "
        "started in the same run (a bare Tornado app). Requests/s measured with "
        f"{load_generator(results)}. The machine is shared and noisy: read the ratios, not the "
        "absolute numbers.",
        "",
        table(results, args.sizes, args.seconds),
        "",
    ]
    if any(name.startswith("celery") for name in results):
        text += [
            "## Celery: awaiting a task result",
            "",
            "HTTP -> no-op task -> result round trips through the generated awaiting layer "
            "(native publisher, lean worker), against the same project with v0.1.0's settings "
            "(`CELERY_PUBLISHER=thread`, `CELERY_TRACK_STARTED=true`, `CELERY_TASK_LOG=true`, "
            "its own web process and worker), `run_in_executor(None, result.get)` and polling "
            "`result.ready()` (each in a process of its own, against our worker), and saq, an "
            "asyncio-native queue on the same Redis (when it is installed), all in the same run "
            f"(N={args.sizes[-1]} runs). With `rpc://` results `result.get()` in a pool thread "
            "never returns, so that baseline is not measured; with Redis results it is, and its "
            "failures under 200 concurrent requests are counted.",
            "",
            celery_table(results, args.sizes),
            "",
        ]
    if pictured:
        text += ["![wall time and /health p99 against N](benchmarks.png)", ""]
    (DOCS / "benchmarks.md").write_text("\n".join(text))
    update_readme("\n".join(text[2:]).replace("](benchmarks.png)", "](docs/benchmarks.png)"))
    print((DOCS / "benchmarks.md").read_text())
    return 0


def earlier_results(args: argparse.Namespace) -> dict[str, dict[int, dict[str, Any]]]:
    """The saved numbers: what --report writes out, and what --only leaves alone."""
    saved = DOCS / "benchmarks.json"
    if not saved.exists():
        return {}
    found = json.loads(saved.read_text())
    kept = {name: {int(n): run for n, run in by_size.items()} for name, by_size in found.items()}
    if any(set(by_size) != set(args.sizes) for by_size in kept.values()):
        raise SystemExit(f"{saved} was measured with other --sizes: measure them all again")
    return kept


def order(results: dict[str, Any]) -> list[str]:
    """The strategies in STRATEGIES' order, whichever ran last."""
    names = [f"{s}+{b}" if s == "celery" else s for s, b, _ in STRATEGIES]
    return sorted(results, key=lambda name: names.index(name) if name in names else len(names))


def recorded_arguments(results: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """The arguments the first bench run recorded (compare.py gives every run the same)."""
    arguments: dict[str, Any] = next(iter(next(iter(results.values())).values()))["arguments"]
    return arguments


def command_line(results: dict[str, dict[int, dict[str, Any]]], sizes: list[int]) -> str:
    """The command that measured these numbers, from what each bench recorded."""
    run = recorded_arguments(results)
    words = ["python bench/compare.py --sizes", *map(str, sizes), "--repeat", str(run["repeat"])]
    return " ".join(words + (["--processes"] if run["processes"] else []))


def load_generator(results: dict[str, dict[int, dict[str, Any]]]) -> str:
    used = {
        run["arguments"]["load_generator"]
        for by_size in results.values()
        for run in by_size.values()
    }
    names = {"wrk": "wrk (1 thread)", "python": "the built-in asyncio client"}
    return " and ".join(names.get(name, name) for name in sorted(used))


def update_readme(section: str) -> None:
    """Put the new numbers between the README's benchmark markers, so it never goes stale."""
    readme = TEMPLATE / "README.md"
    start, end = "<!-- benchmarks -->", "<!-- /benchmarks -->"
    text = readme.read_text()
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    section = section.strip().replace("\n## ", "\n### ")  # under the README's own heading
    readme.write_text(f"{before}{start}\n{section}\n{end}{after}")


if __name__ == "__main__":
    sys.exit(main())
