"""What every CLI command shares: which account it acts on and how it prints."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml

from smarter.errors import SmarterError


def print_as(data: Any, fmt: str = "yaml") -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str))
    else:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


def account_of(args) -> str:
    account = getattr(args, "account", None) or os.environ.get("SMARTER_ACCOUNT")
    if not account:
        raise SmarterError("which account? pass --account or set SMARTER_ACCOUNT")
    return account
