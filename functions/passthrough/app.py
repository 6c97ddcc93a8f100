"""Platform routes on {api_domain}: the passthrough API (also at Smarter's
/api/v1/prompts/passthrough/{provider}/, streamed with `"stream": true`), the
provider listing and whoami. Runs under the Lambda response-streaming runtime
client (smarter.runtime.lambda_stream)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.edge import passthrough, web
from smarter.edge import pipeline
from smarter.errors import ProviderNotConfigured, SmarterError
from smarter.llm import listening, providers
from smarter.runtime import afterwards
from smarter.tenancy import hosts

logger = Logger()
tracer = tracing.tracer(web.TRACED_MODULES)  # the X-Ray SDK only when tracing is on
app = web.make_resolver("Prompt", "passthrough")
# In Lambda: the journal is written after the answer (the streaming runtime client says when it is out),
# by an in-process extension registered now (init).
afterwards.start()

PASSTHROUGH_PATH = "/v1/passthrough/<provider>"
# Smarter's path for the same thing, so that its clients work unchanged.
SMARTER_PASSTHROUGH_PATH = "/api/v1/prompts/passthrough/<provider>"


@app.post(PASSTHROUGH_PATH)
@app.post(SMARTER_PASSTHROUGH_PATH)
def passthrough_route(provider: str):
    exchange = web.exchange(app)
    exchange.record.provider = provider[:64]
    key = exchange.platform_key()
    passthrough.require_account_key(key)
    target = providers.get_provider(provider, key["account"])  # the platform's, or the account's own
    route = passthrough.client_route(exchange.record, key, target, exchange.header(passthrough.CLIENT_HEADER))
    request = passthrough.admit(exchange.record, key, target, exchange.body(), route)
    return web.answered(app, passthrough.answer(exchange, target, request))


@app.get("/v1/providers")
def list_providers():
    exchange = web.exchange(app)
    exchange.record.thing, exchange.record.command = "Provider", "list"
    key = exchange.platform_key()
    listing = []
    for provider in providers.all_providers():
        info = provider.public()
        try:
            providers.require_key(provider)
            info["configured"] = True
        except ProviderNotConfigured:
            info["configured"] = False
        if not provider.needs_key and provider.name != "offline":
            # Nothing to configure, so whether it answers is what tells: a quick connect.
            info["unreachable"] = not listening.accepts(provider.base_url)
            info["configured"] = info["configured"] and not info["unreachable"]
        listing.append(info)
    # The key's account's own providers (kind: Provider): its own base URLs, never another account's.
    from smarter.store import storage

    for doc in storage.list_scoped("PROVIDER", key["account"]):
        spec = doc.get("spec") or {}
        listing.append({"name": doc["metadata"]["name"], "base_url": spec.get("baseUrl"), "default_model": spec.get("defaultModel"),
                        "models": [m["name"] for m in spec.get("models") or []], "docs_url": "", "is_default": False,
                        "account_provider": True, "configured": bool(spec.get("apiKey"))})
    return web.ok(app, {"providers": listing})


@app.get("/v1/whoami")
def whoami():
    exchange = web.exchange(app)
    exchange.record.thing, exchange.record.command = "ApiKey", "whoami"
    key = exchange.platform_key()
    return web.ok(app, {k: key.get(k) for k in ("account", "key_id", "name", "clients", "expires_at")})


OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
for _path in (PASSTHROUGH_PATH, SMARTER_PASSTHROUGH_PATH):
    app.route(_path, method=[m for m in OTHER_METHODS if m != "POST"])(web.method_not_allowed(app, "POST"))
for _path in ("/v1/providers", "/v1/whoami"):
    app.route(_path, method=[m for m in OTHER_METHODS if m != "GET"])(web.method_not_allowed(app, "GET"))


def _on_client_host(event: dict) -> bool:
    try:
        return str(event.get("path") or "").startswith("/v1/") and hosts.parse_host(pipeline.domain_name(event)).kind != "platform"
    except SmarterError:
        return False


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext):
    if _on_client_host(event):  # /v1/{proxy+} on a client host: the OpenAI API's (its 404, in OpenAI's shape)
        from smarter.edge import openai_api  # pydantic: never loaded for the platform's own routes

        return openai_api.handle(event, context)
    return web.handle(app, event, context, thing="Prompt", command="passthrough")
