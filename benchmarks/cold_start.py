"""Cold-start time of ``shelfwise search``: each run a new process, as a shopper's shell runs it.

For each setting, ``shelfwise search QUERY -w WS --json`` runs ``--runs`` times in a fresh
Python process (the file-system cache is warm: the first, uncounted run reads the files);
the report gives the wall-time p50, min and max, and the CPU time of the child (user + sys,
less sensitive to the other jobs on this shared 2-core machine than wall time). Settings:

- ``auto``: the default (the text model through ONNX Runtime, exported once and cached);
- ``torch``: ``SHELFWISE_TEXT_BACKEND=torch``, the sentence-transformers path of before;
- ``auto, inflect w/o typeguard``: the default with ``inflect`` imported without typeguard's
  ``@typechecked`` instrumentation (a proposed fix, applied by this script's wrapper only:
  typeguard recompiles 23 inflect methods at import, about 2 s of CPU).

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

QUERY = "red leather handbag"
REPORT = Path(__file__).resolve().parent / "reports" / "cold_start.md"

_NO_TYPEGUARD = (
    "import sys, types\n"
    "fake = types.ModuleType('typeguard')\n"
    "fake.typechecked = lambda f=None, **k: f if f is not None else (lambda g: g)\n"
    "sys.modules['typeguard'] = fake\n"
    "import inflect\n"
    "del sys.modules['typeguard']\n"
    "from shelfwise.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _command(setting: str, workspace: Path, importtime: bool = False) -> list[str]:
    args = ["search", QUERY, "-w", str(workspace), "--json", "-k", "10"]
    py = [sys.executable, *(["-X", "importtime"] if importtime else [])]
    if setting.endswith("w/o typeguard"):
        return [*py, "-c", _NO_TYPEGUARD, *args]
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
    ap.add_argument("--settings", default="auto;torch;auto, inflect w/o typeguard",
                    help="Settings separated by ';' (see the module docstring).")
    ap.add_argument("--out", type=Path, default=REPORT)
    args = ap.parse_args()
    if args.workspace is None:
        raise SystemExit("give --workspace (a built demo workspace) or set SHELFWISE_TEST_DEMO")
    settings = [s.strip() for s in args.settings.split(";") if s.strip()]

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
