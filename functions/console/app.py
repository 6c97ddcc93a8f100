"""The console's platform API on {api_domain}: /v1/console/... with the account's
API key. The domain logic is smarter_admin.console; this file maps routes to it."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.edge import web
from smarter.errors import BadRequest
from smarter.redact import scrub_json
from smarter.runtime import afterwards
from smarter_admin import console

logger = Logger()
tracer = tracing.tracer(web.TRACED_MODULES)  # the X-Ray SDK only when tracing is on
app = web.make_resolver("Console", "read")
afterwards.start()  # the journal write after the answer (an in-process extension registered at init)

PREFIX = "/v1/console"


def _scope(command: str) -> console.Scope:
    """The platform host only, a valid key; the record says who and what."""
    exchange = web.exchange(app)
    exchange.record.command = command
    return console.Scope.of(exchange.platform_key())


def _query(name: str) -> str | None:
    value = app.current_event.get_query_string_value(name)
    return value if value not in (None, "") else None


def _int_query(name: str, default: int) -> int:
    value = _query(name)
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"{name}: a whole number, got {value[:20]!r}")
    return int(value)


def _read(data, *, count: int | None = None):
    """Reads are journaled without their data (a copy of what is stored, and a
    journal listing would otherwise copy the journal into itself)."""
    omitted = {"omitted": "console read", **({"count": count} if count is not None else {})}
    return web.ok(app, data, journaled=lambda body: {**body, "data": omitted})


def _write(data, *, status: int = 200):
    """Writes are journaled scrubbed: a new key's secret never reaches the journal."""
    return web.ok(app, data, status=status, journaled=scrub_json)


@app.get(f"{PREFIX}/clients")
def list_clients():
    items = console.clients(_scope("clients"))
    return _read({"clients": items}, count=len(items))


@app.get(f"{PREFIX}/plugins")
def list_plugins():
    items = console.plugins(_scope("plugins"))
    return _read({"plugins": items}, count=len(items))


@app.get(f"{PREFIX}/connections")
def list_connections():
    items = console.connections(_scope("connections"))
    return _read({"connections": items}, count=len(items))


@app.get(f"{PREFIX}/keys")
def list_keys():
    items = console.keys(_scope("keys"))
    return _read({"keys": items}, count=len(items))


@app.post(f"{PREFIX}/keys")
def create_key():
    scope = _scope("createkey")
    return _write(console.create_key(scope, web.json_body(app)), status=201)


@app.post(f"{PREFIX}/keys/<key_id>/revoke")
@app.delete(f"{PREFIX}/keys/<key_id>")
def revoke_key(key_id: str):
    return _write(console.revoke_key(_scope("revokekey"), key_id))


@app.get(f"{PREFIX}/usage")
def usage_report():
    scope = _scope("usage")
    data = console.usage_report(scope, start=_query("from"), end=_query("to"), group=_query("group") or "detail")
    return _read(data, count=len(data["rows"]))


@app.get(f"{PREFIX}/journal")
def journal_list():
    scope = _scope("journal")
    data = console.journal_list(
        scope,
        client=_query("client"),
        status=_query("status"),
        start=_query("from"),
        end=_query("to"),
        thing=_query("thing"),
        exclude_thing=_query("exclude_thing"),
        limit=_int_query("limit", 25),
        cursor=_query("cursor"),
    )
    return _read(data, count=len(data["records"]))


@app.get(f"{PREFIX}/journal/<key>")
def journal_record(key: str):
    return _read(console.journal_record(_scope("record"), key, _query("client")))


@app.post(f"{PREFIX}/apply")
def apply_manifest():
    scope = _scope("apply")
    body = web.json_body(app)
    # Secret values stay out of the journal.
    app.context["record"].keep_body(console.journaled_apply_body(body), len(app.current_event.body or ""))
    return _write(console.apply_manifest(scope, body))


for _path, _allowed in (
    ("/clients", "GET"), ("/plugins", "GET"), ("/connections", "GET"), ("/keys", "GET, POST"), ("/usage", "GET"),
    ("/journal", "GET"), ("/journal/<key>", "GET"), ("/apply", "POST"), ("/keys/<key_id>/revoke", "POST"), ("/keys/<key_id>", "DELETE"),
):
    _others = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD") if m not in _allowed.split(", ")]
    app.route(f"{PREFIX}{_path}", method=_others)(web.method_not_allowed(app, _allowed))


@afterwards.after_response
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return web.handle(app, event, context, thing="Console", command="read")
