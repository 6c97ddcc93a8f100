"""`python -m bench` (make bench): every benchmark, a table, and the JSON in
bench/results/latest.json. `--smoke` is a short run of everything (its JSON
goes to bench/results/smoke.json.tmp unless --out says otherwise)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import cost, procs, report, sections
from bench.stack import BenchStack

RESULTS = procs.ROOT / "bench" / "results"
SECTIONS = ("warm", "side_by_side", "cold_start", "growth", "long_load")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a short run of every section (well under a minute)")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    parser.add_argument("--out", type=Path, help="where to write the JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (their folder is printed)")
    args = parser.parse_args(argv)

    sizes = sections.Sizes.smoke() if args.smoke else sections.Sizes.full()
    out_path = args.out or RESULTS / ("smoke.json.tmp" if args.smoke else "latest.json")
    chosen = args.only or list(SECTIONS)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {"meta": _meta(args.smoke, sizes)}
    stack = BenchStack()
    log(f"starting moto and the upstream (logs in {stack.log_dir})")
    try:
        stack.start()
        results["meta"]["section_s"] = {}
        for name in chosen:
            section_started = time.monotonic()
            results[name] = getattr(sections, name)(stack, sizes, log)
            results["meta"]["section_s"][name] = round(time.monotonic() - section_started, 1)
    finally:
        stack.stop()
        if not args.keep_logs:
            shutil.rmtree(stack.log_dir, ignore_errors=True)
    if results.get("warm"):
        results["cost"] = cost.bill(results)
    _drop_per_request(results)
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    results["meta"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = report.targets(results)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report.table(results))
    print(f"\nwritten to {out_path}")
    return 0


def _drop_per_request(data: Any) -> None:
    """The per-request lists kept for the bill ("_" keys) stay out of the JSON."""
    if isinstance(data, dict):
        for key in [k for k in data if k.startswith("_")]:
            del data[key]
        for value in data.values():
            _drop_per_request(value)


def _meta(smoke: bool, sizes: sections.Sizes) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "mode": "smoke" if smoke else "full",
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # The machine is shared: a high load average means noisier figures (ratios are taken within a run).
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": {name: version(name) for name in ("boto3", "openai", "aws-lambda-powertools", "pydantic", "moto")},
        "sizes": sizes.__dict__,
    }


if __name__ == "__main__":
    sys.exit(main())
