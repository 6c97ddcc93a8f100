"""AWS clients for a plugin call that can reach one account's resources only.

The prompt function's own role cannot read tenants' secrets or run
statements on Aurora. It may only assume the plugin role
(SMARTER_PLUGIN_ROLE_ARN, `PluginRole` in the template), and it always
does so with a session policy naming the account: the credentials it gets
allow `secretsmanager:GetSecretValue`/`DescribeSecret` on
`smarter/accounts/{account}/*` and `rds-data:ExecuteStatement` on Aurora
clusters tagged `smarter:account = {account}`, and nothing else. So a plugin
call for account A cannot read account B's secrets even if the code that
names the secret is wrong: AWS evaluates the intersection of the role's
policy and the session policy.

Credentials are cached per container and account until five minutes before
they expire. Without a role (the local stack, the tests) the clients are the
function's own: moto does not evaluate session policies anyway, so the
policy is built and sent the same way, and tests check it as a document.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from smarter.config import settings
from smarter.store import aws

ACCOUNT_TAG = "smarter:account"
SESSION_SECONDS = 3600
_REFRESH_BEFORE = 300.0
_lock = threading.Lock()
_credentials: dict[str, tuple[float, dict[str, str]]] = {}
_clients: dict[tuple[str, str, str], Any] = {}


def session_policy(account: str, partition: str = "aws") -> dict[str, Any]:
    """The session policy for one account: its secrets, its Aurora clusters."""
    return {
        "Version": "2012-10-17",
        "Statement": [
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
                "Condition": {"StringEquals": {f"aws:ResourceTag/{ACCOUNT_TAG}": account}},
            },
        ],
    }


def _partition(role_arn: str) -> str:
    parts = role_arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] else "aws"


def credentials(account: str) -> dict[str, str] | None:
    """Temporary credentials for this account (None when no plugin role is configured)."""
    role = settings().plugin_role_arn
    if not role:
        return None
    with _lock:
        cached = _credentials.get(account)
        if cached and cached[0] - _REFRESH_BEFORE > time.time():
            return cached[1]
    out = aws.client("sts").assume_role(
        RoleArn=role,
        RoleSessionName=f"plugin-{account}"[:64],
        Policy=json.dumps(session_policy(account, _partition(role)), separators=(",", ":")),
        DurationSeconds=SESSION_SECONDS,
        Tags=[{"Key": ACCOUNT_TAG, "Value": account}],
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
    """A client whose calls run with the account's scoped credentials."""
    creds = credentials(account)
    if creds is None:
        return aws.client(service)
    key = (service, account, creds["aws_access_key_id"])
    with _lock:
        found = _clients.get(key)
    if found is None:
        found = aws.session().create_client(service, config=aws._CONFIG, **creds)
        with _lock:
            _clients[key] = found
    return found


def reset() -> None:
    with _lock:
        _credentials.clear()
        _clients.clear()
