"""Platform routes on {api_domain}: the passthrough API (also at Smarter's
/api/v1/prompts/passthrough/{provider}/), the provider listing and whoami."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.edge import passthrough as passthrough_checks
from smarter.edge import passthrough_stream, web
from smarter.errors import MethodNotAllowed, NotFound, ProviderNotConfigured
from smarter.llm import providers
from smarter.store import afterwards
from smarter.tenancy import auth, hosts

logger = Logger()
tracer = tracing.tracer(web.TRACED_MODULES)  # the X-Ray SDK only when tracing is on
app = web.make_resolver("Prompt", "passthrough")
# In Lambda: the journal is written after the answer (the streaming runtime client says when it is out),
# by an in-process extension registered now (init).
afterwards.start()


def _platform_key() -> dict:
    """Platform routes answer on the platform host only, for a valid key."""
    record = app.context["record"]
    if hosts.parse_host(web.domain_name(app.current_event.raw_event)).kind != "platform":
        raise NotFound(f"{app.current_event.path} is served on the platform host only")
    key = auth.authenticate(app.current_event.headers)
    record.account, record.api_key_id = key["account"], key["key_id"]
    return key


PASSTHROUGH_PATH = "/v1/passthrough/<provider>"
# Smarter's path for the same thing, so that its clients work unchanged.
SMARTER_PASSTHROUGH_PATH = "/api/v1/prompts/passthrough/<provider>"


@app.post(PASSTHROUGH_PATH)
@app.post(SMARTER_PASSTHROUGH_PATH)
def passthrough(provider: str):
    record = app.context["record"]
    record.provider = provider[:64]
    key = _platform_key()
    passthrough_checks.require_account_key(key)
    target = providers.get_provider(provider)
    body = passthrough_checks.admit(record, key, target, web.json_body(app))
    forwarded = providers.forward(target, body, record.deadline)
    record.provider_ms += forwarded.provider_ms
    if isinstance(forwarded.body, dict):
        record.add_usage(forwarded.body.get("usage"))
    return web.ok(
        app,
        {"status": forwarded.status, "body": forwarded.body},
        status=forwarded.status,
        headers=forwarded.headers or None,
        provider=provider,
    )


@app.get("/v1/providers")
def list_providers():
    record = app.context["record"]
    record.thing, record.command = "Provider", "list"
    _platform_key()
    listing = []
    for provider in providers.all_providers():
        info = provider.public()
        try:
            providers.require_key(provider)
            info["configured"] = True
        except ProviderNotConfigured:
            info["configured"] = False
        listing.append(info)
    return web.ok(app, {"providers": listing})


@app.get("/v1/whoami")
def whoami():
    record = app.context["record"]
    record.thing, record.command = "ApiKey", "whoami"
    key = _platform_key()
    return web.ok(app, {k: key.get(k) for k in ("account", "key_id", "name", "clients", "expires_at")})


def _only(allowed: str):
    def refuse(**_path_parameters: str):
        raise MethodNotAllowed(f"{app.current_event.http_method} is not supported here: use {allowed}", headers={"Allow": f"{allowed}, OPTIONS"})

    return refuse


OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
for _path in (PASSTHROUGH_PATH, SMARTER_PASSTHROUGH_PATH):
    app.route(_path, method=[m for m in OTHER_METHODS if m != "POST"])(_only("POST"))
for _path in ("/v1/providers", "/v1/whoami"):
    app.route(_path, method=[m for m in OTHER_METHODS if m != "GET"])(_only("GET"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@web.metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext):
    # `"stream": true` to the passthrough is forwarded as it arrives (a StreamedResponse).
    streamed = passthrough_stream.handle_if_streaming(event)
    if streamed is not None:
        return streamed
    return web.handle(app, event, context, thing="Prompt", command="passthrough")
