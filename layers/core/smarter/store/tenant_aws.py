"""AWS clients whose credentials reach one account's data and nothing else.

AWS's SaaS tenant-isolation pattern ("dynamic policy generation"): the
request functions' own role may only assume the tenant role
(SMARTER_PLUGIN_ROLE_ARN, `PluginRole` in the template), always with a
session policy generated for the request's account. AWS evaluates the
intersection of the role's policy and the session policy, so credentials
obtained for account A allow, and only allow:

- ConfigTable GetItem/BatchGetItem/Query where every partition key is
  `ACCOUNT#A` (`dynamodb:LeadingKeys`): the account, its clients, plugins,
  connections and host labels; never an API key (`APIKEY#…`), a domain
  claim (`DOMAIN#…`) or another account's items;
- SessionsTable Query/PutItem/BatchWriteItem where every partition key
  starts `A#` (`{account}#{client}#{key id}#{session}`);
- JournalTable PutItem/BatchWriteItem/Query on `A#…` partitions
  (`{account}#{client}#{shard}`);
- Secrets Manager GetSecretValue/DescribeSecret on `smarter/accounts/A/*`;
- rds-data:ExecuteStatement on Aurora clusters tagged `smarter:account = A`.

No session tag is sent: the role's trust allows only the request functions'
roles, and its own policy is the union of every account's grants (tenant
partitions and tenant secrets only), so no caller-chosen value widens it.

Credentials are cached per container and account until five minutes before
they expire, and their clients per (service, account, credentials): a warm
request makes no STS call. Without a role (the local stack, the tests) the
clients are the function's own; the policy is still built the same way and
the tests evaluate it with an IAM policy simulator (tests/iam_sim).
"""

from __future__ import annotations

import json
import threading
import time
from contextvars import ContextVar
from typing import Any

from smarter.config import settings
from smarter.store import aws

SESSION_SECONDS = 3600
_REFRESH_BEFORE = 300.0
_lock = threading.Lock()
_credentials: dict[str, tuple[float, dict[str, str]]] = {}
_clients: dict[tuple[str, str, str], Any] = {}
# The account the current request acts for, fixed where it is first known (the
# host's account, then the key's: tenancy/hosts.py and tenancy/auth.py). Every
# scoped client of the request then carries that account's credentials, whatever
# account a later caller names: a read of another account's data is sent with
# the wrong credentials and IAM refuses it.
_request_account: ContextVar[str | None] = ContextVar("smarter_request_account", default=None)


def bind(account: str) -> None:
    """This request (this thread or task) acts for `account` from here on."""
    _request_account.set(account)


def bound() -> str | None:
    return _request_account.get()


def config_partition(account: str) -> str:
    """The ConfigTable partition of everything an account owns."""
    return f"ACCOUNT#{account}"


def session_policy(account: str, partition: str = "aws") -> dict[str, Any]:
    """The session policy for one account (kept under STS's 2,048 packed characters)."""
    s = settings()

    def table(name: str) -> str:
        return f"arn:{partition}:dynamodb:*:*:table/{name}"

    own_prefix = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{account}#*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountConfig",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"],
                "Resource": table(s.config_table),
                "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [config_partition(account)]}},
            },
            {
                "Sid": "AccountSessions",
                "Effect": "Allow",
                "Action": ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:BatchWriteItem"],
                "Resource": table(s.sessions_table),
                "Condition": own_prefix,
            },
            {
                "Sid": "AccountJournal",
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:BatchWriteItem", "dynamodb:Query"],
                "Resource": table(s.journal_table),
                "Condition": own_prefix,
            },
            {
                "Sid": "AccountSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": f"arn:{partition}:secretsmanager:*:*:secret:smarter/accounts/{account}/*",
            },
            {
                "Sid": "AccountAurora",
                "Effect": "Allow",
                "Action": ["rds-data:ExecuteStatement"],
                "Resource": f"arn:{partition}:rds:*:*:cluster:*",
                "Condition": {"StringEquals": {"aws:ResourceTag/smarter:account": account}},
            },
        ],
    }


def _partition(role_arn: str) -> str:
    parts = role_arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def credentials(account: str) -> dict[str, str] | None:
    """Temporary credentials for this account (None when no tenant role is configured)."""
    role = settings().plugin_role_arn
    if not role:
        return None
    with _lock:
        cached = _credentials.get(account)
        if cached and cached[0] - _REFRESH_BEFORE > time.time():
            return cached[1]
    out = aws.client("sts").assume_role(
        RoleArn=role,
        RoleSessionName=f"tenant-{account}"[:64],
        Policy=json.dumps(session_policy(account, _partition(role)), separators=(",", ":")),
        DurationSeconds=SESSION_SECONDS,
    )["Credentials"]
    creds = {"aws_access_key_id": out["AccessKeyId"], "aws_secret_access_key": out["SecretAccessKey"], "aws_session_token": out["SessionToken"]}
    expires = out["Expiration"].timestamp() if hasattr(out["Expiration"], "timestamp") else time.time() + SESSION_SECONDS
    with _lock:
        _credentials[account] = (expires, creds)
        # Clients made with older credentials are dropped with them.
        for key in [k for k in _clients if k[1] == account]:
            del _clients[key]
    return creds


def client(service: str, account: str):
    """A client whose calls run with scoped credentials: those of the account
    the request is bound to, else of `account` (the function's own client
    where no tenant role is configured)."""
    account = _request_account.get() or account
    creds = credentials(account)
    if creds is None:
        return aws.client(service)
    key = (service, account, creds["aws_access_key_id"])
    with _lock:
        found = _clients.get(key)
    if found is None:
        found = aws.client_with(service, creds)
        with _lock:
            _clients[key] = found
    return found


def reset() -> None:
    """Forget credentials, clients and this context's binding (tests, a changed role)."""
    _request_account.set(None)
    with _lock:
        _credentials.clear()
        _clients.clear()
