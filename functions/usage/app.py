"""Token usage counters, fed by the journal table's stream (see smarter.store.usage)."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.store import usage

logger = Logger()
tracer = tracing.tracer(("botocore",))  # the X-Ray SDK only when tracing is on
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    records = event.get("Records") or []
    groups = usage.fold(records)
    applied = usage.apply(groups)
    metrics.add_metric(name="UsageRecords", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="UsageCounterWrites", unit=MetricUnit.Count, value=applied)
    logger.info("usage counted", extra={"records": len(records), "groups": len(groups), "applied": applied})
    return {"records": len(records), "groups": len(groups), "applied": applied}
