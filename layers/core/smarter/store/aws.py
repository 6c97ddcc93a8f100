"""AWS clients, created once per container and reused by every request.

DynamoDB and Secrets Manager, the calls a request makes, go through
`awsjson.Client` (SigV4 over urllib3, answers and errors as botocore gives
them) wherever it can stand in for botocore (`awsjson.usable`): that keeps
botocore's import and its first client, a third of a cold start, off the
request path. Every other service, and those two where awsjson cannot serve
(no credentials in the environment, another partition, FIPS,
SMARTER_AWS_CLIENT=botocore), are botocore's low-level clients (what
boto3's `client()` returns), imported on first use; going to botocore
directly skips importing boto3 and s3transfer. Both honour AWS_ENDPOINT_URL,
which is how the local stack and the tests point everything at moto's server.
"""

from __future__ import annotations

import functools
from typing import Any

from smarter.store import awsjson

events = awsjson.events  # handlers every awsjson client emits to (a botocore session's are its clients')


@functools.cache
def _config() -> Any:
    from botocore.config import Config

    # A fixed User-Agent: botocore otherwise rebuilds and sanitizes its telemetry
    # User-Agent on every call, a tenth of a millisecond of CPU each time.
    return Config(
        retries={"max_attempts": awsjson.limits.attempts, "mode": "standard"},
        connect_timeout=awsjson.limits.connect,
        read_timeout=awsjson.limits.read,
        user_agent="smarter-serverless",
        # Our requests are built by code, not users, and DynamoDB validates them
        # again server-side; client-side validation walks every item on every call.
        parameter_validation=False,
    )


@functools.cache
def session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def client(service: str) -> Any:
    if awsjson.usable(service):
        return awsjson.Client(service)
    return botocore_client(service)


@functools.cache
def botocore_client(service: str) -> Any:
    """botocore's client always (paginators, waiters, timestamps as datetimes)."""
    return session().create_client(service, config=_config())


def client_with(service: str, credentials: dict[str, str]) -> Any:
    """A new client that signs with these credentials (tenant_aws caches them)."""
    if awsjson.usable(service):
        return awsjson.Client(service, credentials)
    return session().create_client(service, config=_config(), **credentials)


def set_timeouts(connect: float, read: float, attempts: int) -> None:
    """Every client made from now on gives up after these (the admin CLI's --request-timeout)."""
    awsjson.limits = awsjson.Limits(connect, read, attempts)
    reset()


def reset() -> None:
    """Drop the cached clients, e.g. after a test changed AWS_ENDPOINT_URL."""
    _config.cache_clear()
    client.cache_clear()
    botocore_client.cache_clear()
    session.cache_clear()
    awsjson.reset()
