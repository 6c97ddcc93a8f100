"""Start the local stack in this process: moto's server, tables and bucket from
template.yaml, the demo tenant, and the local API Gateway."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from .cfn import ROOT, create_buckets, create_tables, load_template

DEMO_ACCOUNT = "3141-5926-5359"
DEMO_CLIENT = "customer-support"
# A second demo client whose one plugin is a remote MCP server (an order desk on loopback).
MCP_DEMO_CLIENT = "order-desk"
EXAMPLES = ROOT / "examples"
PAGE_DIR = ROOT / "frontend" / "dist"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StackInfo:
    port: int
    moto_url: str
    api_domain: str
    api_key: str
    account: str = DEMO_ACCOUNT
    client: str = DEMO_CLIENT
    mcp_demo_url: str | None = None  # the loopback MCP server behind the order-desk client

    @property
    def client_host(self) -> str:
        return f"{self.client}.{self.account}.{self.api_domain}"

    @property
    def client_url(self) -> str:
        return f"http://{self.client_host}:{self.port}/"

    @property
    def openai_base_url(self) -> str:
        """The client's OpenAI base URL at a path of 127.0.0.1: no DNS or Host header needed, from any language."""
        return f"http://127.0.0.1:{self.port}/clients/{self.account}/{self.client}/v1"

    @property
    def page_url(self) -> str:
        return f"http://localhost:{self.port}/passthrough/"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_moto(port: int) -> Any:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from . import moto_patches

    moto_patches.apply()  # flat memory under load (moto's per-transaction table copies)
    server = _atomic_dynamodb_server()(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def _atomic_dynamodb_server() -> Any:
    """moto's threaded server, with its DynamoDB requests one at a time.

    DynamoDB applies a conditional write or a transaction atomically; moto
    evaluates the condition and applies the write in separate steps, so two
    threads can both pass a condition that only one should. Serializing the
    DynamoDB calls restores the guarantee the limits (tenancy/limits.py) and
    their concurrency tests rely on."""
    import threading

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    lock = threading.Lock()

    class AtomicDynamoDB:
        def __init__(self, app: Any):
            self.app = app

        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
                with lock:
                    return list(self.app(environ, start_response))
            return self.app(environ, start_response)

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return Server


def configure_environment(moto_url: str, extra: dict[str, str]) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            # No CloudWatch here: metrics would only print EMF lines.
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "SmarterServerless",
            "POWERTOOLS_SERVICE_NAME": "smarter-local",
            **extra,
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    from smarter import cache, config
    from smarter.llm import providers
    from smarter.store import aws

    config.settings.cache_clear()
    aws.reset()
    cache.clear_all()
    providers.reset()


def create_resources() -> dict[str, str]:
    from smarter.store import aws

    template = load_template()
    names = create_tables(aws.client("dynamodb"), template)
    names.update(create_buckets(aws.client("s3"), template))
    return names


def create_rest_api(stage: str = "live") -> str:
    """A REST API with a deployed stage in moto: what a custom domain's base path
    mapping points at (the local gateway routes verified domains itself)."""
    from smarter.store import aws

    apigw = aws.client("apigateway")
    api_id = apigw.create_rest_api(name="smarter-local-api")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="ANY", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName=stage)
    return api_id


def put_provider_secret(provider: str, key: str) -> None:
    from smarter.config import settings
    from smarter.store import aws

    sm = aws.client("secretsmanager")
    name = f"{settings().secret_prefix}{provider}"
    try:
        sm.create_secret(Name=name, SecretString=key)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=key)


def seed_demo(provider: str = "offline") -> str:
    """Apply the example manifests (the demo tenant) and return a fresh API key."""
    from smarter_admin import manifests

    docs = []
    for path in sorted(EXAMPLES.glob("demo-*.yaml")):
        docs.extend(manifests.load_documents(path.read_text(encoding="utf-8")))
    for doc in docs:
        if doc["kind"] in ("LLMClient", "Chatbot"):
            doc["spec"]["config"]["provider"] = provider
            if provider != "offline":
                doc["spec"]["config"].pop("defaultModel", None)
                # The offline embedding model is not another provider's: OpenAI's small one, or none.
                doc["spec"]["config"]["embeddingModel"] = {"openai": "text-embedding-3-small"}.get(provider)
    manifests.apply_documents(docs)
    results = manifests.apply_documents(
        [{"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "local-demo", "account": DEMO_ACCOUNT}, "spec": {}}]
    )
    return results[0]["api_key"]


def seed_mcp_demo(url: str) -> None:
    """The order-desk client: its McpPlugin `order_desk` offers the loopback MCP server's order_status tool."""
    from smarter_admin import manifests

    manifests.apply_documents([
        {"apiVersion": "smarter.sh/v1", "kind": "McpPlugin",
         "metadata": {"name": "order_desk", "account": DEMO_ACCOUNT, "pluginClass": "mcp", "description": "The order desk's MCP server."},
         "spec": {"selector": {"directive": "always"}, "connection": {"url": url, "timeout": 5}, "tools": ["order_status"]}},
        {"apiVersion": "smarter.sh/v1", "kind": "LLMClient",
         "metadata": {"name": MCP_DEMO_CLIENT, "account": DEMO_ACCOUNT, "description": "Answers order questions from an MCP server's tool."},
         "spec": {"config": {"provider": "offline", "defaultModel": "offline-echo", "defaultSystemRole": "You answer questions about orders.",
                             "appName": "Pi Widgets Orders", "appExamplePrompts": ["Where is my order A-1001?"]},
                  "plugins": ["order_desk"]}},
    ])


def start_mcp_demo() -> Any:
    """The order desk MCP server on loopback, when the SDK is installed (the dev extras); None otherwise."""
    try:
        from . import mcp_server
    except ImportError:
        return None
    try:
        return mcp_server.start(free_port())
    except ImportError:
        return None


def usage_pump():
    """The journal stream played into the UsageFunction, as in AWS (every second)."""
    from smarter.config import settings

    from .gateway import LambdaContext, load_handler
    from .streams import StreamPump

    usage_function = load_handler("usage")
    pump = StreamPump(settings().journal_table, lambda event: usage_function(event, LambdaContext("usage")))
    schedule = {"next": 0.0}
    drain = pump.drain

    def drain_and_sweep() -> int:
        # The template's 5-minute schedule: release limit holds of requests that never finished.
        if time.monotonic() >= schedule["next"]:
            schedule["next"] = time.monotonic() + 300
            usage_function({"source": "aws.events", "detail-type": "Scheduled Event"}, LambdaContext("usage"))
        return drain()

    pump.drain = drain_and_sweep
    return pump


class LocalStack:
    """Everything `make run` starts, usable from tests too."""

    def __init__(self, *, port: int = 0, moto_port: int = 0, api_domain: str = "api.localhost", env: dict[str, str] | None = None):
        self.port = port or free_port()
        self.moto_port = moto_port or free_port()
        self.api_domain = api_domain
        self.env = env or {}
        self.moto = None
        self.gateway = None
        self.pump_stop = None
        self.mcp_demo = None

    def start(self, *, provider: str = "offline", provider_keys: dict[str, str] | None = None) -> StackInfo:
        self.moto = start_moto(self.moto_port)
        moto_url = f"http://127.0.0.1:{self.moto_port}"
        origins = f"http://localhost:{self.port},http://127.0.0.1:{self.port}"
        local = {
            "SMARTER_API_DOMAIN": self.api_domain,
            "SMARTER_CORS_ORIGINS": origins,
            # Local development: plugins may call servers on this machine (the operator's
            # egress allow-list), except the stack's own moto and gateway ports.
            "SMARTER_EGRESS_ALLOW": "localhost",
            "SMARTER_EGRESS_DENY": f"localhost:{self.moto_port},localhost:{self.port}",
            # SQLite plugin databases: {root}/{account}/name.db (off in AWS).
            "SMARTER_SQLITE_ROOT": os.environ.get("SMARTER_SQLITE_ROOT", str(ROOT / ".local-data" / "sqlite")),
        }
        configure_environment(moto_url, {**local, **self.env})
        os.environ.update(create_resources())
        # `smarter domain verify` maps a verified domain to the stack's REST API, as in AWS.
        os.environ.setdefault("SMARTER_REST_API_ID", create_rest_api())
        from smarter import config

        config.settings.cache_clear()
        for name, key in (provider_keys or {}).items():
            put_provider_secret(name, key)
        api_key = seed_demo(provider)
        self.mcp_demo = start_mcp_demo()
        if self.mcp_demo is not None:
            seed_mcp_demo(self.mcp_demo.url)
        from .gateway import Gateway

        self.gateway = Gateway(api_domain=self.api_domain, port=self.port, page_dir=PAGE_DIR)
        self.gateway.serve_in_thread()
        self.pump_stop = usage_pump().run_in_thread()
        return StackInfo(self.port, moto_url, self.api_domain, api_key, mcp_demo_url=self.mcp_demo.url if self.mcp_demo else None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Whether every request answered so far has also been journaled (the
        write follows the answer, as in Lambda): a test reading the journal
        right after an answer calls this first."""
        return self.gateway is None or self.gateway.wait_idle(timeout)

    def stop(self) -> None:
        if self.pump_stop:
            self.pump_stop.set()
        if self.gateway:
            self.gateway.stop()
        if self.moto:
            self.moto.stop()
        if self.mcp_demo:
            self.mcp_demo.stop()


# What the CLI needs besides the tables: the stack's egress policy and SQLite
# root, so that `smarter apply` takes the loopback and SQLite connections the
# stack's functions would call (docs/operations.md).
CLI_SETTINGS = ("SMARTER_API_DOMAIN", "SMARTER_REST_API_ID", "SMARTER_EGRESS_ALLOW", "SMARTER_EGRESS_DENY", "SMARTER_SQLITE_ROOT")


def cli_exports(info: StackInfo) -> str:
    """The one `export ...` line that points the admin CLI at this stack."""
    import shlex

    values = {"AWS_ENDPOINT_URL": info.moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
              "SMARTER_ACCOUNT": info.account}
    values |= {k: v for k, v in sorted(os.environ.items()) if k.startswith("SMARTER_") and (k.endswith(("_TABLE", "_BUCKET")) or k in CLI_SETTINGS)}
    return "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in values.items())


def describe(info: StackInfo, provider: str) -> str:
    curl = (
        f"curl -s {info.client_url} -H 'Authorization: Token {info.api_key}' "
        "-H 'Content-Type: application/json' "
        "-d '{\"messages\": [{\"role\": \"user\", \"content\": \"What are your support hours?\"}]}'"
    )
    return "\n".join(
        [
            "Smarter Serverless local stack is running.",
            f"Client URL: {info.client_url}",
            f"API key: {info.api_key}",
            f"Provider: {provider}",
            f"Passthrough page: {info.page_url}",
            "",
            "Try it:",
            curl,
            "",
            "Continue the conversation by adding \"session_key\" from the answer to the next body.",
            f"OpenAI SDK: base_url={info.openai_base_url} (Chat Completions and Responses, streamed or not; any language, no DNS needed)",
            f"Responses API: curl -s {info.openai_base_url}/responses -H 'Authorization: Bearer {info.api_key}' "
            "-H 'Content-Type: application/json' -d '{\"model\": \"any\", \"input\": \"What are your support hours?\"}'",
            f"MCP endpoint (the client's plugins as MCP tools): {info.client_url}mcp with 'Authorization: Bearer {info.api_key}'",
            *([f"MCP plugin demo: client {MCP_DEMO_CLIENT} (http://{MCP_DEMO_CLIENT}.{info.account}.{info.api_domain}:{info.port}/) "
               f"calls the order desk MCP server at {info.mcp_demo_url}; ask it 'Where is my order A-1001?'"] if info.mcp_demo_url else []),
            f"Routing demo: http://resilient-support.{info.account}.{info.api_domain}:{info.port}/ falls back from a provider that is down "
            "to the offline one (x-smarter-provider: offline; docs/routing.md)",
            f"Admin CLI against this stack: {cli_exports(info)}",
            "then e.g.: .venv/bin/smarter get clients (or keep them as a context: .venv/bin/smarter config set-context local --from-env)",
            "Stop with Ctrl-C.",
        ]
    )
