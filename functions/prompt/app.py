"""The prompt API on a client's own host: POST / and POST /prompt/."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.edge import web
from smarter.errors import NotFound
from smarter.llm import chat
from smarter.llm.messages import parse_prompt_request
from smarter.runtime import afterwards
from smarter.tenancy import hosts

logger = Logger()
tracer = tracing.tracer(web.TRACED_MODULES)  # the X-Ray SDK only when tracing is on
app = web.make_resolver("LLMClient", "prompt")
# In Lambda: the journal is written after the answer, by an in-process extension registered now (init).
afterwards.start()

PROMPT_PATHS = ("/", "/prompt")  # Powertools matches a trailing slash too
CLIENT_PATH = "/v1/accounts/<account>/clients/<client>/prompt"


def _prompt(resolved: hosts.ResolvedClient | None = None):
    exchange = web.exchange(app)
    resolved = exchange.client(resolved)
    request = parse_prompt_request(exchange.body())
    return web.ok(app, chat.run_prompt(resolved, request, exchange.record))


for _path in PROMPT_PATHS:
    app.post(_path)(_prompt)


@app.post(CLIENT_PATH)
def prompt_by_path(account: str, client: str):
    """Path-based route on the platform host, for development and the page."""
    route = hosts.parse_host(web.exchange(app).record.request["host"])
    if route.kind != "platform":
        raise NotFound("the path-based client route is served on the platform host only")
    return _prompt(hosts.client_by_name(account, client))


_refuse = web.method_not_allowed(app, "POST", 'send POST with a JSON body {"messages": [{"role": "user", "content": "..."}]}')
for _path in (*PROMPT_PATHS, CLIENT_PATH):
    app.route(_path, method=["GET", "PUT", "PATCH", "DELETE", "HEAD"])(_refuse)


@afterwards.after_response
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return web.handle(app, event, context, thing="LLMClient", command="prompt")
