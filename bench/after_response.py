"""What writing the journal after the answer changes for the client:
`python -m bench.after_response` (about a minute).

One gateway process (one warm "container"), the warm plain prompt, with
SMARTER_JOURNAL_AFTER_RESPONSE off (the write before the answer) and on (the
write after it, before the function takes its next request, as the Lambda
extension does), interleaved off/on/off/on so the machine's drift hits both.
Two arrival patterns:

- back to back (the bench's closed loop at c=1): the next request arrives the
  moment the answer does, so it waits for the previous write: one environment
  saturated, where the saving moves to the next request;
- paced: a pause after each answer (longer than the write), the case of an
  environment that is not saturated (Lambda sends a request to an idle
  environment): the client no longer waits for DynamoDB at all.

The JSON goes to bench/results/after_response.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import load, procs
from bench.load import summary
from bench.sections import OVERHEAD, PLAIN, prompt_request
from bench.stack import BenchStack

OUT = procs.ROOT / "bench" / "results" / "after_response.json"


def _run(port: int, api_key: str, n: int, gap_s: float) -> dict[str, Any]:
    conn = load._Connection(port, 30.0)
    samples = []
    try:
        for _ in range(n):
            samples.append(conn.send(prompt_request(api_key, PLAIN)))
            if gap_s:
                time.sleep(gap_s)
    finally:
        conn.close()
    bad = [s.status for s in samples if s.status >= 400]
    if bad:
        raise RuntimeError(f"{len(bad)} failed requests, e.g. {bad[0]}")
    rounded = lambda values: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in summary(values).items()}  # noqa: E731
    return {
        "client_ms": rounded([s.latency_ms for s in samples]),
        "overhead_ms": rounded([float(s.headers[OVERHEAD]) for s in samples if OVERHEAD in s.headers]),
        "billed_wall_ms": rounded([float(s.headers["x-bench-handler-wall-ms"]) for s in samples if "x-bench-handler-wall-ms" in s.headers]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.after_response", description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="measured requests per mode, pattern and round")
    parser.add_argument("--gap-ms", type=float, default=40.0, help="the pause after each answer in the paced pattern")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    runs: dict[str, dict[str, list[dict[str, Any]]]] = {mode: {"back_to_back": [], "paced": []} for mode in ("off", "on")}
    with BenchStack() as stack:
        for round_ in range(args.rounds):
            for mode in ("off", "on"):
                [worker] = stack.start_workers(1, count_aws_calls=False, extra_env={"SMARTER_JOURNAL_AFTER_RESPONSE": mode})
                try:
                    _run(worker.port, stack.api_key, 30, 0)  # warm-up
                    runs[mode]["back_to_back"].append(_run(worker.port, stack.api_key, args.requests, 0))
                    runs[mode]["paced"].append(_run(worker.port, stack.api_key, args.requests, args.gap_ms / 1000))
                finally:
                    stack.stop_services([worker])
                print(f"round {round_ + 1} {mode}: done", file=sys.stderr, flush=True)

    def median_of(mode: str, pattern: str, figure: str, stat: str) -> float:
        values = sorted(run[figure][stat] for run in runs[mode][pattern])
        return round(values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2, 2)

    table = {}
    for pattern in ("back_to_back", "paced"):
        table[pattern] = {
            mode: {f"{figure}_{stat}": median_of(mode, pattern, figure, stat) for figure in ("client_ms", "overhead_ms", "billed_wall_ms") for stat in ("p50", "p99")}
            for mode in ("off", "on")
        }
    result = {"method": __doc__.split("\n\n")[1].replace("\n", " "), "requests": args.requests, "gap_ms": args.gap_ms, "rounds": args.rounds,
              "summary": table, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| pattern | journal write | client p50 | client p99 | overhead header p50 | billed (handler + after) p50 |")
    print("|---|---|---:|---:|---:|---:|")
    for pattern, modes in table.items():
        for mode, row in modes.items():
            label = "before the answer" if mode == "off" else "after the answer"
            print(f"| {pattern.replace('_', ' ')} | {label} | {row['client_ms_p50']} | {row['client_ms_p99']} | {row['overhead_ms_p50']} | {row['billed_wall_ms_p50']} |")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
