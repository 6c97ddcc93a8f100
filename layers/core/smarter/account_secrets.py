"""Secrets that belong to an account (API connection credentials, database
passwords). A manifest names a secret; it is looked up under the account's own
prefix, so one tenant can never name another tenant's secret."""

from __future__ import annotations

import json

from . import aws
from .cache import TTLCache

ACCOUNT_SECRET_PREFIX = "smarter/accounts/"
_cache = TTLCache(lambda: 300.0)


def account_secret_id(account: str, name: str) -> str:
    if not name or "/" in name or ".." in name:
        raise ValueError(f"a secret name is one path segment, got {name!r}")
    return f"{ACCOUNT_SECRET_PREFIX}{account}/{name}"


def account_secret(account: str, name: str) -> str:
    from .plugins import PluginCallError

    def load() -> str:
        sm = aws.client("secretsmanager")
        try:
            value = sm.get_secret_value(SecretId=account_secret_id(account, name))["SecretString"]
        except (sm.exceptions.ResourceNotFoundException, ValueError):
            raise PluginCallError(f"the secret {name!r} does not exist for this account") from None
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed.get("value", value) if isinstance(parsed, dict) else value

    return _cache.get_or_load((account, name), load)
