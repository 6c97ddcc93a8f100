"""The scheduled domains run: provision default hosts of new accounts, advance
every pending domain (certificate issued -> mapped -> verified), delete
certificates no domain holds any more. The same code as `smarter domain verify`."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter_admin import domains

logger = Logger()
tracer = tracing.tracer(("botocore",))  # the AWS calls are all there is to trace; X-Ray only when on
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    summary = domains.reconcile()
    states = summary["states"]
    metrics.add_metric(name="DomainsVerified", unit=MetricUnit.Count, value=states.get(domains.VERIFIED, 0))
    metrics.add_metric(name="DomainsPending", unit=MetricUnit.Count, value=sum(states.get(s, 0) for s in domains.OPEN))
    metrics.add_metric(name="DomainsFailed", unit=MetricUnit.Count, value=states.get(domains.FAILED, 0))
    metrics.add_metric(name="DomainErrors", unit=MetricUnit.Count, value=len(summary["errors"]))
    for error in summary["errors"]:
        logger.error("domain not advanced", extra=error)
    logger.info("domains reconciled", extra=summary)
    return summary
