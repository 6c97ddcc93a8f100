"""Shapes every layer shares: the alphabets of names, the strict Pydantic base
of manifest models, and ValidationErrors turned into messages that name the field."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from smarter.errors import ManifestError

ACCOUNT_NUMBER = re.compile(r"^\d{4}-\d{4}-\d{4}$")
# RFC 1034 label: letters, digits, hyphens; starts with a letter; no trailing hyphen.
CLIENT_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
# Plugin names double as tool names, which providers restrict to this alphabet.
PLUGIN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SESSION_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class Strict(BaseModel):
    # Built on first use, not at import: a request path never validates a manifest.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True, defer_build=True)


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every offending field, e.g. `messages.0.role: Input should be ...`."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = []
    for error in errors[:10]:
        path = ".".join(str(p) for p in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}")
    if len(errors) > 10:
        parts.append(f"and {len(errors) - 10} more")
    return "; ".join(parts)


def validate_model(model: type[BaseModel], data: Any, prefix: str) -> BaseModel:
    """Validate `data` and turn the first failure into a ManifestError naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join([prefix, *(str(p) for p in error["loc"])]).strip(".")
        raise ManifestError(path, error["msg"].removeprefix("Value error, ")) from None


