"""The bill: what a million requests of each benchmarked scenario cost on AWS,
from what the run measured, and what LiteLLM costs on the cheapest always-on
container at the rate it sustained in the side by side.

Inputs, all from the run or the template:

- Lambda: the memory each function is configured with in template.yaml, and
  the handler's wall time per request (X-Bench-Handler-Wall-Ms), billed in
  1 ms steps. A buffered Lambda also pays while it waits for the provider,
  which answers at once here; so each scenario is priced again with an
  assumed provider latency per upstream call (PROVIDER_LATENCY_MS). The CPU
  a Lambda gets grows with its memory (one vCPU at 1,769 MB), so the CPU part
  of the measured time is also shown stretched to the configured memory's share.
- DynamoDB on demand: the items each scenario wrote (journal records, session
  messages), read back from moto and sized with DynamoDB's rules (item_size),
  one write unit per started 1 KB of each item; the session Query, one read
  unit per started 4 KB of all items read, halved for an eventually
  consistent read; the usage counters' TransactWriteItems per stream batch
  (the UsageFunction's tally is run here on a batch of the run's own journal
  records, and the items it wrote are sized).
- S3: journal records spilled to the bucket (none unless a record passes 350 KB).
- CloudWatch Logs: the bytes the gateway logged per request (log lines and EMF
  metrics), plus Lambda's START/END/REPORT lines.
- X-Ray: the default sampling rule's 5% of requests (Tracing: Active).

Prices are list prices for us-east-1 as written in PRICES, with the date they
were recorded: they are not fetched live (the bench runs without internet).
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any

# --- prices ----------------------------------------------------------------------------------

PRICES: dict[str, Any] = {
    "region": "us-east-1",
    "currency": "USD",
    "recorded_on": "2026-11-29",
    "as_published": "2025",
    "note": (
        "List prices for us-east-1 as published on AWS's pricing pages in 2025 (DynamoDB on-demand after the "
        "1 November 2024 reduction; Lambda bills the INIT phase since 1 August 2025), recorded here on "
        "2026-11-29 without internet access: not fetched live, and not checked since. Free tiers, volume "
        "tiers past the first, savings plans and data transfer are left out."
    ),
    "lambda_arm64_per_gb_second": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    "api_gateway_rest_per_million": 3.50,
    "api_gateway_http_per_million": 1.00,
    "dynamodb_on_demand_per_million_wru": 0.625,
    "dynamodb_on_demand_per_million_rru": 0.125,
    "dynamodb_storage_per_gb_month": 0.25,
    "dynamodb_pitr_per_gb_month": 0.20,
    "s3_put_per_thousand": 0.005,
    "s3_storage_per_gb_month": 0.023,
    "cloudwatch_logs_ingest_per_gb": 0.50,
    "xray_per_million_traces_recorded": 5.00,
    "secrets_manager_per_10k_calls": 0.05,
    "fargate_arm64_per_vcpu_hour": 0.03238,
    "fargate_arm64_per_gb_hour": 0.00356,
}

PROVIDER_LATENCY_MS = 1000.0  # assumed provider time per upstream call, for the "while waiting" figures
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below
LAMBDA_PLATFORM_LOG_BYTES = 350  # START, END and REPORT lines per invocation (REPORT carries the X-Ray trace id)
XRAY_SAMPLED_SHARE = 0.05  # the default sampling rule past its 1 request/s reservoir
FARGATE_GB_PER_VCPU = 2  # the least memory Fargate allows per vCPU (0.25 vCPU with 0.5 GB, 1 vCPU with 2 GB)
FARGATE_SMALLEST_VCPU = 0.25
HOURS_PER_MONTH = 730
MILLION = 1_000_000

# Which function serves which warm scenario (their memory comes from the template).
SCENARIO_FUNCTIONS = {
    "prompt_plain": "PromptFunction",
    "prompt_session": "PromptFunction",
    "prompt_tool_round": "PromptFunction",
    "passthrough": "PassthroughFunction",
}


# --- DynamoDB's item-size arithmetic ----------------------------------------------------------


def number_size(text: str) -> int:
    """A DynamoDB number: 1 byte per two significant digits (leading and
    trailing zeroes trimmed), plus 1 byte."""
    digits = str(abs(Decimal(text))).replace(".", "").split("E")[0].lstrip("0").rstrip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one attribute value in DynamoDB's JSON shape ({"S": ...} etc.)."""
    [(kind, inner)] = value.items()
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":  # 3 bytes, plus 1 byte and the size of each element
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":  # 3 bytes, plus 1 byte, the name and the size of each element
        return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """Bytes of an item as DynamoDB counts them: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """On-demand write request units of one item write: one per started 1 KB."""
    return max(1, math.ceil(size / 1024))


def read_units(total_size: int, *, consistent: bool) -> float:
    """Read request units of one GetItem, or of one Query (all the items it read,
    summed before rounding): one per started 4 KB, half for an eventually
    consistent read."""
    units = max(1, math.ceil(total_size / 4096))
    return float(units) if consistent else units / 2


# --- what a scenario wrote --------------------------------------------------------------------


def scan(table: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of a table, by (pk, sk): the harness reads moto, never measured."""
    from smarter.store import aws

    ddb = aws.client("dynamodb")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        out = ddb.scan(**kwargs)
        for item in out.get("Items", []):
            found[(item["pk"]["S"], item["sk"]["S"])] = item
        if not out.get("LastEvaluatedKey"):
            return found
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def _s3_objects() -> dict[str, int]:
    from smarter.config import settings
    from smarter.store import aws

    s3 = aws.client("s3")
    found: dict[str, int] = {}
    kwargs: dict[str, Any] = {"Bucket": settings().journal_bucket, "Prefix": "journal/"}
    while True:
        out = s3.list_objects_v2(**kwargs)
        for obj in out.get("Contents", []):
            found[obj["Key"]] = obj["Size"]
        if not out.get("IsTruncated"):
            return found
        kwargs["ContinuationToken"] = out["NextContinuationToken"]


class Snapshot:
    """The journal, the sessions, the journal bucket and a log's size, before a
    scenario runs; `written` diffs them after it."""

    def __init__(self, log_path: Any = None):
        from smarter.config import settings

        self.journal = scan(settings().journal_table)
        self.sessions = scan(settings().sessions_table)
        self.s3 = _s3_objects()
        self.log_path = log_path
        self.log_bytes = log_path.stat().st_size if log_path else 0

    def written(self, requests: int, *, read_partitions: list[str] | None = None) -> dict[str, Any]:
        """Per request: items written and their write units, the session Query's
        read units, S3 objects, log bytes; and the new journal items themselves."""
        from smarter.config import settings

        time.sleep(0.2)  # the worker's last log lines
        journal = {k: v for k, v in scan(settings().journal_table).items() if k not in self.journal}
        sessions = {k: v for k, v in scan(settings().sessions_table).items() if k not in self.sessions}
        s3 = {k: v for k, v in _s3_objects().items() if k not in self.s3}
        out: dict[str, Any] = {"requests": requests}
        for name, items in (("journal", journal), ("sessions", sessions)):
            sizes = [item_size(item) for item in items.values()]
            out[name] = {
                "items_per_request": round(len(sizes) / requests, 3),
                "mean_item_bytes": round(sum(sizes) / len(sizes), 1) if sizes else 0,
                "max_item_bytes": max(sizes, default=0),
                "wru_per_request": round(sum(write_units(s) for s in sizes) / requests, 3),
                "bytes_per_request": round(sum(sizes) / requests, 1),
                # Mean bytes of each attribute (its name included), what makes an item cross a 1 KB step.
                "attribute_bytes": _attribute_bytes(list(items.values())),
            }
        # An index writes its own item per journal record it holds: the items of main before
        # issue 29's second pass carried client_pk for the ByClient index (keys and summary).
        index_sizes = [item_size({k: v for k, v in item.items() if k in ("pk", "sk", "client_pk", "summary")})
                       for item in journal.values() if "client_pk" in item]
        out["journal"]["index_wru_per_request"] = round(sum(write_units(s) for s in index_sizes) / requests, 3)
        out["journal"]["index_mean_item_bytes"] = round(sum(index_sizes) / len(index_sizes), 1) if index_sizes else 0
        reads = []
        for partition in read_partitions or []:
            size = sum(item_size(item) for (pk, _), item in self.sessions.items() if pk == partition)
            if size:
                reads.append(read_units(size, consistent=False))  # sessions.load: a Query, eventually consistent
        out["session_query_rru_per_request"] = round(sum(reads) / len(reads), 3) if reads else 0.0
        out["s3_objects_per_request"] = round(len(s3) / requests, 4)
        out["s3_bytes_per_request"] = round(sum(s3.values()) / requests, 1)
        if self.log_path:
            out["log_bytes_per_request"] = round((self.log_path.stat().st_size - self.log_bytes) / requests, 1)
        out["_journal_items"] = list(journal.values())
        return out


def _attribute_bytes(items: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, int] = {}
    for item in items:
        for name, value in item.items():
            totals[name] = totals.get(name, 0) + len(name.encode("utf-8")) + value_size(value)
    return {name: round(total / len(items), 1) for name, total in sorted(totals.items())} if items else {}


# --- the usage counters, fed by the journal stream -----------------------------------------------


def usage_counters(journal_items: list[dict[str, Any]], batch_size: int) -> dict[str, Any]:
    """Count the run's own journal records as the UsageFunction does: a stream batch's
    worth through `usage.batch` (one TransactWriteItems per chunk: each second's SEEN set
    and each usage row), then size the items it wrote. A transactional write costs two
    write units per started 1 KB of the item, the larger of its sizes before and after."""
    import json

    from smarter.config import settings
    from smarter.store import aws, usage

    with_usage = [item for item in journal_items if '"usage":{"' in _doc_text(item)]
    if not with_usage:
        return {"batches": 0}
    batch = [json.loads(_doc_text(item)) for item in with_usage[:batch_size]]
    ddb = aws.client("dynamodb")
    table = settings().usage_table
    calls: list[dict[str, Any]] = []

    def on_call(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    ddb.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", on_call)
    started = time.perf_counter()
    try:
        with usage.batch() as tally:
            for doc in batch:
                usage.count(doc)
            outcomes = tally.flush()
    finally:
        ddb.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", on_call)
    wall_ms = (time.perf_counter() - started) * 1000
    written = [item["Update"]["Key"] for call in calls[-1:] for item in call["TransactItems"]]
    sizes = []
    for key in written:
        item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}
        sizes.append(item_size(item))
    wru_per_batch = sum(2 * write_units(size) for size in sizes) * max(1, len(calls))
    return {
        "records_in_batch": len(batch),
        "counted": list(outcomes.values()).count("counted"),
        "transactions_per_batch": len(calls),
        "items_per_transaction": len(written),
        "counter_item_bytes": max(sizes, default=0),
        "seen_item_bytes": max((s for k, s in zip(written, sizes) if k["pk"]["S"].startswith(usage.SEEN_PREFIX)), default=0),
        "wru_per_batch": wru_per_batch,
        "wru_per_record": round(wru_per_batch / len(batch), 4),
        "apply_wall_ms": round(wall_ms, 2),
        # The design before issue 29: one transaction of the marker and the usage row per record.
        "wru_per_record_per_record_transactions": 4,
    }


def _doc_text(item: dict[str, Any]) -> str:
    """A journal item's document as JSON text, however the item stores it."""
    from smarter.store import journal

    return journal.item_doc_text(item)


# --- the bill ---------------------------------------------------------------------------------------


def function_memory(template: dict[str, Any] | None = None) -> dict[str, int]:
    """MemorySize of each function in template.yaml (Globals as the default)."""
    if template is None:
        from smarter_local.cfn import load_template

        template = load_template()
    default = int(((template.get("Globals") or {}).get("Function") or {}).get("MemorySize", 128))
    return {name: int(res.get("Properties", {}).get("MemorySize", default))
            for name, res in template.get("Resources", {}).items() if res.get("Type") == "AWS::Serverless::Function"}


def usage_batch_size(template: dict[str, Any] | None = None) -> int:
    if template is None:
        from smarter_local.cfn import load_template

        template = load_template()
    events = template["Resources"]["UsageFunction"]["Properties"]["Events"]
    return int(next(iter(events.values()))["Properties"].get("BatchSize", 100))


def billed_ms(wall_ms: list[float]) -> float:
    """Mean billed duration: each invocation rounded up to the next millisecond."""
    return sum(max(1, math.ceil(ms)) for ms in wall_ms) / len(wall_ms)


def lambda_compute(billed_duration_ms: float, memory_mb: int) -> float:
    """Dollars per million invocations of this billed duration at this memory (arm64)."""
    return billed_duration_ms / 1000 * memory_mb / 1024 * PRICES["lambda_arm64_per_gb_second"] * MILLION


def scenario_bill(run: dict[str, Any], wall_ms: list[float], cpu_ms: list[float], memory_mb: int,
                  usage: dict[str, Any] | None, usage_memory_mb: int) -> dict[str, Any]:
    """Dollars per million requests of one warm scenario, line by line."""
    written = run["written"]
    calls_upstream = run.get("upstream_calls_per_request") or 1.0
    stretch = max(LAMBDA_MB_PER_VCPU / memory_mb, 1.0) - 1.0  # extra time the CPU part takes at this memory's share
    at_share = [w + c * stretch for w, c in zip(wall_ms, cpu_ms)]
    waiting = [w + PROVIDER_LATENCY_MS * calls_upstream for w in at_share]
    durations = {
        "measured_ms": round(billed_ms(wall_ms), 2),
        "at_memory_cpu_share_ms": round(billed_ms(at_share), 2),
        "with_provider_latency_ms": round(billed_ms(waiting), 2),
    }
    wru = written["journal"]["wru_per_request"] + written["journal"].get("index_wru_per_request", 0) + written["sessions"]["wru_per_request"]
    rru = written["session_query_rru_per_request"]
    usage_wru = usage.get("wru_per_record", 0.0) if usage and usage.get("records_in_batch") else 0.0
    lines: dict[str, float] = {
        "lambda_requests": PRICES["lambda_per_million_requests"],
        "lambda_compute": lambda_compute(durations["measured_ms"], memory_mb),
        "api_gateway_rest": PRICES["api_gateway_rest_per_million"],
        "dynamodb_writes": wru * PRICES["dynamodb_on_demand_per_million_wru"],
        "dynamodb_reads": rru * PRICES["dynamodb_on_demand_per_million_rru"],
    }
    if usage and usage.get("records_in_batch"):
        batches = MILLION / usage["records_in_batch"]
        lines["usage_counters"] = batches / MILLION * (
            usage["wru_per_batch"] * PRICES["dynamodb_on_demand_per_million_wru"]
            + PRICES["lambda_per_million_requests"]
            + lambda_compute(max(1, math.ceil(usage["apply_wall_ms"])), usage_memory_mb))
    else:
        lines["usage_counters"] = 0.0
    lines["s3_spill"] = written["s3_objects_per_request"] * PRICES["s3_put_per_thousand"] * 1000
    log_bytes = written.get("log_bytes_per_request", 0) + LAMBDA_PLATFORM_LOG_BYTES
    lines["cloudwatch_logs"] = log_bytes * MILLION / 1e9 * PRICES["cloudwatch_logs_ingest_per_gb"]
    lines["xray_traces"] = XRAY_SAMPLED_SHARE * PRICES["xray_per_million_traces_recorded"]
    total = sum(lines.values())
    at_share_compute = lambda_compute(durations["at_memory_cpu_share_ms"], memory_mb)
    waiting_compute = lambda_compute(durations["with_provider_latency_ms"], memory_mb)
    stored_bytes = written["journal"]["bytes_per_request"] + written["sessions"]["bytes_per_request"] + 100 * (
        written["journal"]["items_per_request"] + written["sessions"]["items_per_request"])  # 100 B of index per item
    return {
        "function_memory_mb": memory_mb,
        "billed_duration": durations,
        "upstream_calls_per_request": calls_upstream,
        "dynamodb_wru_per_request": round(wru, 3),
        "usage_wru_per_request": round(usage_wru, 4),
        "dynamodb_rru_per_request": round(rru, 3),
        "log_bytes_per_request": round(log_bytes, 1),
        "per_million": {k: round(v, 4) for k, v in lines.items()},
        "total_per_million": round(total, 4),
        "total_per_million_at_memory_cpu_share": round(total - lines["lambda_compute"] + at_share_compute, 4),
        "lambda_compute_with_provider_latency": round(waiting_compute, 4),
        "total_per_million_with_provider_latency": round(total - lines["lambda_compute"] + waiting_compute, 4),
        # Kept for a month: DynamoDB storage and PITR of what a million requests wrote (not in the totals).
        "storage_gb_per_million": round(stored_bytes * MILLION / 1e9, 4),
        "storage_per_million_per_month": round(stored_bytes * MILLION / 1e9 * (
            PRICES["dynamodb_storage_per_gb_month"] + PRICES["dynamodb_pitr_per_gb_month"]), 4),
    }


def litellm_bill(run: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM on Fargate arm64 at the requests per second per vCPU it sustained:
    1000 / its CPU ms per request (a single async worker uses at most one CPU)."""
    cpu_ms = run["cpu_ms_per_request"]
    rps_per_vcpu = 1000 / cpu_ms
    per_vcpu_hour = PRICES["fargate_arm64_per_vcpu_hour"] + FARGATE_GB_PER_VCPU * PRICES["fargate_arm64_per_gb_hour"]
    vcpu_hours_per_million = MILLION / rps_per_vcpu / 3600
    smallest = FARGATE_SMALLEST_VCPU * per_vcpu_hour * HOURS_PER_MONTH
    return {
        "cpu_ms_per_request": cpu_ms,
        "rps_measured": run.get("rps"),
        "rps_per_vcpu": round(rps_per_vcpu, 1),
        "fargate_task": f"{FARGATE_SMALLEST_VCPU} vCPU, {FARGATE_SMALLEST_VCPU * FARGATE_GB_PER_VCPU:g} GB (peak RSS {run.get('peak_rss_mb')} MB)",
        "per_vcpu_hour_with_memory": round(per_vcpu_hour, 5),
        "total_per_million_at_full_use": round(vcpu_hours_per_million * per_vcpu_hour, 4),
        "total_per_million_at_half_use": round(2 * vcpu_hours_per_million * per_vcpu_hour, 4),
        "smallest_task_per_month": round(smallest, 2),
        "smallest_task_capacity_rps": round(rps_per_vcpu * FARGATE_SMALLEST_VCPU, 1),
        "note": "always on; an async worker waits for the provider without CPU, so a provider's latency does not change "
                "this figure; no load balancer, database or logs counted (the bench's LiteLLM writes no journal)",
    }


BASELINE = "before-issue-29.json"  # in bench/results: main's full run the day issue 29 was filed


def usage_wru_per_record(usage: dict[str, Any] | None) -> float | None:
    """Write units the usage counting spent per journal record, in either shape of the figures."""
    if not usage or not usage.get("records_in_batch"):
        return None
    if "wru_per_record" in usage:
        return float(usage["wru_per_record"])
    return usage["counters_per_batch"] * usage["wru_per_counter"] / usage["records_in_batch"]  # before issue 29


def _item_bytes(written: dict[str, Any] | None) -> dict[str, Any]:
    """Mean bytes of a scenario's journal item, its index entry and its session items (and how many)."""
    written = written or {}
    journal, sessions = written.get("journal") or {}, written.get("sessions") or {}
    return {"journal": journal.get("mean_item_bytes"), "index": journal.get("index_mean_item_bytes"),
            "session": sessions.get("mean_item_bytes"), "session_items": sessions.get("items_per_request")}


def before_after(after: dict[str, Any], before: dict[str, Any] | None, written: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per scenario: item sizes, write units (journal, index and session; usage) and dollars per
    million, before (the baseline run) and after (this run: its bill and what it `written`)."""
    out: dict[str, Any] = {}
    before_usage = usage_wru_per_record(((before or {}).get("_warm_usage")))
    for name, now in (after.get("scenarios") or {}).items():
        was = ((before or {}).get("scenarios") or {}).get(name) or {}
        out[name] = {
            "item_bytes": {"before": _item_bytes(((before or {}).get("_warm_written") or {}).get(name)),
                           "after": _item_bytes((written or {}).get(name))},
            "request_wru": {"before": was.get("dynamodb_wru_per_request"), "after": now["dynamodb_wru_per_request"]},
            "usage_wru": {"before": round(before_usage, 4) if before_usage is not None else None, "after": now.get("usage_wru_per_request")},
            "per_million": {"before": was.get("total_per_million"), "after": now["total_per_million"]},
            "per_million_with_provider_latency": {"before": was.get("total_per_million_with_provider_latency"),
                                                  "after": now["total_per_million_with_provider_latency"]},
        }
    return out


def load_baseline() -> dict[str, Any] | None:
    """The baseline run's cost section (and its usage figures), or None when the file is absent."""
    import json
    from pathlib import Path

    path = Path(__file__).parent / "results" / BASELINE
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    found = dict(data.get("cost") or {})
    warm = data.get("warm") or {}
    found["_warm_usage"] = warm.get("usage_counters")
    found["_warm_written"] = {name: run["written"] for name, run in warm.items() if isinstance(run, dict) and "written" in run}
    found["_started_at"] = (data.get("meta") or {}).get("started_at")
    return found


def bill(results: dict[str, Any]) -> dict[str, Any]:
    """The cost section of the results, from the warm and side-by-side sections."""
    from smarter_local.cfn import load_template

    template = load_template()
    memory = function_memory(template)
    out: dict[str, Any] = {
        "prices": PRICES,
        "assumptions": {
            "provider_latency_ms_per_upstream_call": PROVIDER_LATENCY_MS,
            "lambda_mb_per_vcpu": LAMBDA_MB_PER_VCPU,
            "lambda_platform_log_bytes": LAMBDA_PLATFORM_LOG_BYTES,
            "xray_sampled_share": XRAY_SAMPLED_SHARE,
            "usage_batch_size": usage_batch_size(template),
            "fargate_gb_per_vcpu": FARGATE_GB_PER_VCPU,
        },
        "function_memory_mb": memory,
    }
    warm = results.get("warm") or {}
    usage = warm.get("usage_counters")
    scenarios = {}
    for name, function in SCENARIO_FUNCTIONS.items():
        run = warm.get(name)
        if not isinstance(run, dict) or "written" not in run or not run.get("_wall_ms"):
            continue
        scenarios[name] = scenario_bill(run, run["_wall_ms"], run["_cpu_ms"], memory[function], usage,
                                        memory.get("UsageFunction", 256))
    out["scenarios"] = scenarios
    side = results.get("side_by_side") or {}
    litellm = {c: litellm_bill(side[c]["litellm"]) for c in ("c1", "c8") if (side.get(c) or {}).get("litellm", {}).get("cpu_ms_per_request")}
    if litellm:
        out["litellm_fargate"] = litellm
    baseline = load_baseline()
    out["before_after"] = before_after(out, baseline, {name: run.get("written") for name, run in warm.items() if isinstance(run, dict)})
    out["baseline"] = {"file": f"bench/results/{BASELINE}", "started_at": (baseline or {}).get("_started_at")}
    if "litellm_fargate" not in out and (baseline or {}).get("litellm_fargate"):
        # This run had no side by side: LiteLLM's figure from the baseline run (it writes nothing,
        # so only its CPU per request, measured there, moves it).
        out["litellm_fargate_from_baseline"] = baseline["litellm_fargate"]
    cold = results.get("cold_start") or {}
    if cold.get("prompt"):
        init_ms = cold["prompt"]["import_ms"]
        out["cold_start"] = {
            "init_ms": init_ms,
            "per_cold_start": round(init_ms / 1000 * memory["PromptFunction"] / 1024 * PRICES["lambda_arm64_per_gb_second"], 9),
            "per_million_if_1pct_cold": round(lambda_compute(init_ms, memory["PromptFunction"]) * 0.01, 4),
        }
    return out
