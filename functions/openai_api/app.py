"""The OpenAI-compatible API on a client's host: POST /v1/chat/completions
(streamed with `stream: true`) and GET /v1/models. Runs under the Lambda
response-streaming runtime client (smarter.runtime.lambda_stream)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.edge import openai_api, web
from smarter.runtime import afterwards
from smarter.runtime.streams import StreamedResponse

logger = Logger()
tracer = tracing.tracer(web.TRACED_MODULES)  # the X-Ray SDK only when tracing is on
# In Lambda: the journal is written after the answer (the streaming runtime client says when it is out),
# by an in-process extension registered now (init).
afterwards.start()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict | StreamedResponse:
    return openai_api.handle(event, context)
