"""Test helpers: tenants, plugins, and real REST API proxy events handed to the
Lambda handlers. Fixtures live in conftest.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

API_DOMAIN = "api.example.com"


@dataclass
class Tenant:
    account: str
    client: str
    api_key: str
    key_id: str

    @property
    def host(self) -> str:
        return f"{self.client}.{self.account}.{API_DOMAIN}"


def make_tenant(account: str = "3141-5926-5359", client: str = "customer-support", *, provider: str = "openai", plugins: list[dict] | None = None, client_config: dict | None = None) -> Tenant:
    from smarter_admin import manifests

    docs: list[dict[str, Any]] = [
        {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": account}, "spec": {"companyName": f"Company {account}"}},
    ]
    for plugin in plugins or []:
        docs.append({**plugin, "metadata": {**plugin["metadata"], "account": account}})
    docs.append(
        {
            "apiVersion": "smarter.sh/v1",
            "kind": "LLMClient",
            "metadata": {"name": client, "account": account},
            "spec": {
                "config": {"provider": provider, "defaultModel": "gpt-4o-mini", "defaultSystemRole": "You are helpful.", **(client_config or {})},
                "plugins": [p["metadata"]["name"] for p in plugins or []],
            },
        }
    )
    manifests.apply_documents(docs)
    result = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": f"key-{client}", "account": account}, "spec": {}})
    return Tenant(account, client, result["api_key"], result["key_id"])


def static_plugin(name: str = "support_info", *, directive: str = "always", terms: list[str] | None = None, data: dict | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "smarter.sh/v1",
        "kind": "Plugin",
        "metadata": {"name": name, "pluginClass": "static", "description": "support facts"},
        "spec": {
            "selector": {"directive": directive, "searchTerms": terms or []},
            "data": {
                "description": "Look up support facts.",
                "staticData": data or {"hours": "Monday to Friday, 9 to 5.", "contact": "support@example.com"},
            },
        },
    }


# --- invoking handlers with real REST API proxy events -------------------------------

_handlers: dict[str, Any] = {}


def handler(function: str):
    if function not in _handlers:
        from smarter_local.gateway import load_handler

        _handlers[function] = load_handler(function)
    return _handlers[function]


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: Any
    raw: dict[str, Any]


def invoke(
    function: str,
    method: str,
    path: str,
    *,
    host: str,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    key: str | None = None,
    scheme: str = "Token",
) -> Result:
    from smarter_local.gateway import LambdaContext, make_event

    all_headers = {"Content-Type": "application/json", "Host": host, **(headers or {})}
    if key is not None:
        all_headers["Authorization"] = f"{scheme} {key}"
    data = raw_body.encode() if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    if function == "console":
        resource = "/v1/console/{proxy+}"
    else:
        resource = "/v1/{proxy+}" if path.startswith("/v1/") and function == "passthrough" else ("/" if path == "/" else "/{proxy+}")
    lambda_handler = handler(function)  # loaded first: the event's requestTimeEpoch starts the request's deadline
    event = make_event(method, path, all_headers, data, domain=host, resource=resource)
    response = lambda_handler(event, LambdaContext(function))
    out_headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        out_headers[name] = values[-1]
    text = response.get("body") or ""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return Result(response["statusCode"], out_headers, parsed, response)


def prompt(tenant: Tenant, content: str | None = "Hello", *, session_key: str | None = None, body: Any = None, **kwargs) -> Result:
    if body is None:
        body = {"messages": [{"role": "user", "content": content}]}
        if session_key:
            body["session_key"] = session_key
    kwargs.setdefault("key", tenant.api_key)
    return invoke("prompt", "POST", kwargs.pop("path", "/"), host=kwargs.pop("host", tenant.host), body=body, **kwargs)


def journal_records(account: str, client: str) -> list[dict[str, Any]]:
    from smarter.store import journal

    return journal.recent(account, client, limit=100, full=True)


_pumps: dict[str, Any] = {}


def count_usage() -> int:
    """Play the journal stream into the UsageFunction, as Lambda's event source
    mapping does in AWS; how many records were delivered."""
    from smarter.config import settings
    from smarter_local.gateway import LambdaContext
    from smarter_local.streams import StreamPump

    table = settings().journal_table
    from smarter.store import aws

    arn = aws.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    if arn not in _pumps:  # a new table (moto is reset per test) starts from the stream's beginning
        _pumps[arn] = StreamPump(table, lambda event: handler("usage")(event, LambdaContext("usage")))
    return _pumps[arn].drain()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def smarter_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None, drop: tuple[str, ...] = (), timeout: float = 120) -> CliResult:
    """Run the installed `smarter` console script in a child process, as an
    operator would: the test's environment (moto's endpoint, table names) plus
    `env`, minus the variables named in `drop`. Output is piped, so not a terminal."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("smarter")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "smarter_admin"]
    child_env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST_")}
    child_env.update(env or {})
    done = subprocess.run([*command, *args], input=input, capture_output=True, text=True, env=child_env, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr)
