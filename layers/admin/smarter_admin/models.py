"""Manifest models: Smarter's `apiVersion: smarter.sh/v1` form with camelCase
fields. Known fields are strict (a wrong type is refused, naming the field);
an unknown field is a warning naming it and is ignored, as Smarter accepts
fields it does not know (smarter.schema.validate_model)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator

from smarter import API_VERSION
from smarter.errors import ManifestError
from smarter.schema import Strict, validate_model


# The client's page fields: the stored `ui` key and the manifest's spec.config field
# (apply stores them, `get -o yaml` prints them back).
UI_FIELDS = {
    "app_name": "appName", "welcome_message": "appWelcomeMessage", "example_prompts": "appExamplePrompts", "placeholder": "appPlaceholder",
    "assistant": "appAssistant", "info_url": "appInfoUrl", "background_image_url": "appBackgroundImageUrl", "logo_url": "appLogoUrl",
    "file_attachment": "appFileAttachment",
}


def null_is_empty(value: Any) -> Any:
    """Smarter writes `null` for an optional list it has no entries for: not set."""
    return [] if value is None else value


class Metadata(Strict):
    name: str
    account: str | None = None
    description: str | None = None
    version: str | None = None
    tags: list[str] = Field(default_factory=list)
    pluginClass: Literal["static", "api", "sql"] | str | None = None
    annotations: list[Any] | dict[str, Any] | None = None
    accountNumber: str | None = None  # Smarter's Account manifest: the number, when `name` is a slug

    @field_validator("tags", mode="before")
    @classmethod
    def _null_tags(cls, value: Any) -> Any:
        return null_is_empty(value)


class Manifest(Strict):
    apiVersion: Literal["smarter.sh/v1"]
    kind: str
    metadata: Metadata
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] | None = None


class BudgetLimits(Strict):
    """Spend per day and per month (UTC), in tokens and in US dollars. Unset: unlimited
    (or the platform default, SMARTER_DEFAULT_LIMITS)."""

    tokensPerDay: int | None = Field(default=None, ge=0)
    tokensPerMonth: int | None = Field(default=None, ge=0)
    usdPerDay: Decimal | None = Field(default=None, ge=0, decimal_places=12)
    usdPerMonth: Decimal | None = Field(default=None, ge=0, decimal_places=12)


class Limits(BudgetLimits):
    """A key's or client's limits: budgets plus requests and tokens per minute."""

    requestsPerMinute: int | None = Field(default=None, ge=0)
    tokensPerMinute: int | None = Field(default=None, ge=0)


class AccountLimits(BudgetLimits):
    """An account's budgets, plus how many of its requests may be in flight at
    once (its share of the platform's concurrency; unset: no cap)."""

    concurrentRequests: int | None = Field(default=None, ge=1)


class ModelPrice(Strict):
    """USD per million tokens; overrides the vendored LiteLLM price map for one model."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cachedInput: Decimal | None = Field(default=None, ge=0)


class AccountSpec(Strict):
    companyName: str | None = None
    email: str | None = None
    currency: str | None = None
    timezone: str | None = None
    # Smarter's Account manifest also carries these (under spec.config).
    phoneNumber: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postalCode: str | None = None
    country: str | None = None
    language: str | None = None
    limits: AccountLimits | None = None
    prices: dict[str, ModelPrice] = Field(default_factory=dict)


class ClientConfig(Strict):
    provider: str = "openai"
    defaultModel: str | None = None
    defaultSystemRole: str = "You are a helpful assistant."
    defaultTemperature: float = Field(default=0.5, ge=0, le=2)
    defaultMaxTokens: int = Field(default=2048, ge=1, le=1_000_000)
    # Whether the OpenAI API's request `model` may replace defaultModel (off: the client's model answers).
    allowModelOverride: bool = False
    # What POST /v1/embeddings answers with (not set: that route answers 404), and on
    # which provider (not set: `provider`). See docs/api.md#embeddings.
    embeddingModel: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:/@-]+$")
    embeddingProvider: str | None = None
    appName: str | None = None
    appWelcomeMessage: str | None = None
    appExamplePrompts: list[str] = Field(default_factory=list)
    appPlaceholder: str | None = None
    appAssistant: str | None = None
    appInfoUrl: str | None = None
    # Smarter's presentation fields, stored for the page.
    appBackgroundImageUrl: str | None = None
    appLogoUrl: str | None = None
    appFileAttachment: bool | None = None
    # Not set: true, except for a manifest in Smarter's form (smarter_admin.manifests.smarter_form), where it is Smarter's false.
    deployed: bool | None = None
    subdomain: str | None = None
    # Smarter writes null, a domain or an object here; a custom domain is claimed
    # with `smarter domain add`, so only a plain domain is kept (as a note).
    customDomain: str | dict[str, Any] | None = None
    dnsVerificationStatus: str | None = None  # Smarter's status field: the domain's state lives in the claim

    @field_validator("appExamplePrompts", mode="before")
    @classmethod
    def _null_prompts(cls, value: Any) -> Any:
        return null_is_empty(value)


# A provider's or a model's name as a routing target or a Provider names it.
PROVIDER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$"
# Statuses a request causes: refused in fallbackOn (another target would refuse the request too).
REQUEST_CAUSED = (400, 404, 413, 422)


class RoutingTarget(Strict):
    provider: str = Field(pattern=PROVIDER_NAME_PATTERN)
    model: str | None = Field(default=None, pattern=MODEL_NAME_PATTERN)
    weight: float = Field(default=1.0, gt=0, le=1000, allow_inf_nan=False)
    priority: int | None = Field(default=None, ge=0, le=100)


class CooldownSpec(Strict):
    failures: int = Field(default=3, ge=1, le=100)
    windowSeconds: float = Field(default=60.0, gt=0, le=3600, allow_inf_nan=False)
    seconds: float = Field(default=30.0, gt=0, le=300, allow_inf_nan=False)


class RoutingSpec(Strict):
    """Ordered targets with fallback, retries, load balance and cooldown (docs/routing.md)."""

    targets: list[RoutingTarget] = Field(min_length=1, max_length=10)
    retries: int | None = Field(default=None, ge=0, le=5)
    timeoutSeconds: float | None = Field(default=None, gt=0, le=60, allow_inf_nan=False)
    fallbackOn: list[int] | None = Field(default=None, min_length=1, max_length=64)
    cooldown: CooldownSpec = Field(default_factory=CooldownSpec)

    @field_validator("fallbackOn")
    @classmethod
    def _statuses(cls, value: list[int] | None) -> list[int] | None:
        for status in value or []:
            if not 401 <= status <= 599 or status in REQUEST_CAUSED:
                raise ValueError(f"{status} cannot move a call to another target: give 401 to 599 except {', '.join(map(str, REQUEST_CAUSED))}, "
                                 "which the request causes and every target would answer alike")
        return sorted(set(value)) if value else value


class ClientSpec(Strict):
    config: ClientConfig = Field(default_factory=ClientConfig)
    plugins: list[str] = Field(default_factory=list)
    functions: list[str] = Field(default_factory=list)
    apiKey: str | None = None
    limits: Limits | None = None
    routing: RoutingSpec | None = None

    @field_validator("plugins", "functions", mode="before")
    @classmethod
    def _null_lists(cls, value: Any) -> Any:
        return null_is_empty(value)


class ApiKeySpec(Strict):
    # Omitted: all clients when created, unchanged when re-applied. ["*"]: all
    # clients. An empty list is refused (it would read as "all").
    clients: list[str] | None = Field(default=None, min_length=1)
    expiresAt: str | None = None
    expiresInDays: int | None = Field(default=None, ge=1, le=3650)
    # Re-applying may narrow a key (clients, limits, expiry); widening it must be asked for.
    allowWidening: bool = False
    limits: Limits | None = None


def limits_doc(limits: BudgetLimits | None) -> dict[str, Any]:
    """The limits as stored: only those set, numbers as strings where they are dollars."""
    if limits is None:
        return {}
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in limits.model_dump().items() if v is not None}


def parse_manifest(data: Any) -> Manifest:
    if not isinstance(data, dict):
        raise ManifestError("", "a manifest must be a mapping with apiVersion, kind, metadata and spec")
    if data.get("apiVersion") != API_VERSION:
        raise ManifestError("apiVersion", f"must be {API_VERSION!r}, got {data.get('apiVersion')!r}")
    return validate_model(Manifest, data, "")


class SecretConfig(Strict):
    # Omitted (as `smarter get secret X -o yaml` prints it): keep the stored value;
    # refused when there is none yet.
    value: str | None = Field(default=None, min_length=1)
    description: str | None = None
    # Smarter's field is expiration_date (YAML reads 2026-12-31 as a date): kept as ISO text.
    expirationDate: str | None = Field(default=None, validation_alias=AliasChoices("expirationDate", "expiration_date"))

    @field_validator("expirationDate", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        import datetime

        return value.isoformat() if isinstance(value, (datetime.date, datetime.datetime)) else value


class SecretSpec(Strict):
    """Smarter's `kind: Secret`: the value goes to Secrets Manager, nowhere else."""

    config: SecretConfig


SECRET_NAME_PATTERN = r"^[A-Za-z0-9_.+=@-]{1,128}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
# Headers the call itself sets (or that frame it): never from a manifest.
RESERVED_HEADERS = ("host", "authorization", "content-length", "content-type", "transfer-encoding", "connection", "accept", "accept-encoding",
                    "te", "upgrade", "trailer", "keep-alive", "expect", "cookie", "proxy-authorization", "proxy-connection", "forwarded", "x-forwarded-for")


class ProviderModel(Strict):
    name: str = Field(pattern=MODEL_NAME_PATTERN)
    prices: ModelPrice | None = None


class ProviderSpec(Strict):
    """An account's own OpenAI-compatible provider: its key and headers are Secrets (by name)."""

    baseUrl: str = Field(min_length=8, max_length=2048)
    apiKey: str | None = Field(default=None, pattern=SECRET_NAME_PATTERN)
    headers: dict[str, str] = Field(default_factory=dict, max_length=16)
    models: list[ProviderModel] = Field(default_factory=list, max_length=200)
    defaultModel: str | None = Field(default=None, pattern=MODEL_NAME_PATTERN)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name, secret in value.items():
            if not re.match(HEADER_NAME_PATTERN, name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in RESERVED_HEADERS or name.lower().startswith(("proxy-", "sec-", "x-amz-")):
                raise ValueError(f"the header {name!r} is set by the platform (the key goes in apiKey)")
            if not isinstance(secret, str) or not re.match(SECRET_NAME_PATTERN, secret) or ".." in secret:
                raise ValueError(f"headers.{name}: the name of an account Secret that holds the header's value (never the value itself)")
        return value
