"""One JSON POST to a provider route that is not chat completions (Anthropic's
`/messages`, `/embeddings`), inside the request's deadline: bounded retries
for the retryable statuses, each wait capped by what is left, the answer
capped in bytes, the connection reused (streaming.http_client). Errors map
as for chat completions (providers.chat_completion): a 429 is a 429, a
request the provider refused is that status, the rest a 502, and once
retried the SDKs are told not to retry (`x-should-retry: false`)."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

from smarter.config import settings
from smarter.deadline import Deadline
from smarter.errors import ProviderError, ProviderRejected, ProviderTimeout, RateLimited
from smarter.llm import providers
from smarter.redact import scrub


@dataclass
class Reply:
    body: Any  # the JSON of a 200
    provider_ms: float


def post(provider: providers.Provider, path: str, body: dict[str, Any], headers: dict[str, str], deadline: Deadline, *, retry: frozenset[int] = providers.RETRY_STATUSES) -> Reply:
    from smarter.llm.streaming import _httpx, http_client

    httpx = _httpx()
    limit = settings().max_provider_response_bytes
    waited = 0.0
    retries = settings().provider_max_retries
    for attempt in range(retries + 1):
        per_call = deadline.cap(settings().provider_timeout_seconds)
        if per_call <= 0:
            raise ProviderTimeout(f"the provider {provider.name!r} did not answer within the request's deadline ({deadline.budget:.1f} s)")
        started = time.perf_counter()
        try:
            with http_client().stream("POST", f"{provider.base_url}{path}", json=body, headers=headers, timeout=per_call) as response:
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise ProviderError(f"the provider {provider.name!r} sent more than {limit} bytes (SMARTER_MAX_PROVIDER_RESPONSE_BYTES)")
                status = response.status_code
        except httpx.TimeoutException:
            raise ProviderTimeout(f"the provider {provider.name!r} did not answer within {per_call:.1f} s") from None
        except httpx.TransportError as exc:
            raise ProviderError(f"could not reach the provider {provider.name!r}: {exc.__class__.__name__}", headers=dict(providers.NO_SDK_RETRY) if attempt else None) from None
        waited += (time.perf_counter() - started) * 1000
        if status == 200:
            try:
                return Reply(json.loads(data), waited)
            except (ValueError, RecursionError):
                raise ProviderError(f"the provider {provider.name!r} sent a body that is not JSON") from None
        pause = min(0.25 * 2**attempt, 2.0) * (0.5 + random.random() / 2)
        if status not in retry or attempt >= retries or pause > deadline.remaining() - 1.0:
            raise error(provider, status, data, retried=attempt > 0)
        time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


def error(provider: providers.Provider, status: int, data: bytes, *, retried: bool) -> Exception:
    """A provider's error answer as ours; its message scrubbed, its own error type or code kept as `code`."""
    key = providers.provider_key(provider)
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        found = None
    detail = found.get("error") if isinstance(found, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    message = scrub(str(detail.get("message") or data[:500].decode("utf-8", "replace") or "(no message)")[:500], [key or ""])
    headers = dict(providers.NO_SDK_RETRY) if retried else None
    if status == 429:
        return RateLimited(f"the provider {provider.name!r} is rate limiting: {message}", headers=headers)
    if status in providers.REJECTED_STATUSES:
        code = detail.get("code") or detail.get("type")
        param = detail.get("param")
        return ProviderRejected(f"the provider {provider.name!r} refused the request ({status}): {message}", status=status,
                                code=str(code)[:100] if code else None, param=str(param)[:200] if isinstance(param, str) else None, headers=headers)
    return ProviderError(f"the provider {provider.name!r} answered {status}: {message}", headers=headers)
