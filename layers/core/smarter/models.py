"""Pydantic models at the edges: the prompt request body and the manifests.

Manifests follow Smarter's `apiVersion: smarter.sh/v1` form with camelCase
fields. Unknown fields are refused so that a typo is an error that names the
field, not a setting silently ignored.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import API_VERSION
from .errors import BadRequest, ManifestError

ACCOUNT_NUMBER = re.compile(r"^\d{4}-\d{4}-\d{4}$")
# RFC 1034 label: letters, digits, hyphens; starts with a letter; no trailing hyphen.
CLIENT_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
# Plugin names double as tool names, which providers restrict to this alphabet.
PLUGIN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SESSION_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class Strict(BaseModel):
    # Built on first use, not at import: a request path never validates a manifest.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True, defer_build=True)


# --- the prompt request ---------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_required(self) -> "ChatMessage":
        if self.role in ("system", "user") and not self.content:
            raise ValueError(f"a {self.role} message needs non-empty content")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        return self

    def to_openai(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PromptRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_key: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)

    @field_validator("session_key")
    @classmethod
    def _session_key_shape(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not SESSION_KEY.match(value):
            raise ValueError("must be 8 to 128 letters, digits, '-' or '_'")
        return value or None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every offending field, e.g. `messages.0.role: Input should be ...`."""
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{path}: {message}")
    return "; ".join(parts)


def parse_prompt_request(body: Any) -> PromptRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with a 'messages' list")
    try:
        return PromptRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(describe_validation_error(exc)) from None


# --- manifests -------------------------------------------------------------------


class Metadata(Strict):
    name: str
    account: str | None = None
    description: str | None = None
    version: str | None = None
    tags: list[str] = Field(default_factory=list)
    pluginClass: Literal["static", "api", "sql"] | str | None = None
    annotations: list[Any] | dict[str, Any] | None = None


class Manifest(Strict):
    apiVersion: Literal["smarter.sh/v1"]
    kind: str
    metadata: Metadata
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] | None = None


class AccountSpec(Strict):
    companyName: str | None = None
    email: str | None = None
    currency: str | None = None
    timezone: str | None = None


class ClientConfig(Strict):
    provider: str = "openai"
    defaultModel: str | None = None
    defaultSystemRole: str = "You are a helpful assistant."
    defaultTemperature: float = Field(default=0.5, ge=0, le=2)
    defaultMaxTokens: int = Field(default=2048, ge=1, le=1_000_000)
    appName: str | None = None
    appWelcomeMessage: str | None = None
    appExamplePrompts: list[str] = Field(default_factory=list)
    appPlaceholder: str | None = None
    appAssistant: str | None = None
    appInfoUrl: str | None = None
    deployed: bool = True
    subdomain: str | None = None
    customDomain: str | None = None


class ClientSpec(Strict):
    config: ClientConfig = Field(default_factory=ClientConfig)
    plugins: list[str] = Field(default_factory=list)
    functions: list[str] = Field(default_factory=list)
    apiKey: str | None = None


class ApiKeySpec(Strict):
    clients: list[str] | None = None
    expiresAt: str | None = None
    expiresInDays: int | None = Field(default=None, ge=1, le=3650)


def validate_model(model: type[BaseModel], data: Any, prefix: str) -> BaseModel:
    """Validate `data` and turn the first failure into a ManifestError naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = ".".join([prefix, *(str(p) for p in error["loc"])]).strip(".")
        raise ManifestError(path, error["msg"].removeprefix("Value error, ")) from None


def parse_manifest(data: Any) -> Manifest:
    if not isinstance(data, dict):
        raise ManifestError("", "a manifest must be a mapping with apiVersion, kind, metadata and spec")
    if data.get("apiVersion") != API_VERSION:
        raise ManifestError("apiVersion", f"must be {API_VERSION!r}, got {data.get('apiVersion')!r}")
    return validate_model(Manifest, data, "")
