"""AWS clients, created once per container and reused by every request.

They are botocore's low-level clients (what boto3's `client()` returns):
going to botocore directly skips importing boto3 and s3transfer, a tenth of
a second of cold start. botocore honours AWS_ENDPOINT_URL, which is how the
local stack and the tests point everything at moto's server.
"""

from __future__ import annotations

import functools

import botocore.session
from botocore.config import Config

# A fixed User-Agent: botocore otherwise rebuilds and sanitizes its telemetry
# User-Agent on every call, a tenth of a millisecond of CPU each time.
_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    user_agent="smarter-serverless",
    # Our requests are built by code, not users, and DynamoDB validates them
    # again server-side; client-side validation walks every item on every call.
    parameter_validation=False,
)


@functools.cache
def session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def client(service: str):
    return session().create_client(service, config=_CONFIG)


def reset() -> None:
    """Drop the cached clients, e.g. after a test changed AWS_ENDPOINT_URL."""
    client.cache_clear()
    session.cache_clear()
