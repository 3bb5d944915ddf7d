"""Run every benchmark in turn; each writes its report into ``benchmarks/reports/``.

    .venv/bin/python benchmarks/run_all.py            # full runs (about an hour on 2 cores)
    .venv/bin/python benchmarks/run_all.py --quick    # smoke runs into a temporary folder
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("retrieval.py", "policies.py", "ope.py", "llm.py", "batch.py", "offline_ml100k.py",
           "events_import.py")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs, reports to a temp dir")
    args = parser.parse_args()
    out_dir = Path(tempfile.mkdtemp(prefix="shelfwise-bench-")) if args.quick else None
    failed = []
    for script in SCRIPTS:
        cmd = [sys.executable, str(HERE / script)]
        if out_dir is not None:
            cmd += ["--quick", "--out", str(out_dir / script.replace(".py", ".md"))]
        print(f"== {' '.join(cmd)}", flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
