"""Fallback under a flaky upstream: this gateway's routing beside LiteLLM's router.

Two OpenAI-format upstreams on loopback (smarter_local.openai_server): `flaky`
answers 503 to 30 % of requests (a seeded sequence, the same for both
gateways), `healthy` always answers. Each gateway routes to flaky first with
no retry and falls back to healthy once; cooldowns are off on both, so every
request meets the 30 % and the fallback hop is measured, not skipped.

- ours: the local stack in its own process (`python -m smarter_local`, as
  `make run` starts it), an LLMClient with `spec.routing` over two account
  Providers, called on its OpenAI API (`/v1/chat/completions`);
- LiteLLM: its proxy (bench/litellm_proxy.py's pinned venv), two model
  groups and `fallbacks: [{flaky: [healthy]}]`, `num_retries: 0`,
  `disable_cooldowns: true`.

Printed and written to bench/results/fallback.json: success rate, client
p50/p99, and the added latency of one fallback hop (p50 of answers the
fallback served minus p50 of answers the first target served). Bounded:
`--requests` per run (default 300), sequential, loopback only.

    .venv/bin/python -m bench.fallback [--requests 300] [--no-litellm]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import litellm_proxy, procs
from bench.load import percentile

FAIL_RATE = 0.30
SEED = 23
RESULTS = Path(__file__).with_name("results") / "fallback.json"
ACCOUNT = "3141-5926-5359"
CLIENT = "bench-fallback"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "ping"}]}


def script(server: Any, count: int, fail_rate: float) -> None:
    """The same seeded sequence of answers for every run: `fail_rate` of them 503."""
    from smarter_local.openai_server import Scripted, completion, error

    server.reset()
    rng = random.Random(SEED)
    for _ in range(count + 50):  # warm-up and slack
        if rng.random() < fail_rate:
            server.queue.append(Scripted(status=503, body=error(503, "overloaded", "server_error")))
        else:
            server.queue.append(Scripted(body=completion("pong")))
    server.default = Scripted(body=completion("pong"))


def run(port: int, host: str, headers: dict[str, str], count: int, *, served_by: str) -> dict[str, Any]:
    """`count` sequential requests on one keep-alive connection; who served each (header `served_by`)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps(BODY).encode()
    samples: list[tuple[float, int, str]] = []
    for i in range(count + 10):
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Host": host, "Content-Type": "application/json", **headers})
        response = conn.getresponse()
        response.read()
        took = (time.perf_counter() - started) * 1000
        if i >= 10:  # the first ten warm the path
            samples.append((took, response.status, response.getheader(served_by) or ""))
    conn.close()
    ok = [s for s in samples if s[1] == 200]
    return {"requests": len(samples), "success_rate": round(len(ok) / len(samples), 4),
            "p50_ms": _r(percentile([s[0] for s in ok], 50)), "p99_ms": _r(percentile([s[0] for s in ok], 99)),
            "served": {who: sum(1 for s in ok if s[2] == who) for who in sorted({s[2] for s in ok})},
            "by_server": {who: {"p50_ms": _r(percentile([s[0] for s in ok if s[2] == who], 50))} for who in sorted({s[2] for s in ok})}}


def _r(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def ours(flaky: Any, healthy: Any, count: int, log_dir: Path) -> dict[str, Any]:
    """The local stack in its own process (`python -m smarter_local`, as `make run`
    starts it), its manifests applied with the admin CLI it prints."""
    import os
    import shlex
    import subprocess

    port, moto_port = procs.free_port(), procs.free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMARTER_"))},
           "PORT": str(port), "MOTO_PORT": str(moto_port), "SMARTER_DEMO_PROVIDER": "offline", "PYTHONUNBUFFERED": "1"}
    log = (log_dir / "smarter-local.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "smarter_local"], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        api_key, admin = "", ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            if line.startswith("API key: "):
                api_key = line.removeprefix("API key: ").strip()
            if line.startswith("Admin CLI against this stack: export "):
                admin = line.removeprefix("Admin CLI against this stack: export ").strip()
            if line.startswith("Stop with Ctrl-C."):
                break
        if not api_key or not admin:
            raise RuntimeError(f"the local stack did not start; see {log_dir}")
        admin_env = {**env, **dict(item.split("=", 1) for item in shlex.split(admin))}
        docs = [{"apiVersion": "smarter.sh/v1", "kind": "Provider", "metadata": {"name": name, "account": ACCOUNT},
                 "spec": {"baseUrl": server.base_url, "models": [{"name": "gpt-4o-mini"}]}} for name, server in (("flaky", flaky), ("healthy", healthy))]
        # No retry, and cooldowns that never start (100 failures within 1 ms): every request meets the 30 %.
        routing = {"targets": [{"provider": "flaky", "model": "gpt-4o-mini"}, {"provider": "healthy", "model": "gpt-4o-mini"}],
                   "retries": 0, "cooldown": {"failures": 100, "windowSeconds": 0.001, "seconds": 1}}
        docs += [{"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": CLIENT, "account": ACCOUNT}, "spec": {"routing": routing}},
                 {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "bench-direct", "account": ACCOUNT},
                  "spec": {"config": {"provider": "healthy", "defaultModel": "gpt-4o-mini"}}}]
        manifest = log_dir / "fallback-manifests.json"
        manifest.write_text(json.dumps(docs), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "smarter_admin", "apply", "-f", str(manifest)], env=admin_env, check=True, capture_output=True, timeout=120)
        headers = {"Authorization": f"Bearer {api_key}"}
        script(healthy, count, 0.0)
        direct = run(port, f"bench-direct.{ACCOUNT}.api.localhost", headers, count, served_by="x-smarter-provider")
        script(flaky, count, FAIL_RATE)
        script(healthy, count, 0.0)
        routed = run(port, f"{CLIENT}.{ACCOUNT}.api.localhost", headers, count, served_by="x-smarter-provider")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    return {"direct": direct, "fallback": routed, "hop_ms": _hop(routed, "flaky", "healthy")}


def _hop(result: dict[str, Any], first: str, fallback: str) -> float | None:
    by = result["by_server"]
    if first in by and fallback in by and by[first]["p50_ms"] is not None and by[fallback]["p50_ms"] is not None:
        return round(by[fallback]["p50_ms"] - by[first]["p50_ms"], 2)
    return None


def litellm(flaky: Any, healthy: Any, count: int, log_dir: Path) -> dict[str, Any]:
    version = litellm_proxy.ensure_installed()
    config = log_dir / "litellm-fallback.yaml"
    config.write_text(
        "model_list:\n"
        + "".join(f"  - model_name: {name}\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {server.base_url}\n"
                  f"      api_key: sk-bench-upstream\n" for name, server in (("flaky", flaky), ("healthy", healthy)))
        + "router_settings:\n  num_retries: 0\n  fallbacks: [{\"flaky\": [\"healthy\"]}]\n  disable_cooldowns: true\n"
        f"general_settings:\n  master_key: {litellm_proxy.MASTER_KEY}\nlitellm_settings:\n  telemetry: false\n  num_retries: 0\n",
        encoding="utf-8",
    )
    port = procs.free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "bench.procs", str(litellm_proxy.executable()), "--config", str(config), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", "1", "--telemetry", "False"]
    service = procs.start("litellm-fallback", argv, env=env, log_dir=log_dir, port=port, timeout=180)
    service.stop_timeout = 8.0
    try:
        litellm_proxy._wait_healthy(service)
        headers = {"Authorization": f"Bearer {litellm_proxy.MASTER_KEY}"}
        global BODY
        saved = BODY
        try:
            BODY = {**saved, "model": "healthy"}
            script(healthy, count, 0.0)
            direct = run(port, "127.0.0.1", headers, count, served_by="x-litellm-model-api-base")
            BODY = {**saved, "model": "flaky"}
            script(flaky, count, FAIL_RATE)
            script(healthy, count, 0.0)
            routed = run(port, "127.0.0.1", headers, count, served_by="x-litellm-model-api-base")
        finally:
            BODY = saved
    finally:
        service.stop()
    for result in (direct, routed):  # LiteLLM names the deployment that answered by its api_base
        for table in ("served", "by_server"):
            result[table] = {_name(key, flaky, healthy): value for key, value in result[table].items()}
    return {"version": version, "direct": direct, "fallback": routed, "hop_ms": _hop(routed, "flaky", "healthy")}


def _name(api_base: str, flaky: Any, healthy: Any) -> str:
    return "flaky" if f":{flaky.port}" in api_base else "healthy" if f":{healthy.port}" in api_base else api_base or "unnamed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes (default bench/results/fallback.json)")
    args = parser.parse_args(argv)
    from smarter_local.openai_server import OpenAIServer

    flaky, healthy = OpenAIServer().start(), OpenAIServer().start()
    try:
        log_dir = Path(tempfile.mkdtemp(prefix="smarter-bench-fallback-"))
        out: dict[str, Any] = {"fail_rate": FAIL_RATE, "requests": args.requests, "ours": ours(flaky, healthy, args.requests, log_dir)}
        if not args.no_litellm:
            out["litellm"] = litellm(flaky, healthy, args.requests, log_dir)
    finally:
        flaky.stop()
        healthy.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
