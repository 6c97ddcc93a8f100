"""Cold starts of two checkouts, interleaved: `python -m bench.cold_ab OTHER [--runs N]`.

OTHER is another checkout of the repository, e.g. a worktree of main (`git
worktree add ../before HEAD~3`), run with its own `.venv` if it has one, else
with this one's interpreter and packages. Each checkout's layer packages are
imported from a copy with the layers' build-time bytecode
(procs.layer_bytecode), so each runs its own code whatever the venv's
editable installs point at. Both serve the same first request
against the same moto and upstream, one run of each in turn, so a busy
machine slows both alike: on a shared machine this is the before/after
figure to trust, not two cold_start sections run minutes apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench import procs, sections
from bench.stack import BenchStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_ab", description=__doc__)
    parser.add_argument("other", type=Path, help="the other checkout (with .venv)")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    other_python = args.other / ".venv" / "bin" / "python"
    checkouts = {"other": (other_python if other_python.exists() else Path(sys.executable), args.other.resolve()),
                 "this": (Path(sys.executable), procs.ROOT)}
    stack = BenchStack()
    results: dict[str, Any] = {"load_average_at_start": os.getloadavg()}
    try:
        stack.start()
        env = stack.gateway_env(count_aws_calls=False)
        paths = {name: procs.layer_bytecode(root, stack.log_dir / f"opt-python-{name}") for name, (_, root) in checkouts.items()}
        events = sections.cold_events(stack.api_key)
        for function, event in events.items():
            event_file = stack.log_dir / f"event-{function}.json"
            event_file.write_text(json.dumps(event))
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
            for _ in range(args.runs):
                for name, (python, root) in checkouts.items():
                    runs[name].append(procs.cold_run(python, root, function, event_file, {**env, "PYTHONPATH": paths[name]}))
            for name, found in runs.items():
                results[f"{function} {name}"] = {
                    "total_ms": round(statistics.median(r["total_ms"] for r in found), 1),
                    "import_ms": round(statistics.median(r["import_ms"] for r in found), 1),
                    "first_request_ms": round(statistics.median(r["first_request_ms"] for r in found), 1),
                    "best_total_ms": round(min(r["total_ms"] for r in found), 1),
                    # CPU from spawn to answer: steadier than wall time on a shared machine.
                    "cpu_ms": round(statistics.median(r["cpu_ms"] for r in found), 1),
                    "modules": found[-1]["modules"],
                    "max_rss_mb": round(max(r["max_rss_mb"] for r in found), 1),
                    "status": sorted({r["status"] for r in found}),
                    "loaded": found[-1]["loaded"],
                    "runs": len(found),
                }
    finally:
        stack.stop()
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
