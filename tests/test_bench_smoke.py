"""`python -m bench --smoke` runs every benchmark briefly and writes JSON with
numbers in every section (make bench runs the same code at full size)."""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Number
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _positive(value) -> bool:
    return _number(value) and value > 0


@pytest.mark.timeout(1200)  # the first run on a machine also installs LiteLLM
def test_smoke_run_writes_every_section_with_numbers(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())

    for name in ("prompt_plain", "prompt_plain_limited", "prompt_session", "prompt_session_limited", "prompt_tool_round", "passthrough"):
        run = results["warm"][name]
        assert run["requests"] > 0 and run["ok"] == run["requests"], (name, run["errors"])
        assert _positive(run["cpu_ms_per_request"]) and _positive(run["handler_cpu_ms"]["p50"])
        assert _positive(run["overhead_ms"]["p50"]) and _positive(run["latency_ms"]["p99"])
        assert _positive(run["aws_calls"]["per_request_total"]["p50"])
        assert _positive(run["upstream_bytes_per_request"])

    added = results["warm"]["limits_added"]
    assert added["prompt_plain"]["aws_calls_limited_p50"] <= 3 and added["prompt_session"]["aws_calls_limited_p50"] <= 3
    assert _positive(added["logic_cpu_ms"])

    side = results["side_by_side"]
    for concurrency in ("c1", "c8"):
        for name in ("smarter_prompt", "smarter_passthrough", "litellm"):
            run = side[concurrency][name]
            assert run["ok"] == run["requests"] > 0, (concurrency, name, run["errors"])
            assert _positive(run["rps"]) and _positive(run["cpu_ms_per_request"])
            assert _positive(run["overhead_ms"]["p50"]) and _positive(run["overhead_ms"]["p99"])
        for ratios in side[concurrency]["ratios"].values():
            assert all(_positive(ratios[k]) for k in ("cpu_per_request", "added_latency_p50", "added_latency_p99", "rps"))

    stream = side["streaming"]
    for name in ("direct", "smarter_openai", "smarter_passthrough", "litellm", "smarter_responses", "litellm_responses"):
        run = stream[name]
        assert run["ok"] == run["requests"] > 0, (name, run["errors"])
        assert _positive(run["ttft_ms"]["p50"]) and run["ttft_ms"]["p50"] < run["total_ms"]["p50"]
        assert run["content_chunks"] >= 20  # streamed chunk by chunk, through every gateway
    for name in ("smarter_openai", "smarter_passthrough", "smarter_responses"):
        assert _positive(stream[name]["cpu_ms_per_request"]) and _number(stream[name]["per_chunk_overhead_ms"])
        assert all(_positive(v) for v in stream["ratios"][name].values())

    for function in ("prompt", "passthrough"):
        cold = results["cold_start"][function]
        assert cold["status"] == [200]
        assert _positive(cold["total_ms"]) and _positive(cold["import_ms"]) and _positive(cold["max_rss_mb"])

    cli = results["cold_start"]["cli"]
    for command in ("help", "get_clients"):
        assert cli[command]["runs"] >= 3 and _positive(cli[command]["total_ms"]) and cli[command]["best_ms"] <= cli[command]["total_ms"]

    growth = results["growth"]
    assert [p["earlier_messages"] for p in growth["session"]] == [10, 100, 1000]
    assert [p["plugins"] for p in growth["plugins"]] == [1, 10, 50]
    for point in growth["session"] + growth["plugins"]:
        assert point["ok"] == point["requests"] > 0
        assert _positive(point["handler_cpu_ms"]["p50"]) and _positive(point["upstream_bytes_per_request"])
    # More history and more tools send more bytes upstream.
    assert growth["session"][-1]["upstream_bytes_per_request"] > growth["session"][0]["upstream_bytes_per_request"]
    assert growth["plugins"][-1]["upstream_bytes_per_request"] > growth["plugins"][0]["upstream_bytes_per_request"]

    bill = results["cost"]
    assert bill["prices"]["region"] == "us-east-1" and bill["prices"]["recorded_on"]
    assert bill["function_memory_mb"]["PromptFunction"] > 0
    for name in ("prompt_plain", "prompt_session", "prompt_tool_round", "passthrough"):
        written = results["warm"][name]["written"]
        assert written["journal"]["items_per_request"] >= 1 and written["journal"]["wru_per_request"] >= 1
        scenario = bill["scenarios"][name]
        lines = scenario["per_million"]
        for line in ("lambda_requests", "lambda_compute", "api_gateway_rest", "dynamodb_writes", "usage_counters",
                     "cloudwatch_logs", "xray_traces"):
            assert _positive(lines[line]), (name, line, lines)
        assert _positive(scenario["total_per_million"])
        # A buffered Lambda pays for waiting on the provider.
        assert scenario["total_per_million_with_provider_latency"] > scenario["total_per_million"]
    assert _positive(bill["scenarios"]["prompt_session"]["per_million"]["dynamodb_reads"])
    assert results["warm"]["prompt_plain"]["written"]["sessions"]["items_per_request"] >= 1
    for concurrency in ("c1", "c8"):
        fargate = bill["litellm_fargate"][concurrency]
        assert _positive(fargate["total_per_million_at_full_use"]) and _positive(fargate["smallest_task_per_month"])
    assert "Cost per million requests" in proc.stdout

    assert results["targets"] and all(_number(t["measured"]) for t in results["targets"])
    # Issues 15's and 29's targets, each with the Smarter and LiteLLM figures behind it, side by side
    # (issue 29 moved the two cold starts and added the plain prompt's dollars per million).
    issue15 = [t for t in results["targets"] if t["issue"] == 15]
    assert len(issue15) == 5, [t["target"] for t in issue15]
    issue29 = [t for t in results["targets"] if t["issue"] == 29]
    assert len(issue29) == 3, [t["target"] for t in issue29]
    assert all(_number(t["smarter"]) and _number(t["litellm"]) for t in issue15 + issue29), issue15 + issue29
    # Write units and dollars per million, before (the baseline run) and after, per scenario.
    for name in ("prompt_plain", "prompt_session", "prompt_tool_round", "passthrough"):
        compared = bill["before_after"][name]
        assert compared["request_wru"]["before"] and compared["request_wru"]["after"], compared
        assert compared["usage_wru"]["before"] == 4 and compared["usage_wru"]["after"] < 4, compared
        assert _positive(compared["per_million"]["before"]) and _positive(compared["per_million"]["after"])
    assert "5b. Write units and USD per million" in proc.stdout
    assert _positive(results["side_by_side"]["litellm_startup_ms"])
    assert "Targets" in proc.stdout
