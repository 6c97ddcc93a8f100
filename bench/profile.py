"""cProfile over one bench worker serving warm plain prompts:
`python -m bench.profile [--requests N] [--scenario prompt_plain|passthrough]`.

The worker profiles only its handler calls (what a Lambda invocation runs),
after the warm-up, and writes the stats when it stops; this prints the
functions with the most own time and the most cumulative time. cProfile slows
small calls more than large ones, so read the ranking, not the milliseconds.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from pathlib import Path

from bench import load, sections
from bench.stack import BenchStack


def groups(stats: pstats.Stats, requests: int) -> list[tuple[float, float, str]]:
    """The plain prompt's handler CPU in the parts docs/performance.md ranks: (share %, profiled ms per request, part)."""
    table = stats.stats  # type: ignore[attr-defined]

    def cum(file_end: str, function: str) -> float:
        return sum(v[3] for (f, _, n), v in table.items() if f.endswith(file_end) and n == function)

    # Since the journal moved after the answer, its write runs in the local gateway's
    # `answered` (as the Lambda extension runs it), outside the handler: counted in the total.
    after = cum("gateway.py", "answered")
    total, handle = cum("logger.py", "decorate") + after, cum("web.py", "handle")
    write = cum("journal.py", "_write") or cum("journal.py", "finish")
    resolve, route, run, provider = (cum("api_gateway.py", "resolve"), cum("prompt/app.py", "_prompt"), cum("chat.py", "run_prompt"),
                                     cum("providers.py", "chat_completion"))
    parts = [("journal write: one BatchWriteItem" + (", after the answer" if after else " (journal.finish)"), write),
             ("provider call: urllib3 POST and read, shape check (providers.chat_completion)", provider),
             ("chat loop itself: plugin selection, session items, usage (run_prompt - provider call)", run - provider),
             ("route outside the chat loop: body JSON, key check, limits plan, envelope", route - run),
             ("web.handle outside the resolver" + ("" if after else " and the journal write"), handle - resolve - (0 if after else write)),
             ("Powertools Logger/Metrics decorators, EMF flush", total - after - handle),
             ("Powertools resolver around the route", resolve - route)]
    if after:
        parts.append(("after the answer, besides the journal write (the extension's bookkeeping)", after - write))
    if not total:
        return []
    return sorted(((100 * v / total, v * 1000 / max(requests, 1), name) for name, v in parts), reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--scenario", choices=("prompt_plain", "passthrough"), default="prompt_plain")
    parser.add_argument("--out", type=Path, help="where to keep the raw stats (pstats format)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--cpu-only", action="store_true", help="no profiler: the CPU per request alone (for a quick A/B)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="smarter-profile-")) / "worker.prof"

    stack = BenchStack()
    try:
        stack.start()
        extra_env = {} if args.cpu_only else {"SMARTER_BENCH_PROFILE": str(out)}
        [worker] = stack.start_workers(1, count_aws_calls=False, extra_env=extra_env)
        key = stack.api_key
        make = {"prompt_plain": lambda i: sections.prompt_request(key, sections.PLAIN),
                "passthrough": lambda i: sections.passthrough_request(key, sections.PLAIN)}[args.scenario]
        # The warm-up is not profiled: the worker starts profiling at the first request after it.
        result = load.run([worker.port], make, total=args.requests, concurrency=1, warmup=20, cpu_pids=[worker.pid])
        print(f"{result.count} requests, {result.cpu_s * 1000 / max(result.count, 1):.2f} ms CPU each"
              + ("" if args.cpu_only else " (profiled: slower)"))
        stack.stop_services([worker])
    finally:
        stack.stop()
    if args.cpu_only:
        return 0
    stats = pstats.Stats(str(out))
    if args.scenario == "prompt_plain":
        print("\n--- where the handler's CPU goes (cumulative, grouped) ---")
        for share, ms, name in groups(stats, args.requests):
            print(f"  {share:5.1f}%  {ms:7.3f} ms/req  {name}")
    stats.strip_dirs()
    print(f"\nstats in {out}\n\n--- own time (tottime) ---")
    stats.sort_stats("tottime").print_stats(args.top)
    print("--- cumulative ---")
    stats.sort_stats("cumulative").print_stats(args.top * 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
