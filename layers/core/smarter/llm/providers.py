"""LLM providers: a registry of OpenAI-compatible endpoints.

Every provider, built in or local, is called through the openai SDK with a
timeout and bounded retries. Keys come from Secrets Manager
(`{SMARTER_SECRET_PREFIX}{name}`, cached per container). The `offline`
provider answers in-process and is only ever used when a client names it:
a real provider without a key is an error, never a silent fallback.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from smarter.cache import TTLCache
from smarter.config import settings
from smarter.errors import NotFound, ProviderError, ProviderNotConfigured, ProviderTimeout, RateLimited


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    default_model: str
    docs_url: str
    needs_key: bool = True

    @property
    def secret_name(self) -> str:
        return f"{settings().secret_prefix}{self.name}"

    def public(self) -> dict[str, Any]:
        info = asdict(self)
        info.pop("needs_key")
        info["is_default"] = self.name == default_provider_name()
        return info


BUILTINS: tuple[Provider, ...] = (
    Provider("openai", "https://api.openai.com/v1", "gpt-4o-mini", "https://platform.openai.com/docs/api-reference/chat"),
    Provider("anthropic", "https://api.anthropic.com/v1", "claude-3-5-haiku-latest", "https://docs.anthropic.com/en/api/openai-sdk"),
    Provider("googleai", "https://generativelanguage.googleapis.com/v1beta/openai", "gemini-2.0-flash", "https://ai.google.dev/gemini-api/docs/openai"),
    Provider("mistral", "https://api.mistral.ai/v1", "mistral-small-latest", "https://docs.mistral.ai/api/"),
    Provider("togetherai", "https://api.together.xyz/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "https://docs.together.ai/docs/openai-api-compatibility"),
    Provider("fireworks", "https://api.fireworks.ai/inference/v1", "accounts/fireworks/models/llama-v3p1-8b-instruct", "https://docs.fireworks.ai/tools-sdks/openai-compatibility"),
    Provider("groq", "https://api.groq.com/openai/v1", "llama-3.1-8b-instant", "https://console.groq.com/docs/openai"),
    # Ollama, llama.cpp's server or vLLM; the key is optional.
    Provider("local", "http://127.0.0.1:11434/v1", "llama3.2", "https://github.com/ollama/ollama/blob/main/docs/openai.md", needs_key=False),
    Provider("offline", "offline:", "offline-echo", "docs/api.md#providers", needs_key=False),
)


def default_provider_name() -> str:
    return os.environ.get("SMARTER_DEFAULT_PROVIDER", "openai")


def _with_overrides(provider: Provider) -> Provider:
    base = os.environ.get(f"SMARTER_PROVIDER_{provider.name.upper()}_BASE_URL")
    return Provider(provider.name, base.rstrip("/"), provider.default_model, provider.docs_url, provider.needs_key) if base else provider


def all_providers() -> list[Provider]:
    return [_with_overrides(p) for p in BUILTINS]


def get_provider(name: str) -> Provider:
    for provider in BUILTINS:
        if provider.name == name:
            return _with_overrides(provider)
    raise NotFound(f"unknown provider {name!r}; known: {', '.join(p.name for p in BUILTINS)}")


# --- keys ------------------------------------------------------------------------

_keys = TTLCache(lambda: 300.0)


def provider_key(provider: Provider) -> str | None:
    """The provider's API key from Secrets Manager, or None when it has none."""

    def load() -> str | None:
        from smarter.store import aws

        sm = aws.client("secretsmanager")
        try:
            value = sm.get_secret_value(SecretId=provider.secret_name)["SecretString"]
        except sm.exceptions.ResourceNotFoundException:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            return value.strip() or None
        return (parsed.get("api_key") or None) if isinstance(parsed, dict) else None

    return _keys.get_or_load(provider.name, load)


def require_key(provider: Provider) -> str:
    key = provider_key(provider)
    if key:
        return key
    if not provider.needs_key:
        return "not-needed"
    raise ProviderNotConfigured(
        f"the provider {provider.name!r} has no API key configured: store it in the secret {provider.secret_name!r}"
    )


# --- calls -----------------------------------------------------------------------

_clients: dict[tuple[str, str, int], Any] = {}


def openai_client(provider: Provider, key: str, *, max_retries: int | None = None):
    """One SDK client per provider, key and retry policy, reused across requests."""
    retries = settings().provider_max_retries if max_retries is None else max_retries
    cache_key = (provider.base_url, key, retries)
    client = _clients.get(cache_key)
    if client is None:
        import openai  # imported on first use: it costs half a second of cold start

        client = openai.OpenAI(
            api_key=key,
            base_url=provider.base_url,
            timeout=settings().provider_timeout_seconds,
            max_retries=retries,
        )
        _clients[cache_key] = client
    return client


@dataclass
class Completion:
    body: dict[str, Any]
    provider_ms: float


def _send(provider: Provider, request: dict[str, Any], *, max_retries: int | None = None):
    """POST the body to the provider's /chat/completions through the SDK, with
    its timeout and retries. Returns the final HTTP response whatever its
    status; a timeout or an unreachable provider is our error."""
    client = openai_client(provider, require_key(provider), max_retries=max_retries)
    import openai

    try:
        # The body is already the wire JSON: posting it skips the SDK's per-call
        # walk over typed params (about a millisecond of CPU per request).
        return client.post("/chat/completions", body=request, cast_to=_raw_response_type())
    except openai.APITimeoutError:
        raise ProviderTimeout(
            f"the provider {provider.name!r} did not answer within {settings().provider_timeout_seconds:g} s"
        ) from None
    except openai.APIStatusError as exc:
        return exc.response  # after the SDK's bounded retries
    except openai.APIConnectionError as exc:
        raise ProviderError(f"could not reach the provider {provider.name!r}: {exc.__class__.__name__}") from None


def _offline(request: dict[str, Any]) -> dict[str, Any]:
    from smarter.llm.offline import complete

    return complete(request)


def chat_completion(provider: Provider, request: dict[str, Any]) -> Completion:
    """A chat completion as the provider's JSON body, with errors mapped to ours."""
    started = time.perf_counter()
    if provider.name == "offline":
        return Completion(_offline(request), (time.perf_counter() - started) * 1000)
    response = _send(provider, request)
    provider_ms = (time.perf_counter() - started) * 1000
    if response.status_code == 429:
        retry_after = response.headers.get("retry-after")
        raise RateLimited(
            f"the provider {provider.name!r} is rate limiting: {_provider_message(response)}",
            headers={"Retry-After": retry_after} if retry_after else None,
        )
    if response.status_code >= 400:
        raise ProviderError(f"the provider {provider.name!r} answered {response.status_code}: {_provider_message(response)}")
    try:
        body = json.loads(response.text)
    except ValueError:
        raise ProviderError(f"the provider {provider.name!r} sent a body that is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        raise ProviderError(f"the provider {provider.name!r} sent a response without choices")
    return Completion(body, provider_ms)


def _provider_message(response: Any) -> str:
    """The provider's own error message (OpenAI's `{"error": {"message"}}` or a bare body)."""
    try:
        body = json.loads(response.text)
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        return str(body.get("message") or body)[:500]
    return str(body)[:500]


def reset() -> None:
    _clients.clear()
    _keys.clear()


@dataclass
class Forwarded:
    status: int
    body: Any
    provider_ms: float


def forward(provider: Provider, request: dict[str, Any]) -> Forwarded:
    """Send a raw chat-completions body and return the provider's status and
    body unchanged (the passthrough API). No retries: the caller sees exactly
    what the provider said, 429s included."""
    started = time.perf_counter()
    if provider.name == "offline":
        return Forwarded(200, _offline(request), (time.perf_counter() - started) * 1000)
    response = _send(provider, request, max_retries=0)
    provider_ms = (time.perf_counter() - started) * 1000
    try:
        body: Any = json.loads(response.text)
    except ValueError:
        body = response.text
    return Forwarded(response.status_code, body, provider_ms)


def _raw_response_type():
    """The HTTP response class the SDK returns untouched when asked for it."""
    try:  # openai 3 ships on httpx2; older releases on httpx
        import httpx2 as httpx
    except ImportError:
        import httpx
    return httpx.Response
