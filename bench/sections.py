"""The four benchmarks. Each returns a JSON-ready dict; __main__ prints them."""

from __future__ import annotations

import collections
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bench import cost, litellm_proxy, load, procs, streams
from bench.load import Request, summary
from bench.stack import ACCOUNT, API_DOMAIN, CLIENT, LIMITED_CLIENT, PLUGIN_COUNTS, BenchStack, plugins_client
from bench.upstream import TOOL_MARKER

PLAIN = "Hello there, how are you today?"
TOOL = f"What are your support hours? {TOOL_MARKER}"
FOLLOW_UP = "And when will the next order arrive?"
OVERHEAD = "x-smarter-overhead-duration-ms"
LITELLM_OVERHEAD = "x-litellm-overhead-duration-ms"


@dataclass(frozen=True)
class Sizes:
    """How many requests each measurement sends: the full run, or --smoke."""

    warm: int
    warmup: int
    side_c1: int
    side_c8: int
    cold_runs: int
    growth_session: int
    growth_plugins: int
    importtime: bool
    stream: int = 60
    long_load: int = 10_000

    @classmethod
    def full(cls) -> "Sizes":
        return cls(warm=300, warmup=20, side_c1=400, side_c8=800, cold_runs=7, growth_session=40, growth_plugins=150, importtime=True,
                   stream=60, long_load=10_000)

    @classmethod
    def smoke(cls) -> "Sizes":
        return cls(warm=15, warmup=3, side_c1=20, side_c8=32, cold_runs=1, growth_session=3, growth_plugins=6, importtime=False,
                   stream=6, long_load=300)


# --- requests ------------------------------------------------------------------------


def _messages(content: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": content}]


def prompt_request(api_key: str, content: str, *, client: str = CLIENT, session_key: str | None = None) -> Request:
    body: dict[str, Any] = {"messages": _messages(content)}
    if session_key:
        body["session_key"] = session_key
    return Request("/", body, {"Host": f"{client}.{ACCOUNT}.{API_DOMAIN}", "Authorization": f"Token {api_key}"})


def passthrough_request(api_key: str, content: str) -> Request:
    return Request("/v1/passthrough/openai", {"model": "gpt-4o-mini", "messages": _messages(content)},
                   {"Host": API_DOMAIN, "Authorization": f"Token {api_key}"})


def litellm_request(content: str) -> Request:
    return Request("/v1/chat/completions", {"model": litellm_proxy.MODEL, "messages": _messages(content)},
                   {"Authorization": f"Bearer {litellm_proxy.MASTER_KEY}"})


def direct_request(content: str) -> Request:
    return Request("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": _messages(content)}, {"Authorization": "Bearer sk-direct"})


def streamed(request: Request) -> Request:
    return Request(request.path, {**request.body, "stream": True}, request.headers)


def openai_request(api_key: str, content: str, *, client: str = CLIENT) -> Request:
    """The OpenAI-compatible API on the client's host, as the openai SDK sends it."""
    return Request("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": _messages(content)},
                   {"Host": f"{client}.{ACCOUNT}.{API_DOMAIN}", "Authorization": f"Bearer {api_key}"})


def responses_request(api_key: str, content: str, *, client: str = CLIENT) -> Request:
    """The Responses API on the client's host, as the openai SDK sends it (store left at its default)."""
    return Request("/v1/responses", {"model": "gpt-4o-mini", "input": content},
                   {"Host": f"{client}.{ACCOUNT}.{API_DOMAIN}", "Authorization": f"Bearer {api_key}"})


def litellm_responses_request(content: str) -> Request:
    """LiteLLM's /v1/responses, its bridge onto the same chat-completions upstream."""
    return Request("/v1/responses", {"model": litellm_proxy.BRIDGED_MODEL, "input": content}, {"Authorization": f"Bearer {litellm_proxy.MASTER_KEY}"})


# --- one measurement -------------------------------------------------------------------


def _aws_calls(result: load.LoadResult) -> dict[str, Any] | None:
    """Mean AWS calls per request by kind, and the distribution of the total."""
    per_kind: collections.Counter[str] = collections.Counter()
    totals = []
    seen = False
    for sample in result.samples:
        raw = sample.headers.get("x-bench-aws-calls")
        if raw is None:
            continue
        seen = True
        total = 0
        for part in raw.split(","):
            if "=" in part:
                kind, count = part.split("=", 1)
                per_kind[kind] += int(count)
                total += int(count)
        totals.append(total)
    if not seen:
        return None
    n = len(totals)
    return {
        "per_request_by_kind": {k: round(v / n, 3) for k, v in sorted(per_kind.items())},
        "per_request_total": {"p50": load.percentile(totals, 50), "mean": round(statistics.fmean(totals), 3), "max": max(totals)},
    }


def measure(
    ports: list[int],
    make: Callable[[int], Request],
    *,
    total: int,
    concurrency: int,
    warmup: int,
    cpu_pids: list[int],
    overhead_header: str | None,
    stack: BenchStack | None = None,
    keep_per_request: bool = False,
) -> dict[str, Any]:
    """One run of one request kind against one gateway, as a JSON-ready dict."""
    probe = stack.upstream_stats if stack else None
    result = load.run(ports, make, total=total, concurrency=concurrency, warmup=warmup, cpu_pids=cpu_pids, probe=probe)
    n = result.count
    ok = sum(1 for s in result.samples if s.status < 400)
    out: dict[str, Any] = {
        "requests": n,
        "ok": ok,
        "errors": result.errors[:5],
        "concurrency": concurrency,
        "processes": len(cpu_pids),
        "wall_s": round(result.wall_s, 3),
        "rps": round(n / result.wall_s, 1) if result.wall_s else None,
        "latency_ms": _rounded(summary(result.latencies())),
    }
    if cpu_pids:
        out["cpu_ms_per_request"] = round(result.cpu_s * 1000 / n, 3) if n else None
        out["peak_rss_mb"] = round(procs.peak_rss_mb(cpu_pids), 1)
    if overhead_header:
        out["overhead_ms"] = _rounded(summary(result.header_values(overhead_header)))
    handler_cpu = result.header_values("x-bench-handler-cpu-ms")
    if handler_cpu:
        out["handler_cpu_ms"] = _rounded(summary(handler_cpu))
    handler_wall = result.header_values("x-bench-handler-wall-ms")
    if handler_wall:
        out["handler_wall_ms"] = _rounded(summary(handler_wall))
        if keep_per_request and len(handler_wall) == len(handler_cpu):
            # per request, for the bill (bench/cost.py); __main__ drops them before writing the JSON
            out["_wall_ms"], out["_cpu_ms"] = handler_wall, handler_cpu
    calls = _aws_calls(result)
    if calls:
        out["aws_calls"] = calls
    if result.probe_before is not None and n:
        before, after = result.probe_before, result.probe_after
        out["upstream_calls_per_request"] = round((after["requests"] - before["requests"]) / n, 3)
        out["upstream_bytes_per_request"] = round((after["bytes_in"] - before["bytes_in"]) / n)
    return out


def _rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}


# --- 1. warm cost per request ------------------------------------------------------------


def warm(stack: BenchStack, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """One gateway process, one request at a time (as one warm Lambda container)."""
    [worker] = stack.start_workers(1, count_aws_calls=True)
    key = stack.api_key
    sessions = stack.seed_sessions(CLIENT, 2, sizes.warm + sizes.warmup)
    limited_sessions = stack.seed_sessions(LIMITED_CLIENT, 2, sizes.warm + sizes.warmup)
    limited = stack.limited_key
    scenarios: dict[str, Callable[[int], Request]] = {
        "prompt_plain": lambda i: prompt_request(key, PLAIN),
        # The same prompts on a client with rate limits and a monthly budget, with a key
        # that has a daily budget: every request reserves in one transaction.
        "prompt_plain_limited": lambda i: prompt_request(limited, PLAIN, client=LIMITED_CLIENT),
        "prompt_session": lambda i: prompt_request(key, FOLLOW_UP, session_key=sessions[i]),
        "prompt_session_limited": lambda i: prompt_request(limited, FOLLOW_UP, client=LIMITED_CLIENT, session_key=limited_sessions[i]),
        "prompt_tool_round": lambda i: prompt_request(key, TOOL),
        "passthrough": lambda i: passthrough_request(key, PLAIN),
    }
    out: dict[str, Any] = {"method": "1 gateway process, concurrency 1; new session per request except prompt_session "
                                     "(continues a session of 2 earlier messages)"}
    from smarter.store import sessions as session_store

    read_partitions = {"prompt_session": [session_store._partition(ACCOUNT, CLIENT, s, stack.key_id) for s in sessions]}
    try:
        for name, make in scenarios.items():
            log(f"warm: {name}")
            before = cost.Snapshot(worker.log)
            out[name] = measure([worker.port], make, total=sizes.warm, concurrency=1, warmup=sizes.warmup,
                                cpu_pids=[worker.pid], overhead_header=OVERHEAD, stack=stack, keep_per_request=True)
            # What the scenario wrote, read back from moto (warm-up requests included, so per request of both).
            out[name]["written"] = before.written(sizes.warm + sizes.warmup, read_partitions=read_partitions.get(name))
    finally:
        stack.stop_services([worker])
    log("warm: usage counters from the run's journal records")
    journal_items = out["prompt_plain"]["written"]["_journal_items"]
    out["usage_counters"] = cost.usage_counters(journal_items, cost.usage_batch_size())
    for name in scenarios:
        out[name]["written"].pop("_journal_items", None)
    out["limits_added"] = limits_added(out)
    out["limits_added"]["logic_cpu_ms"] = limits_logic_cpu_ms()
    return out


def limits_logic_cpu_ms(n: int = 2000) -> float:
    """CPU of enforcement's own work per provider call (plan windows, estimate, price,
    the transaction's items, the headers), without the TransactWriteItems call itself:
    measured in this process with the call replaced by a no-op."""
    from smarter.store.journal import RequestRecord
    from smarter.tenancy import limits

    from bench.stack import CLIENT_LIMITS, KEY_LIMITS

    plan = limits.Plan(ACCOUNT, LIMITED_CLIENT, "k", [
        limits.Scope("key", "K#k", limits._decimal_limits(KEY_LIMITS, limits.KINDS)),
        limits.Scope("client", f"C#{ACCOUNT}#{LIMITED_CLIENT}", limits._decimal_limits(CLIENT_LIMITS, limits.KINDS)),
        limits.Scope("account", f"A#{ACCOUNT}", {}),
    ])
    body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "You are the support assistant of Pi Widgets Inc."},
                                                 {"role": "user", "content": PLAIN}], "temperature": 0.5, "max_tokens": 2048}
    real = limits._transact
    limits._transact = lambda *args, **kwargs: None
    try:
        def once() -> None:
            record = RequestRecord("LLMClient", "prompt", method="POST", path="/", host="h", headers={})
            record.plan = plan
            limits.reserve(plan, record, provider="openai", model="gpt-4o-mini", body=body, first=True)
            record.add_usage({"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20})
            limits.headers(record)

        once()
        started = time.thread_time()
        for _ in range(n):
            once()
        return round((time.thread_time() - started) * 1000 / n, 4)
    finally:
        limits._transact = real


def limits_added(warm_results: dict[str, Any]) -> dict[str, Any]:
    """What enforcing limits adds to a warm prompt: limited minus unlimited, same prompts.
    Latency here includes moto's time for the transaction (it copies the table to roll
    back), which DynamoDB does not spend; CPU is the gateway process's own."""
    out: dict[str, Any] = {}
    for base in ("prompt_plain", "prompt_session"):
        plain, limited = warm_results.get(base) or {}, warm_results.get(f"{base}_limited") or {}
        out[base] = {
            "cpu_ms_per_request": _sub(limited.get("cpu_ms_per_request"), plain.get("cpu_ms_per_request")),
            "handler_cpu_ms_p50": _sub((limited.get("handler_cpu_ms") or {}).get("p50"), (plain.get("handler_cpu_ms") or {}).get("p50")),
            "latency_ms_p50": _sub((limited.get("latency_ms") or {}).get("p50"), (plain.get("latency_ms") or {}).get("p50")),
            "aws_calls_p50": _sub(((limited.get("aws_calls") or {}).get("per_request_total") or {}).get("p50"),
                                  ((plain.get("aws_calls") or {}).get("per_request_total") or {}).get("p50")),
            "aws_calls_limited_p50": ((limited.get("aws_calls") or {}).get("per_request_total") or {}).get("p50"),
        }
    return out


# --- 2. side by side with LiteLLM ----------------------------------------------------------


def side_by_side(stack: BenchStack, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    log("side by side: LiteLLM's virtual environment")
    version = litellm_proxy.ensure_installed(log)
    workers = stack.start_workers(8, count_aws_calls=False)
    log("side by side: starting LiteLLM's proxy")
    spawned = time.perf_counter()
    litellm = litellm_proxy.start(stack.log_dir, stack.upstream_url)
    # Spawn to healthy: what a LiteLLM container's cold start costs, beside our functions' cold starts.
    startup_ms = round((time.perf_counter() - spawned) * 1000, 1)
    stack.services.append(litellm)
    key = stack.api_key
    out: dict[str, Any] = {
        "litellm_version": version,
        "litellm_startup_ms": startup_ms,
        "method": (
            "Same upstream, same messages. Smarter runs as Lambda does: one request at a time per process, so "
            "concurrency c uses c gateway processes (c warm containers); prompt_1proc at c=8 shows one process "
            "serializing. LiteLLM runs its default single async worker. Added latency is each gateway's own "
            "header (gateway time minus upstream time); client_added_ms is client latency minus the direct "
            "upstream latency of the same run."
        ),
    }
    try:
        for concurrency, total in ((1, sizes.side_c1), (8, sizes.side_c8)):
            runs: dict[str, Any] = {}
            log(f"side by side c={concurrency}: direct to the upstream")
            runs["direct"] = measure([stack.upstream.port], lambda i: direct_request(PLAIN), total=total,
                                     concurrency=concurrency, warmup=sizes.warmup, cpu_pids=[], overhead_header=None)
            chosen = workers[:concurrency]
            ports, pids = [w.port for w in chosen], [w.pid for w in chosen]
            log(f"side by side c={concurrency}: smarter prompt")
            runs["smarter_prompt"] = measure(ports, lambda i: prompt_request(key, PLAIN), total=total, concurrency=concurrency,
                                             warmup=sizes.warmup, cpu_pids=pids, overhead_header=OVERHEAD)
            log(f"side by side c={concurrency}: smarter passthrough")
            runs["smarter_passthrough"] = measure(ports, lambda i: passthrough_request(key, PLAIN), total=total,
                                                  concurrency=concurrency, warmup=sizes.warmup, cpu_pids=pids, overhead_header=OVERHEAD)
            if concurrency > 1:
                log(f"side by side c={concurrency}: smarter prompt, one process")
                runs["smarter_prompt_1proc"] = measure([workers[0].port], lambda i: prompt_request(key, PLAIN), total=total,
                                                       concurrency=concurrency, warmup=sizes.warmup, cpu_pids=[workers[0].pid],
                                                       overhead_header=OVERHEAD)
            log(f"side by side c={concurrency}: litellm")
            runs["litellm"] = measure([litellm.port], lambda i: litellm_request(PLAIN), total=total, concurrency=concurrency,
                                      warmup=sizes.warmup, cpu_pids=[litellm.pid], overhead_header=LITELLM_OVERHEAD)
            direct_p50 = runs["direct"]["latency_ms"]["p50"]
            direct_p99 = runs["direct"]["latency_ms"]["p99"]
            for run in runs.values():
                run["client_added_ms"] = {
                    "p50": _sub(run["latency_ms"]["p50"], direct_p50),
                    "p99": _sub(run["latency_ms"]["p99"], direct_p99),
                }
            runs["ratios"] = {name: _ratios(runs[name], runs["litellm"]) for name in runs if name.startswith("smarter")}
            out[f"c{concurrency}"] = runs
        out["streaming"] = streaming(stack, workers[0], litellm, sizes, log)
    finally:
        stack.stop_services([*workers, litellm])
    return out


def streaming(stack: BenchStack, worker: procs.Service, litellm: procs.Service, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """Streamed answers from the same upstream (STREAM_WORDS chunks, STREAM_GAP_S apart), one at a time.
    TTFT overhead: a gateway's time to the first content chunk minus the upstream's own (direct);
    per-chunk overhead: the rest of the added time spread over the content chunks."""
    from bench.upstream import STREAM_GAP_S, STREAM_WORDS

    key = stack.api_key
    kinds: dict[str, tuple[int, list[int], Callable[[int], Request]]] = {
        "direct": (stack.upstream.port, [], lambda i: streamed(direct_request(PLAIN))),
        "smarter_openai": (worker.port, [worker.pid], lambda i: streamed(openai_request(key, PLAIN))),
        "smarter_passthrough": (worker.port, [worker.pid], lambda i: streamed(passthrough_request(key, PLAIN))),
        "litellm": (litellm.port, [litellm.pid], lambda i: streamed(litellm_request(PLAIN))),
        # The Responses API, each gateway's bridge onto the same chat-completions upstream.
        "smarter_responses": (worker.port, [worker.pid], lambda i: streamed(responses_request(key, PLAIN))),
        "litellm_responses": (litellm.port, [litellm.pid], lambda i: streamed(litellm_responses_request(PLAIN))),
    }
    out: dict[str, Any] = {"method": f"c=1, {sizes.stream} streamed requests per gateway after {sizes.warmup} warm-up; the upstream "
                                     f"sends {STREAM_WORDS} content chunks {STREAM_GAP_S * 1000:g} ms apart; CPU is the gateway "
                                     "process's for the whole stream"}
    for name, (port, pids, make) in kinds.items():
        log(f"streaming: {name}")
        out[name] = streams.run(port, make, total=sizes.stream, warmup=sizes.warmup, cpu_pids=pids)
    direct = out["direct"]
    for name in ("smarter_openai", "smarter_passthrough", "litellm", "smarter_responses", "litellm_responses"):
        run = out[name]
        added_ttft = _sub(run["ttft_ms"]["p50"], direct["ttft_ms"]["p50"])
        added_total = _sub(run["total_ms"]["p50"], direct["total_ms"]["p50"])
        run["ttft_overhead_ms"] = added_ttft
        run["per_chunk_overhead_ms"] = (round((added_total - added_ttft) / run["content_chunks"], 4)
                                        if added_total is not None and added_ttft is not None and run["content_chunks"] else None)
    out["ratios"] = {
        name: {
            "ttft_overhead": _div(max(out[name]["ttft_overhead_ms"] or 0.0, 0.001), max(out["litellm"]["ttft_overhead_ms"] or 0.0, 0.001)),
            "cpu_per_request": _div(out[name].get("cpu_ms_per_request"), out["litellm"].get("cpu_ms_per_request")),
        }
        for name in ("smarter_openai", "smarter_passthrough")
    }
    theirs = out["litellm_responses"]
    out["ratios"]["smarter_responses"] = {  # beside LiteLLM's same surface
        "ttft_overhead": _div(max(out["smarter_responses"]["ttft_overhead_ms"] or 0.0, 0.001), max(theirs["ttft_overhead_ms"] or 0.0, 0.001)),
        "cpu_per_request": _div(out["smarter_responses"].get("cpu_ms_per_request"), theirs.get("cpu_ms_per_request")),
    }
    return out


def _sub(a: float | None, b: float | None) -> float | None:
    return round(a - b, 3) if a is not None and b is not None else None


def _div(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float | None]:
    """Ours divided by LiteLLM's: below 1 is better for cost and latency, above 1 for rps."""
    return {
        "cpu_per_request": _div(ours.get("cpu_ms_per_request"), theirs.get("cpu_ms_per_request")),
        "added_latency_p50": _div(ours["overhead_ms"]["p50"], theirs["overhead_ms"]["p50"]),
        "added_latency_p99": _div(ours["overhead_ms"]["p99"], theirs["overhead_ms"]["p99"]),
        "client_added_p50": _div(ours["client_added_ms"]["p50"], theirs["client_added_ms"]["p50"]),
        "rps": _div(ours["rps"], theirs["rps"]),
        "peak_rss": _div(ours.get("peak_rss_mb"), theirs.get("peak_rss_mb")),
    }


# --- 3. cold start ---------------------------------------------------------------------------


def cold_events(key: str) -> dict[str, dict[str, Any]]:
    """The first request of each function: a plain prompt, a passthrough call (REST proxy events)."""
    from smarter_local.gateway import make_event

    return {
        "prompt": make_event("POST", "/", {"Host": f"{CLIENT}.{ACCOUNT}.{API_DOMAIN}", "Content-Type": "application/json",
                                           "Authorization": f"Token {key}"}, json.dumps({"messages": _messages(PLAIN)}).encode(),
                             domain=f"{CLIENT}.{ACCOUNT}.{API_DOMAIN}", resource="/"),
        "passthrough": make_event("POST", "/v1/passthrough/openai", {"Host": API_DOMAIN, "Content-Type": "application/json",
                                                                     "Authorization": f"Token {key}"},
                                  json.dumps({"model": "gpt-4o-mini", "messages": _messages(PLAIN)}).encode(),
                                  domain=API_DOMAIN, resource="/v1/{proxy+}"),
    }


def cold_start(stack: BenchStack, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    env = stack.gateway_env(count_aws_calls=False)
    # Our packages as the layers ship them: bytecode compiled at build time (procs.layer_bytecode).
    env["PYTHONPATH"] = procs.layer_bytecode(procs.ROOT, stack.log_dir / "opt-python")
    events = cold_events(stack.api_key)
    out: dict[str, Any] = {"method": "a fresh process imports the handler and serves its first request; total_ms is spawn "
                                     "to answer as the harness sees it (the writes deferred past the answer run after it, "
                                     "as in Lambda, and are deferred_ms); our packages are imported from a copy with the "
                                     "layers' build-time bytecode; median of the runs"}
    for function, event in events.items():
        event_file = stack.log_dir / f"event-{function}.json"
        event_file.write_text(json.dumps(event))
        runs = []
        for i in range(sizes.cold_runs):
            log(f"cold start: {function} run {i + 1}/{sizes.cold_runs}")
            runs.append(_cold_run(function, event_file, env))
        result: dict[str, Any] = {
            "runs": len(runs),
            "total_ms": round(statistics.median(r["total_ms"] for r in runs), 1),
            "import_ms": round(statistics.median(r["import_ms"] for r in runs), 1),
            "first_request_ms": round(statistics.median(r["first_request_ms"] for r in runs), 1),
            "deferred_ms": round(statistics.median(r["deferred_ms"] or 0 for r in runs), 1),
            "cpu_ms": round(statistics.median(r["cpu_ms"] for r in runs), 1),
            "max_rss_mb": round(max(r["max_rss_mb"] for r in runs), 1),
            "total_ms_all": [round(r["total_ms"], 1) for r in runs],
            "status": sorted({r["status"] for r in runs}),
            "modules": runs[-1]["modules"],
            "loaded": runs[-1]["loaded"],
        }
        if sizes.importtime:
            log(f"cold start: {function} with -X importtime")
            result["slowest_imports_ms"] = _importtime(function, event_file, env)
        out[function] = result
    out["cli"] = cli_cold(env, max(sizes.cold_runs, 3), log)
    return out


CLI_COMMANDS = {"help": ("--help",), "get_clients": ("get", "clients", "--account", ACCOUNT)}


def cli_cold(env: dict[str, str], runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The admin CLI as an operator starts it: a fresh `smarter` process per run,
    spawn to exit (`--help` with no AWS call; `get clients` with one Query of
    the bench stack's moto). Median and best of the runs."""
    import subprocess

    script = Path(sys.executable).with_name("smarter")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "smarter_admin"]
    out: dict[str, Any] = {"method": "fresh `smarter` process per run, spawn to exit; median of the runs"}
    for name, args in CLI_COMMANDS.items():
        times = []
        for i in range(runs):
            log(f"cold start: smarter {' '.join(args[:2])} run {i + 1}/{runs}")
            started = time.perf_counter()
            done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60)
            times.append((time.perf_counter() - started) * 1000)
            if done.returncode != 0:
                raise RuntimeError(f"smarter {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        out[name] = {"runs": runs, "total_ms": round(statistics.median(times), 1), "best_ms": round(min(times), 1),
                     "total_ms_all": [round(t, 1) for t in times]}
    return out


def _cold_run(function: str, event_file: Path, env: dict[str, str], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One fresh process of this checkout; total_ms runs from spawning it to its answer (not to its exit)."""
    return procs.cold_run(sys.executable, procs.ROOT, function, event_file, env, extra)


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _importtime(function: str, event_file: Path, env: dict[str, str], top: int = 12) -> dict[str, float]:
    """The slowest imports (cumulative, ms) near the top of the tree, handler import and first request both."""
    stderr = _cold_run(function, event_file, env, ("-X", "importtime"))["stderr"]
    found: dict[str, float] = {}
    for match in _IMPORT_LINE.finditer(stderr):
        depth = len(match.group(3)) // 2
        name = match.group(4)
        if depth <= 2 and not name.startswith(("bench", "encodings", "site")):
            found[name] = max(found.get(name, 0.0), int(match.group(2)) / 1000)
    return {k: round(v, 1) for k, v in sorted(found.items(), key=lambda kv: -kv[1])[:top]}


# --- 4. growth --------------------------------------------------------------------------------


def growth(stack: BenchStack, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    [worker] = stack.start_workers(1, count_aws_calls=True)
    key = stack.api_key
    out: dict[str, Any] = {"method": "1 gateway process, concurrency 1; each session request continues its own session "
                                     "of N earlier messages (SMARTER_SESSION_WINDOW caps what is read); plugin requests use "
                                     "a client with N always-offered static plugins"}
    try:
        session_points = []
        for size in (10, 100, 1000):
            log(f"growth: session of {size} messages (seeding)")
            keys = stack.seed_sessions(CLIENT, size, sizes.growth_session + 2)
            n = sizes.growth_session

            def make(i: int, keys: list[str] = keys, n: int = n) -> Request:
                return prompt_request(key, FOLLOW_UP, session_key=keys[i] if i >= 0 else keys[n - 1 - i])

            log(f"growth: session of {size} messages")
            point = measure([worker.port], make, total=n, concurrency=1, warmup=1, cpu_pids=[worker.pid],
                            overhead_header=OVERHEAD, stack=stack)
            session_points.append({"earlier_messages": size, **point})
        plugin_points = []
        for count in PLUGIN_COUNTS:
            log(f"growth: {count} plugins")
            client = plugins_client(count)
            point = measure([worker.port], lambda i, client=client: prompt_request(key, PLAIN, client=client),
                            total=sizes.growth_plugins, concurrency=1, warmup=sizes.warmup, cpu_pids=[worker.pid],
                            overhead_header=OVERHEAD, stack=stack)
            plugin_points.append({"plugins": count, **point})
    finally:
        stack.stop_services([worker])
    out["session"] = _with_growth(session_points)
    out["plugins"] = _with_growth(plugin_points)
    return out


def _with_growth(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Beside each point: how cost and bytes sent upstream grew from the first point."""
    base = points[0]
    for point in points:
        point["growth_vs_first"] = {
            "handler_cpu_p50": _div(point["handler_cpu_ms"]["p50"], base["handler_cpu_ms"]["p50"]),
            "overhead_p50": _div(point["overhead_ms"]["p50"], base["overhead_ms"]["p50"]),
            "upstream_bytes": _div(point["upstream_bytes_per_request"], base["upstream_bytes_per_request"]),
        }
    return points


def long_load(stack: BenchStack, sizes: Sizes, log: Callable[[str], None]) -> dict[str, Any]:
    """The local stack as `make run` starts it (moto in the same process), under
    `sizes.long_load` budgeted requests (each reserves against the client's,
    key's and account's windows and is settled by the usage stream): its
    resident memory after the warm-up and at the end. moto's per-transaction
    table copies once grew it 3-4 MB a request (smarter_local/moto_patches.py)."""
    import os
    import tempfile

    info_file = Path(tempfile.mkdtemp(prefix="smarter-long-")) / "info.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SMARTER_BENCH_INFO": str(info_file)}
    service = procs.start("local-stack", [sys.executable, "-m", "bench.local_stack"], env=env, log_dir=stack.log_dir)
    try:
        info = json.loads(info_file.read_text())
        headers = {"Host": f"{info['client']}.{info['account']}.{info['api_domain']}", "Authorization": f"Token {info['api_key']}"}

        def make(i: int) -> Request:
            return Request("/", {"messages": _messages(f"{PLAIN} ({i})")}, headers)

        log("long load: warming up the local stack")
        load.run([service.port], make, total=50, concurrency=4, warmup=2, time_limit_s=120)
        start_mb = procs.rss_mb(service.pid)
        log(f"long load: {sizes.long_load} budgeted requests (RSS {start_mb:.0f} MB)")
        points = []
        done = 0
        chunk = max(sizes.long_load // 10, 1)
        ok = errors = 0
        wall = 0.0
        while done < sizes.long_load:
            n = min(chunk, sizes.long_load - done)
            result = load.run([service.port], make, total=n, concurrency=4, warmup=0, time_limit_s=600)
            done += result.count
            ok += sum(1 for s in result.samples if s.status < 400)
            errors += sum(1 for s in result.samples if s.status >= 400) + len([e for e in result.errors if not e.startswith("HTTP")])
            wall += result.wall_s
            points.append({"requests": done, "rss_mb": round(procs.rss_mb(service.pid), 1)})
            if result.count == 0:
                break
        end_mb = procs.rss_mb(service.pid)
    finally:
        service.stop()
    return {
        "method": "the local stack (bench.local_stack: LocalStack with moto in-process, offline provider) in its own process; "
                  "requests on a client with requests, tokens and dollar limits, a key with a token budget and an account "
                  "budget, 4 connections; RSS (VmRSS) of the stack's process after a warm-up and after every tenth",
        "requests": done,
        "ok": ok,
        "errors": errors,
        "rps": round(done / wall, 1) if wall else None,
        "rss_start_mb": round(start_mb, 1),
        "rss_end_mb": round(end_mb, 1),
        "rss_growth_kb_per_request": round((end_mb - start_mb) * 1024 / done, 2) if done else None,
        "rss_mb": points,
    }
