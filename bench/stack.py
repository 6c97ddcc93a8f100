"""The harness's world: moto and the upstream in processes of their own,
tables from template.yaml, the bench tenant, and Smarter gateway workers.

The harness process itself talks to moto (to seed tenants and sessions) but
is never measured; the gateways run in their own processes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import procs

ACCOUNT = "3141-5926-5359"
CLIENT = "bench"
LIMITED_CLIENT = "bench-limited"  # same as CLIENT, with rate limits and a budget (tenancy/limits.py)
# Generous enough never to refuse in a run; they still make every request reserve and settle.
CLIENT_LIMITS = {"requestsPerMinute": 1_000_000, "tokensPerMinute": 10**12, "usdPerMonth": 1_000_000}
KEY_LIMITS = {"tokensPerDay": 10**12}
API_DOMAIN = "api.localhost"
PLUGIN_COUNTS = (1, 10, 50)
PROVIDER_KEY = "sk-bench-upstream"


def plugins_client(count: int) -> str:
    return f"plugins-{count}"


def support_plugin() -> dict[str, Any]:
    """Like the demo's: offered when the prompt mentions support, hours, contact..."""
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "Plugin",
        "metadata": {"name": "support_info", "account": ACCOUNT, "pluginClass": "static", "description": "Support facts."},
        "spec": {
            "selector": {"directive": "search_terms", "searchTerms": ["support", "hours", "contact", "refund", "open"]},
            "prompt": {"systemRole": "When asked about support, look it up with the support_info tool before answering."},
            "data": {
                "description": "Look up support facts (hours, contact, refunds).",
                "staticData": {
                    "hours": "Support is open Monday to Friday, 9:00 to 17:00 UTC.",
                    "contact": "Email support@example.com or call +1 555 0100.",
                    "refunds": "Refunds are accepted within 30 days of purchase.",
                },
            },
        },
    }


def numbered_plugin(i: int) -> dict[str, Any]:
    """An always-offered static plugin: every one adds a tool to what is sent upstream."""
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "Plugin",
        "metadata": {"name": f"facts_{i:02d}", "account": ACCOUNT, "pluginClass": "static", "description": f"Facts table {i}."},
        "spec": {
            "selector": {"directive": "always"},
            "data": {
                "description": f"Look up facts about product line {i}: price, stock and shipping.",
                "staticData": {
                    "price": f"Product line {i} costs {10 + i} euros.",
                    "stock": f"{100 + i} units are in stock.",
                    "shipping": "Ships within two working days.",
                },
            },
        },
    }


def client_manifest(name: str, plugin_names: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "LLMClient",
        "metadata": {"name": name, "account": ACCOUNT},
        "spec": {
            "config": {"provider": "openai", "defaultModel": "gpt-4o-mini", "defaultSystemRole": "You are the support assistant of Pi Widgets Inc."},
            "plugins": plugin_names,
        },
    }


def session_messages(count: int) -> list[dict[str, str]]:
    """An earlier conversation: alternating user and assistant turns of ordinary length."""
    messages = []
    for i in range(count):
        if i % 2 == 0:
            text = f"Question {i // 2}: where is my order number {1000 + i} and when will the widgets arrive at the warehouse?"
            messages.append({"role": "user", "content": text})
        else:
            text = f"Answer {i // 2}: order {999 + i} left the depot this morning and should arrive within three working days."
            messages.append({"role": "assistant", "content": text})
    return messages


class BenchStack:
    def __init__(self, log_dir: Path | None = None):
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="smarter-bench-"))
        self.services: list[procs.Service] = []
        self.moto: procs.Service | None = None
        self.upstream: procs.Service | None = None
        self.api_key = ""
        self.limited_key = ""

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> "BenchStack":
        base_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.moto = self._start("moto", [sys.executable, "-m", "bench.moto", str(procs.free_port())], base_env)
        self.upstream = self._start("upstream", [sys.executable, "-m", "bench.upstream"], base_env)
        from smarter_local.stack import configure_environment, create_resources

        configure_environment(self.moto_url, {"SMARTER_API_DOMAIN": API_DOMAIN, "SMARTER_PROVIDER_OPENAI_BASE_URL": self.upstream_url})
        os.environ.update(create_resources())
        from smarter import config

        config.settings.cache_clear()
        self._seed()
        return self

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def __enter__(self) -> "BenchStack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> procs.Service:
        service = procs.start(name, argv, env=env, log_dir=self.log_dir)
        self.services.append(service)
        return service

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto.port}"

    @property
    def upstream_url(self) -> str:
        return f"http://127.0.0.1:{self.upstream.port}/v1"

    # --- tenants -----------------------------------------------------------------

    def _seed(self) -> None:
        from smarter_admin import manifests
        from smarter_local.stack import put_provider_secret

        put_provider_secret("openai", PROVIDER_KEY)
        numbered = [numbered_plugin(i) for i in range(1, max(PLUGIN_COUNTS) + 1)]
        docs = [
            {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {"companyName": "Bench Widgets"}},
            support_plugin(),
            *numbered,
            client_manifest(CLIENT, ["support_info"]),
            {**client_manifest(LIMITED_CLIENT, ["support_info"]), "spec": {**client_manifest(LIMITED_CLIENT, ["support_info"])["spec"], "limits": CLIENT_LIMITS}},
            *[client_manifest(plugins_client(n), [p["metadata"]["name"] for p in numbered[:n]]) for n in PLUGIN_COUNTS],
        ]
        manifests.apply_documents(docs)
        result = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "bench", "account": ACCOUNT}, "spec": {}})
        self.api_key = result["api_key"]
        self.key_id = result["key_id"]  # sessions belong to the key that started them
        limited = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "bench-limited", "account": ACCOUNT}, "spec": {"limits": KEY_LIMITS}})
        self.limited_key = limited["api_key"]

    def seed_sessions(self, client: str, messages: int, count: int) -> list[str]:
        """`count` sessions of `messages` earlier messages each; their keys."""
        from smarter.store import aws, sessions

        keys = [sessions.new_session_key() for _ in range(count)]
        history = session_messages(messages)
        batches: list[list[tuple[str, dict[str, Any]]]] = []
        for key in keys:
            items = sessions.items(ACCOUNT, client, key, history, self.key_id)
            batches.extend(items[i : i + 25] for i in range(0, len(items), 25))
        ddb = aws.client("dynamodb")

        def write(batch: list[tuple[str, dict[str, Any]]]) -> None:
            request: dict[str, Any] = {}
            for table, item in batch:
                request.setdefault(table, []).append({"PutRequest": {"Item": item}})
            for _ in range(10):
                request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    return
            raise RuntimeError("moto left session items unprocessed")

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(write, batches))
        return keys

    # --- gateways ----------------------------------------------------------------

    def gateway_env(self, *, count_aws_calls: bool) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            # As deployed, except tracing: there is no X-Ray daemon here. Metrics are
            # on (EMF lines to the worker's log), as they are in Lambda.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "false",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "LOG_LEVEL": "INFO",
            "SMARTER_API_DOMAIN": API_DOMAIN,
            "SMARTER_PROVIDER_OPENAI_BASE_URL": self.upstream_url,
        }
        if count_aws_calls:
            env["SMARTER_BENCH_AWS_CALLS"] = "1"
        else:
            env.pop("SMARTER_BENCH_AWS_CALLS", None)
        return env

    def start_workers(self, count: int, *, count_aws_calls: bool, extra_env: dict[str, str] | None = None) -> list[procs.Service]:
        """Gateway processes, each like one warm Lambda container per function."""
        env = {**self.gateway_env(count_aws_calls=count_aws_calls), **(extra_env or {})}
        first = len(self.services)
        with ThreadPoolExecutor(max_workers=min(count, 4)) as pool:
            starting = [pool.submit(procs.start, f"smarter-{first + i}", [sys.executable, "-m", "bench.worker", "0"], env=env, log_dir=self.log_dir)
                        for i in range(count)]
            workers, failures = [], []
            for future in starting:
                try:
                    workers.append(future.result())
                except Exception as exc:
                    failures.append(exc)
        self.services.extend(workers)
        if failures:
            raise failures[0]
        return workers

    def stop_services(self, services: list[procs.Service]) -> None:
        for service in services:
            service.stop()
            if service in self.services:
                self.services.remove(service)

    def upstream_stats(self) -> dict[str, int]:
        import http.client
        import json

        conn = http.client.HTTPConnection("127.0.0.1", self.upstream.port, timeout=10)
        conn.request("GET", "/bench/stats")
        return json.loads(conn.getresponse().read())
