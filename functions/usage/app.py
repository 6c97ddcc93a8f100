"""Usage and spend from the journal table's stream (see smarter.store.usage), and
on a schedule: the release of limit holds whose request never reached the
journal, and the replay of journal records kept in S3 (store/journal.py)."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from smarter import tracing
from smarter.store import journal, usage

logger = Logger()
tracer = tracing.tracer(("botocore",))  # the X-Ray SDK only when tracing is on
metrics = Metrics()
# Partial batch responses: a record that fails is reported by its sequence
# number and retried (bisected, bounded; then the on-failure destination);
# the records that succeeded are not counted twice when they come again,
# because counting is idempotent per journal key.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
# The records of the batch being handled that wait for the tally's one write:
# journal key -> the record's sequence number (what a partial failure reports).
pending: dict[str, str] = {}


def count_record(record: DynamoDBRecord) -> str:
    try:
        doc = usage.journal_doc(record.raw_event)
    except usage.Unreadable as exc:
        # No retry makes it readable: park it with the reason, count the rest.
        usage.park(record.raw_event, str(exc))
        metrics.add_metric(name="UsagePoisonRecords", unit=MetricUnit.Count, value=1)
        return "poison"
    outcome = usage.count(doc) if doc else "nothing"
    if outcome == "pending":  # counted with the rest of the batch, after the loop
        pending.setdefault(str(doc["key"]), record.dynamodb.sequence_number)
        return outcome
    metrics.add_metric(name=f"Usage{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    return outcome


def count_batch(event: dict, context: LambdaContext) -> dict:
    """Every record through `count_record`; those without holds are then counted in one
    write per chunk (usage.Tally). A record whose write failed is reported with the ones
    that failed on their own, so Lambda redelivers from the earliest of them."""
    pending.clear()
    with usage.batch() as tally:
        response = process_partial_response(event=event, record_handler=count_record, processor=processor, context=context)
        outcomes = tally.flush()
    failures = list(response.get("batchItemFailures") or [])
    reported = {f["itemIdentifier"] for f in failures}
    for key, outcome in outcomes.items():
        metrics.add_metric(name=f"Usage{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        if outcome == "failed" and pending.get(key) and pending[key] not in reported:
            failures.append({"itemIdentifier": pending[key]})
            reported.add(pending[key])
    pending.clear()
    return {**response, "batchItemFailures": failures}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if event.get("source") == "aws.events":  # the schedule
        # Journal records kept in S3 (DynamoDB refused them, or time ran out) into the table, once:
        # the stream then counts them and settles their holds (a released hold is settled too).
        replayed = journal.replay_fallbacks()
        metrics.add_metric(name="JournalRecordsReplayed", unit=MetricUnit.Count, value=replayed["written"])
        if any(replayed.values()):
            logger.info("kept journal records replayed", extra=replayed)
        # Holds of requests that never reached the journal.
        released = usage.release_expired()
        metrics.add_metric(name="UsageHoldsReleased", unit=MetricUnit.Count, value=released)
        logger.info("expired holds released", extra={"released": released})
        return {"released": released, "replayed": replayed}
    return count_batch(event, context)
