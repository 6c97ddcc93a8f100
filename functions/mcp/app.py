"""The MCP endpoint on a client's own host: POST /mcp (Streamable HTTP, stateless,
JSON answers). Its own function: it calls plugins but never a provider, so its
role reads no provider key, and its cold start loads no provider client."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.edge import mcp, web
from smarter.runtime import afterwards

logger = Logger()
tracer = tracing.tracer(web.TRACED_MODULES)  # the X-Ray SDK only when tracing is on
# In Lambda: the journal is written after the answer, by an in-process extension registered now (init).
afterwards.start()


@afterwards.after_response
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return mcp.handle(event, context)
