"""Cold-start time of ``shelfwise search``: each run a new process, as a shopper's shell runs it.

For each setting, ``shelfwise search QUERY -w WS --json`` runs ``--runs`` times in a fresh
Python process (the file-system cache is warm: the first, uncounted run reads the files);
the report gives the wall-time p50, min and max, and the CPU time of the child (user + sys,
less sensitive to the other jobs on this shared 2-core machine than wall time). Settings:

- ``auto``: the default (the text model through ONNX Runtime, exported once and cached);
- ``torch``: ``SHELFWISE_TEXT_BACKEND=torch``, the sentence-transformers path of before.

Both backends must return the same top 10 (checked). ``python -X importtime`` of the default
run lists the costliest imports. Writes ``benchmarks/reports/cold_start.md``::

    .venv/bin/python benchmarks/cold_start.py --workspace /tmp/demo-ws [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 2.0
"""The issue's target: a cold ``shelfwise search`` in at most 2 s on this machine."""

NOTES = (
    "What changed (commits 6a46c80, 62612e2): the default text model runs through ONNX "
    "Runtime + `tokenizers` (exported once with `torch.onnx.export`, cached under "
    "`~/.cache/shelfwise/onnx/<hash of the model files>`; same vectors to ~1e-6, same top 10 "
    "on 15 demo queries: tests/coldstart), so a search imports neither torch, transformers "
    "nor sentence-transformers; the aligned image encoder (torch) loads on first use; "
    "`shelfwise.lexical` takes word forms from `agent.words` instead of `agent.explain`; "
    "`inflect` is imported without typeguard's `@typechecked` instrumentation, which "
    "recompiled 23 of its methods at every start (about 2 s of CPU). Before: the issue "
    "measured 13.7 s; at the start of this session (load 2-6) a cold search took 8.4 s "
    "wall, 7.4 s CPU; the `torch` row above is that path today.\n\n"
    "Then (commit e2d72cf) search stopped importing LangChain: `agent.intent` takes the "
    "fallback word lists from `agent.words` and imports `BaseChatModel` only for type "
    "checking (0.2-0.4 s of CPU; a 4.0 s importtime total under load became 0.4 s).\n\n"
    "Reading the numbers: the table's load column is the number of runnable processes before "
    "each run; on this shared machine wall time follows it (earlier runs at load 14-22 gave "
    "5.65 s wall for the default path). The CPU column is what the process itself needs. "
    "What is left, largest first: the ONNX session (reading the 90 MB model), typer, numpy, "
    "FAISS and pydantic (0.1-0.2 s each)."
)
"""The analysis printed under the tables (measured by hand on the commits named)."""

QUERY = "red leather handbag"
REPORT = Path(__file__).resolve().parent / "reports" / "cold_start.md"

def _command(setting: str, workspace: Path, importtime: bool = False) -> list[str]:
    args = ["search", QUERY, "-w", str(workspace), "--json", "-k", "10"]
    py = [sys.executable, *(["-X", "importtime"] if importtime else [])]
    return [*py, "-m", "shelfwise", *args]


def _env(setting: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SHELFWISE_TEXT_BACKEND"] = "torch" if setting == "torch" else "auto"
    return env


def _run(setting: str, workspace: Path) -> tuple[float, float, list[str], float]:
    """``(wall s, child CPU s, top-10 ids, load average before)`` of one cold search."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(_command(setting, workspace), env=_env(setting), capture_output=True,
                          text=True, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{setting}: shelfwise search failed:\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, [h["id"] for h in json.loads(proc.stdout)], load


def _importtime(workspace: Path, top: int = 15) -> tuple[list[tuple[float, str]], float]:
    """The ``top`` imports (nesting depth <= 2) by cumulative time, and the total import
    time, from ``python -X importtime`` of the default run."""
    proc = subprocess.run(_command("auto", workspace, importtime=True), env=_env("auto"),
                          capture_output=True, text=True, timeout=600)
    rows: list[tuple[int, float, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum_us, name = line.split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((depth, int(cum_us) / 1e6, name.strip()))
    total = sum(cum for depth, cum, _ in rows if depth == 0)
    ranked = sorted(((cum, name) for depth, cum, name in rows if depth <= 2), reverse=True)
    return ranked[:top], total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace", type=Path, default=os.environ.get("SHELFWISE_TEST_DEMO"),
                    help="A built workspace (copied; default $SHELFWISE_TEST_DEMO).")
    ap.add_argument("--runs", type=int, default=7, help="Cold runs per setting.")
    ap.add_argument("--settings", default="auto,torch",
                    help="Comma-separated settings: auto, torch (see the module docstring).")
    ap.add_argument("--out", type=Path, default=REPORT)
    args = ap.parse_args()
    if args.workspace is None:
        raise SystemExit("give --workspace (a built demo workspace) or set SHELFWISE_TEST_DEMO")
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = set(settings) - {"auto", "torch"}
    if unknown:
        raise SystemExit(f"unknown settings {sorted(unknown)}; choose from: auto, torch")

    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        shutil.copytree(args.workspace, ws)
        results: dict[str, dict[str, object]] = {}
        ids: dict[str, list[str]] = {}
        for setting in settings:
            _run(setting, ws)  # first run: files into the page cache, ONNX export if missing
            walls, cpus, loads = [], [], []
            for _ in range(args.runs):
                wall, cpu, top, load = _run(setting, ws)
                walls.append(wall)
                cpus.append(cpu)
                loads.append(load)
                ids[setting] = top
            results[setting] = {"walls": walls, "cpus": cpus, "loads": loads}
            print(f"{setting}: p50 {statistics.median(walls):.2f} s wall, "
                  f"{statistics.median(cpus):.2f} s CPU (load {min(loads):.1f}-{max(loads):.1f})",
                  flush=True)
        offenders, total = _importtime(ws)

    same = len({tuple(v) for v in ids.values()}) == 1
    lines = [
        "# Cold start: `shelfwise search` in a new process",
        "",
        f"`{' '.join(['shelfwise', 'search', repr(QUERY), '-w', 'WS', '--json', '-k', '10'])}` "
        f"on a copy of the demo workspace ({args.workspace}), {args.runs} cold processes per "
        "setting after one uncounted run (page cache warm, ONNX export cached). Machine: "
        f"{os.cpu_count()} cores shared with other jobs, Python {platform.python_version()}. "
        "Wall time follows the other jobs on the cores (load average = runnable processes "
        "before each run); CPU = user + sys of the child.",
        "",
        f"Target: p50 <= {TARGET_S:.1f} s wall.",
        "",
        "| setting | p50 wall (s) | min | max | p50 CPU (s) | load avg | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for setting, r in results.items():
        walls, cpus, loads = r["walls"], r["cpus"], r["loads"]  # type: ignore[assignment]
        p50 = statistics.median(walls)  # type: ignore[arg-type]
        lines.append(
            f"| {setting} | {p50:.2f} | {min(walls):.2f} | {max(walls):.2f} | "  # type: ignore[type-var]
            f"{statistics.median(cpus):.2f} | {min(loads):.1f}-{max(loads):.1f} | "  # type: ignore[arg-type,type-var]
            f"{'met' if p50 <= TARGET_S else 'MISSED'} |")
    lines += [
        "",
        f"Same top 10 from every setting: {'yes' if same else 'NO'} "
        f"({', '.join(next(iter(ids.values())))}).",
        "",
        *NOTES.split("\n"),
        "",
        f"## Costliest imports of the default run (`python -X importtime`, total "
        f"{total:.2f} s)",
        "",
        "Cumulative seconds (a module's own time plus what it imports), top levels only:",
        "",
        "| cumulative (s) | module |",
        "|---:|---|",
        *[f"| {cum:.3f} | `{name}` |" for cum, name in offenders],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
