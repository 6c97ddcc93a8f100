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

    for name in ("prompt_plain", "prompt_session", "prompt_tool_round", "passthrough"):
        run = results["warm"][name]
        assert run["requests"] > 0 and run["ok"] == run["requests"], (name, run["errors"])
        assert _positive(run["cpu_ms_per_request"]) and _positive(run["handler_cpu_ms"]["p50"])
        assert _positive(run["overhead_ms"]["p50"]) and _positive(run["latency_ms"]["p99"])
        assert _positive(run["aws_calls"]["per_request_total"]["p50"])
        assert _positive(run["upstream_bytes_per_request"])

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
    for name in ("direct", "smarter_openai", "smarter_passthrough", "litellm"):
        run = stream[name]
        assert run["ok"] == run["requests"] > 0, (name, run["errors"])
        assert _positive(run["ttft_ms"]["p50"]) and run["ttft_ms"]["p50"] < run["total_ms"]["p50"]
        assert run["content_chunks"] >= 20  # streamed chunk by chunk, through every gateway
    for name in ("smarter_openai", "smarter_passthrough"):
        assert _positive(stream[name]["cpu_ms_per_request"]) and _number(stream[name]["per_chunk_overhead_ms"])
        assert all(_positive(v) for v in stream["ratios"][name].values())

    for function in ("prompt", "passthrough"):
        cold = results["cold_start"][function]
        assert cold["status"] == [200]
        assert _positive(cold["total_ms"]) and _positive(cold["import_ms"]) and _positive(cold["max_rss_mb"])

    growth = results["growth"]
    assert [p["earlier_messages"] for p in growth["session"]] == [10, 100, 1000]
    assert [p["plugins"] for p in growth["plugins"]] == [1, 10, 50]
    for point in growth["session"] + growth["plugins"]:
        assert point["ok"] == point["requests"] > 0
        assert _positive(point["handler_cpu_ms"]["p50"]) and _positive(point["upstream_bytes_per_request"])
    # More history and more tools send more bytes upstream.
    assert growth["session"][-1]["upstream_bytes_per_request"] > growth["session"][0]["upstream_bytes_per_request"]
    assert growth["plugins"][-1]["upstream_bytes_per_request"] > growth["plugins"][0]["upstream_bytes_per_request"]

    assert results["targets"] and all(_number(t["measured"]) for t in results["targets"])
    assert "Targets" in proc.stdout
