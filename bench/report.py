"""The targets of issue #6 checked against a run, and the run as a text table."""

from __future__ import annotations

from typing import Any

# (name, limit, unit): a measured value at or below the limit meets the target.
CPU_PER_PROMPT_MS = 3.0
AWS_CALLS_PER_PROMPT = 3
COLD_PROMPT_MS = 1300.0
COLD_PASSTHROUGH_MS = 700.0
PEAK_RSS_MB = 160.0
VS_LITELLM = 0.5


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _target(name: str, measured: Any, limit: float, unit: str = "") -> dict[str, Any]:
    met = measured is not None and measured <= limit
    return {"target": name, "measured": measured, "limit": limit, "unit": unit, "met": met}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    warm = results.get("warm")
    if warm:
        for scenario in ("prompt_plain", "prompt_session"):
            calls = _get(warm, scenario, "aws_calls", "per_request_total", "p50")
            found.append(_target(f"AWS calls per warm {scenario} (median)", calls, AWS_CALLS_PER_PROMPT, "calls"))
        found.append(_target("CPU per warm plain prompt (gateway process)", _get(warm, "prompt_plain", "cpu_ms_per_request"),
                             CPU_PER_PROMPT_MS, "ms"))
    side = results.get("side_by_side")
    if side:
        for c in ("c1", "c8"):
            ratios = _get(side, c, "ratios", "smarter_prompt") or {}
            # Each gateway's own header, as the issue asks, and the like-for-like client-side figure
            # (LiteLLM's header spans only its completion call, not its HTTP server, auth or routing).
            for key, label in (("cpu_per_request", "CPU per request"), ("added_latency_p50", "added latency p50, own headers"),
                               ("added_latency_p99", "added latency p99, own headers"),
                               ("client_added_p50", "added latency p50, client side")):
                found.append(_target(f"prompt vs LiteLLM at {c}: {label} (ratio)", ratios.get(key), VS_LITELLM, "x"))
        stream = side.get("streaming") or {}
        for name, label in (("smarter_openai", "OpenAI API stream"), ("smarter_passthrough", "passthrough stream")):
            ratios = _get(stream, "ratios", name) or {}
            found.append(_target(f"{label} vs LiteLLM: time-to-first-token overhead (ratio)", ratios.get("ttft_overhead"), VS_LITELLM, "x"))
            found.append(_target(f"{label} vs LiteLLM: CPU per streamed request (ratio)", ratios.get("cpu_per_request"), VS_LITELLM, "x"))
    cold = results.get("cold_start")
    if cold:
        found.append(_target("cold start, prompt", _get(cold, "prompt", "total_ms"), COLD_PROMPT_MS, "ms"))
        found.append(_target("cold start, passthrough", _get(cold, "passthrough", "total_ms"), COLD_PASSTHROUGH_MS, "ms"))
        peaks = [v for v in (_get(cold, "prompt", "max_rss_mb"), _get(cold, "passthrough", "max_rss_mb")) if v is not None]
        found.append(_target("peak memory after the first request", max(peaks) if peaks else None, PEAK_RSS_MB, "MB"))
    growth = results.get("growth")
    if growth:
        for kind in ("session", "plugins"):
            worst = None
            for point in (growth.get(kind) or [])[1:]:
                g = point.get("growth_vs_first") or {}
                if g.get("handler_cpu_p50") and g.get("upstream_bytes"):
                    excess = g["handler_cpu_p50"] / g["upstream_bytes"]
                    worst = excess if worst is None else max(worst, excess)
            found.append(_target(f"{kind} growth: CPU growth / bytes-upstream growth (worst point)",
                                 round(worst, 3) if worst is not None else None, 1.0, "x"))
    return found


# --- the table -----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rows(title: str, header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"\n{title}"]
    for i, row in enumerate(cells):
        lines.append("  " + "  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _calls(run: dict[str, Any]) -> str:
    calls = _get(run, "aws_calls", "per_request_by_kind") or {}
    return " ".join(f"{k.split('.', 1)[-1]}={v:g}" for k, v in calls.items()) or "-"


def table(results: dict[str, Any]) -> str:
    parts = [f"Smarter Serverless benchmarks ({results['meta']['mode']} run, {results['meta']['machine']['cpus']} CPUs, "
             f"{results['meta'].get('duration_s', '?')} s)"]
    warm = results.get("warm")
    if warm:
        rows = []
        for name, run in warm.items():
            if not isinstance(run, dict):
                continue
            rows.append([name, run["requests"], run.get("cpu_ms_per_request"), _get(run, "handler_cpu_ms", "p50"),
                         _get(run, "handler_cpu_ms", "p99"), _get(run, "overhead_ms", "p50"), _get(run, "overhead_ms", "p99"),
                         _get(run, "aws_calls", "per_request_total", "p50"), _calls(run), run.get("upstream_bytes_per_request")])
        parts.append(_rows("1. Warm cost per request (1 process, c=1)",
                           ["scenario", "n", "cpu ms/req", "handler cpu p50", "p99", "added ms p50", "p99", "aws calls", "by kind",
                            "bytes up"], rows))
    side = results.get("side_by_side")
    if side:
        rows = []
        for c in ("c1", "c8"):
            for name, run in (side.get(c) or {}).items():
                if name == "ratios":
                    continue
                rows.append([f"{c} {name}", run["processes"], run["rps"], run.get("cpu_ms_per_request"),
                             _get(run, "overhead_ms", "p50"), _get(run, "overhead_ms", "p99"), _get(run, "latency_ms", "p50"),
                             _get(run, "latency_ms", "p99"), _get(run, "client_added_ms", "p50"), run.get("peak_rss_mb")])
        parts.append(_rows(f"2. Side by side with LiteLLM {side.get('litellm_version', '')}",
                           ["run", "procs", "rps", "cpu ms/req", "added p50", "added p99", "latency p50", "p99", "client added p50",
                            "rss MB"], rows))
        rows = []
        for c in ("c1", "c8"):
            for name, ratio in (_get(side, c, "ratios") or {}).items():
                rows.append([f"{c} {name} / litellm", ratio["cpu_per_request"], ratio["added_latency_p50"], ratio["added_latency_p99"],
                             ratio["client_added_p50"], ratio["rps"]])
        parts.append(_rows("   ratios (ours / LiteLLM's)", ["", "cpu/req", "added p50", "added p99", "client added p50", "rps"], rows))
        stream = side.get("streaming") or {}
        rows = [[name, run["requests"], _get(run, "ttft_ms", "p50"), _get(run, "ttft_ms", "p99"), run.get("ttft_overhead_ms"),
                 _get(run, "total_ms", "p50"), run.get("per_chunk_overhead_ms"), run.get("content_chunks"), run.get("cpu_ms_per_request")]
                for name, run in stream.items() if isinstance(run, dict) and "ttft_ms" in run]
        if rows:
            parts.append(_rows("   streaming (c=1, same upstream)", ["", "n", "ttft p50", "ttft p99", "ttft added", "total p50",
                                                                    "added ms/chunk", "chunks", "cpu ms/req"], rows))
    cold = results.get("cold_start")
    if cold:
        rows = [[f, cold[f]["total_ms"], cold[f]["import_ms"], cold[f]["first_request_ms"], cold[f]["max_rss_mb"], cold[f]["runs"]]
                for f in ("prompt", "passthrough") if f in cold]
        parts.append(_rows("3. Cold start (median)", ["function", "total ms", "import ms", "first request ms", "peak rss MB", "runs"], rows))
        for f in ("prompt", "passthrough"):
            slow = _get(cold, f, "slowest_imports_ms")
            if slow:
                parts.append(f"   slowest imports, {f}: " + ", ".join(f"{k} {v:g}" for k, v in list(slow.items())[:8]))
    growth = results.get("growth")
    if growth:
        for kind, label in (("session", "earlier_messages"), ("plugins", "plugins")):
            rows = [[p[label], p["requests"], p.get("cpu_ms_per_request"), _get(p, "handler_cpu_ms", "p50"), _get(p, "overhead_ms", "p50"),
                     _get(p, "aws_calls", "per_request_total", "p50"), p.get("upstream_bytes_per_request"),
                     _get(p, "growth_vs_first", "handler_cpu_p50"), _get(p, "growth_vs_first", "upstream_bytes")]
                    for p in growth.get(kind) or []]
            parts.append(_rows(f"4. Growth with {kind}", [label, "n", "cpu ms/req", "handler cpu p50", "added p50", "aws calls",
                                                          "bytes up", "cpu x", "bytes x"], rows))
    found = results.get("targets") or []
    if found:
        rows = [[t["target"], f"{_fmt(t['measured'])} {t['unit']}", f"<= {t['limit']:g} {t['unit']}", "met" if t["met"] else "MISSED"]
                for t in found]
        parts.append(_rows("Targets", ["target", "measured", "limit", ""], rows))
    return "\n".join(parts)


# --- markdown, for docs/performance.md ----------------------------------------------------------


def _md(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The run's tables in Markdown: `python -m bench.report bench/results/latest.json`."""
    parts = []
    warm = results.get("warm") or {}
    rows = [[name, run.get("cpu_ms_per_request"), _get(run, "handler_cpu_ms", "p50"), _get(run, "handler_cpu_ms", "p99"),
             _get(run, "overhead_ms", "p50"), _get(run, "overhead_ms", "p99"), _get(run, "aws_calls", "per_request_total", "p50"),
             _calls(run), run.get("upstream_bytes_per_request")]
            for name, run in warm.items() if isinstance(run, dict)]
    if rows:
        parts.append(_md(["warm, 1 process, c=1", "CPU ms/req (process)", "CPU p50", "CPU p99", "added ms p50", "added p99",
                          "AWS calls", "by kind (mean)", "bytes upstream"], rows))
    side = results.get("side_by_side") or {}
    rows = []
    for c in ("c1", "c8"):
        for name, run in (side.get(c) or {}).items():
            if name != "ratios":
                rows.append([f"{c} {name}", run["processes"], run["rps"], run.get("cpu_ms_per_request"), _get(run, "overhead_ms", "p50"),
                             _get(run, "overhead_ms", "p99"), _get(run, "client_added_ms", "p50"), _get(run, "latency_ms", "p99"),
                             run.get("peak_rss_mb")])
    if rows:
        parts.append(_md(["side by side", "processes", "req/s", "CPU ms/req", "added p50 (own header)", "added p99 (own header)",
                          "client-side added p50", "client latency p99", "peak RSS MB"], rows))
        rows = [[f"{c} {name} / LiteLLM", r["cpu_per_request"], r["added_latency_p50"], r["added_latency_p99"], r["client_added_p50"], r["rps"]]
                for c in ("c1", "c8") for name, r in (_get(side, c, "ratios") or {}).items()]
        parts.append(_md(["ratio (ours / LiteLLM)", "CPU/req", "added p50", "added p99", "client-side added p50", "req/s"], rows))
        stream = side.get("streaming") or {}
        rows = [[name, _get(run, "ttft_ms", "p50"), _get(run, "ttft_ms", "p99"), run.get("ttft_overhead_ms"), _get(run, "total_ms", "p50"),
                 run.get("per_chunk_overhead_ms"), run.get("cpu_ms_per_request")]
                for name, run in stream.items() if isinstance(run, dict) and "ttft_ms" in run]
        if rows:
            parts.append(_md(["streaming, c=1", "TTFT p50 ms", "TTFT p99", "TTFT added", "total p50", "added ms per chunk",
                              "CPU ms/req"], rows))
    cold = results.get("cold_start") or {}
    rows = [[f, cold[f]["total_ms"], cold[f]["import_ms"], cold[f]["first_request_ms"], cold[f]["max_rss_mb"], cold[f]["runs"]]
            for f in ("prompt", "passthrough") if f in cold]
    if rows:
        parts.append(_md(["cold start (median)", "spawn to answer ms", "import ms", "first request ms", "peak RSS MB", "runs"], rows))
    growth = results.get("growth") or {}
    for kind, label in (("session", "earlier messages"), ("plugins", "plugins")):
        key = "earlier_messages" if kind == "session" else "plugins"
        rows = [[p[key], p.get("cpu_ms_per_request"), _get(p, "handler_cpu_ms", "p50"), _get(p, "overhead_ms", "p50"),
                 _get(p, "aws_calls", "per_request_total", "p50"), p.get("upstream_bytes_per_request"),
                 _get(p, "growth_vs_first", "handler_cpu_p50"), _get(p, "growth_vs_first", "upstream_bytes")]
                for p in growth.get(kind) or []]
        if rows:
            parts.append(_md([label, "CPU ms/req", "CPU p50", "added ms p50", "AWS calls", "bytes upstream", "CPU growth", "bytes growth"], rows))
    found = results.get("targets") or []
    if found:
        parts.append(_md(["target", "measured", "limit", ""],
                         [[t["target"], f"{_fmt(t['measured'])} {t['unit']}", f"≤ {t['limit']:g} {t['unit']}", "met" if t["met"] else "**missed**"]
                          for t in found]))
    return "\n\n".join(parts)


if __name__ == "__main__":
    import json
    import sys

    print(markdown(json.loads(open(sys.argv[1], encoding="utf-8").read())))
