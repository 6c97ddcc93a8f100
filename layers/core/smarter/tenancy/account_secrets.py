"""Secrets that belong to an account (API connection credentials, database
passwords). A manifest names a secret; it is looked up under the account's own
prefix, so one tenant can never name another tenant's secret."""

from __future__ import annotations

import json
import re

from botocore.exceptions import ClientError

from smarter.cache import TTLCache
from smarter.errors import PluginCallError
from smarter.store import tenant_aws
from smarter.tenancy import scoped_aws

ACCOUNT_SECRET_PREFIX = "smarter/accounts/"
_cache = TTLCache(lambda: 300.0)


SECRET_NAME = re.compile(r"^[A-Za-z0-9_.+=@-]{1,128}$")


def account_secret_id(account: str, name: str) -> str:
    if not isinstance(name, str) or not SECRET_NAME.match(name) or ".." in name:
        raise ValueError("a secret name is one path segment of letters, digits and _.+=@-")
    return f"{ACCOUNT_SECRET_PREFIX}{account}/{name}"


def account_secret(account: str, name: str) -> str:
    def load() -> str:
        sm = scoped_aws.client("secretsmanager", account)
        try:
            out = sm.get_secret_value(SecretId=account_secret_id(account, name))
        except (sm.exceptions.ResourceNotFoundException, ValueError):
            raise PluginCallError(f"the secret {name!r} does not exist for this account") from None
        except ClientError as exc:
            # The code only (AccessDenied, DecryptionFailure...): the message may name ARNs.
            raise PluginCallError(f"the secret {name!r} could not be read ({exc.response.get('Error', {}).get('Code', 'error')})") from None
        value = out.get("SecretString")
        if value is None:
            value = (out.get("SecretBinary") or b"").decode("utf-8", errors="replace")
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed.get("value", value) if isinstance(parsed, dict) else value

    if tenant_aws.bound() not in (None, account):
        return load()  # never from the cache for another account than the request's: IAM decides
    return _cache.get_or_load((account, name), load)


def forget(account: str, name: str) -> None:
    """After `smarter apply` of a Secret: this container reads the new value next time."""
    _cache.invalidate((account, name))
