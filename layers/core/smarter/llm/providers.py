"""LLM providers: a registry of OpenAI-compatible endpoints.

Every provider, built in or local, is called over its OpenAI-compatible
HTTP API with urllib3 (one pool per container), inside the request's one
deadline: connecting, waiting, every byte read, every retry and every
Retry-After wait. Answers are bounded in bytes and checked for shape before
the chat loop reads them. Keys come from Secrets Manager
(`{SMARTER_SECRET_PREFIX}{name}`, cached per container). The `offline`
provider answers in-process and is only ever used when a client names it:
a real provider without a key is an error, never a silent fallback.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from smarter.cache import TTLCache
from smarter.config import settings
from smarter.deadline import Deadline, pool_classes, watchdog
from smarter.errors import NotFound, ProviderError, ProviderNotConfigured, ProviderRejected, ProviderTimeout, RateLimited
from smarter.redact import scrub


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    default_model: str
    docs_url: str
    needs_key: bool = True
    # An account's own provider (`kind: Provider`): its key and extra headers come
    # from the account's Secrets, never the platform's; its base URL passes the
    # operator's egress policy at every call (providers.account_provider).
    account: str | None = None
    key_secret: str | None = None
    header_secrets: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] = ()
    # (model, input, output, cachedInput) in USD per million tokens, from the Provider manifest.
    prices: tuple[tuple[str, str, str, str | None], ...] = ()

    def price_overrides(self) -> dict[str, dict[str, str]]:
        """The prices the Provider manifest sets, in the form of an account's spec.prices."""
        return {m: {"input": i, "output": o, **({"cachedInput": c} if c is not None else {})} for m, i, o, c in self.prices}

    @property
    def secret_name(self) -> str:
        return f"{settings().secret_prefix}{self.name}"

    def public(self) -> dict[str, Any]:
        """What any key holder may see. The base URL is the provider's published
        one: an operator's override (SMARTER_PROVIDER_{NAME}_BASE_URL: a proxy,
        an internal host) is infrastructure and is never shown to tenants."""
        info = asdict(_builtin(self.name) or self)
        for private in ("needs_key", "account", "key_secret", "header_secrets", "models", "prices"):
            info.pop(private)
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


def _builtin(name: str) -> Provider | None:
    return next((p for p in BUILTINS if p.name == name), None)


def get_provider(name: str, account: str | None = None) -> Provider:
    """A platform provider by name, or (with `account`) that account's own
    `kind: Provider` of that name. Platform names are reserved: an account
    cannot shadow `openai` with a provider of its own."""
    for provider in BUILTINS:
        if provider.name == name:
            return _with_overrides(provider)
    if account is not None:
        found = account_provider(account, name)
        if found is not None:
            return found
    known = ", ".join(p.name for p in BUILTINS)
    where = "; the account's own providers are its `kind: Provider` manifests" if account else ""
    raise NotFound(f"unknown provider {name!r}; known: {known}{where}")


def account_provider(account: str, name: str) -> Provider | None:
    """The account's `kind: Provider` (stored by `smarter apply`), cached like a client."""
    from smarter.store import storage

    doc = storage.get_scoped("PROVIDER", account, name, cached=True) if isinstance(name, str) and name else None
    if not doc:
        return None
    spec = doc.get("spec") or {}
    models = tuple(m["name"] for m in spec.get("models") or [] if isinstance(m, dict) and m.get("name"))
    return Provider(
        name=name,
        base_url=str(spec.get("baseUrl") or "").rstrip("/"),
        default_model=str(spec.get("defaultModel") or (models[0] if models else "")),
        docs_url="",
        needs_key=bool(spec.get("apiKey")),
        account=account,
        key_secret=spec.get("apiKey") or None,
        header_secrets=tuple(sorted((str(k), str(v)) for k, v in (spec.get("headers") or {}).items())),
        models=models,
        prices=tuple((m["name"], str(m["prices"]["input"]), str(m["prices"]["output"]), m["prices"].get("cachedInput"))
                     for m in spec.get("models") or [] if isinstance(m, dict) and isinstance(m.get("prices"), dict)),
    )


# --- keys ------------------------------------------------------------------------

_keys = TTLCache(lambda: 300.0)


def provider_key(provider: Provider) -> str | None:
    """The provider's API key from Secrets Manager, or None when it has none.
    An account's provider reads the account's own Secret (under the account's
    prefix, with the tenant's credentials) and never the platform's."""
    if provider.account is not None:
        return _account_secret(provider, provider.key_secret) if provider.key_secret else None

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


def _account_secret(provider: Provider, secret: str) -> str:
    from smarter.errors import PluginCallError
    from smarter.tenancy.account_secrets import account_secret

    try:
        return account_secret(str(provider.account), secret)
    except PluginCallError as exc:
        raise ProviderNotConfigured(f"the provider {provider.name!r}: {exc}") from None


def extra_headers(provider: Provider) -> dict[str, str]:
    """An account provider's extra headers (Azure's `api-key`, an org header), each from a Secret."""
    return {header: _account_secret(provider, secret) for header, secret in provider.header_secrets}


def call_target(provider: Provider) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Where to send this provider's call: the URL, the headers to add, and the
    connection's pool arguments. An account provider's host is resolved and
    checked against the operator's egress policy now, at call time, and the
    connection goes to the address that was checked (DNS cannot rebind it in
    between); TLS still verifies the certificate for the host name."""
    from urllib.parse import urlsplit

    url = f"{provider.base_url}/chat/completions"
    if provider.account is None:
        return url, {}, {}
    from smarter.tenancy import egress

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = egress.checked_address(host, port)
    except egress.EgressRefused as exc:
        raise ProviderError(f"the provider {provider.name!r} may not be reached: {exc}") from None
    except egress.ResolveFailed as exc:
        raise Unreachable(f"could not reach the provider {provider.name!r}: {exc}") from None
    shown = f"[{address}]" if ":" in address else address
    pinned = parts._replace(netloc=f"{shown}:{port}").geturl()
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    return pinned, {"Host": host_header}, {"server_hostname": host, "assert_hostname": host}


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

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
# Headers a passthrough caller needs to pace itself, passed on as the provider sent them.
RATE_HEADERS = ("retry-after", "retry-after-ms")
RATE_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
CONNECT_TIMEOUT = 5.0
READ_CHUNK = 64 * 1024

_pool: Any = None
# The provider call running on this thread: its end (for the header watchdog) and
# whether a byte of its answer has arrived (from then on it is never sent again).
_call = threading.local()


def _http():
    """One urllib3 pool manager per container: keep-alive connections to providers."""
    global _pool
    if _pool is None:
        import urllib3

        try:  # the CA bundle the SDKs use, when present; else the system's
            import certifi

            _pool = urllib3.PoolManager(num_pools=16, maxsize=4, retries=False, ca_certs=certifi.where())
        except ImportError:
            _pool = urllib3.PoolManager(num_pools=16, maxsize=4, retries=False)
        _pool.pool_classes_by_scheme = _watched_pools()
    return _pool


def _cut(conn: Any) -> None:
    try:
        conn.sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass


def _watched_pools() -> dict[str, Any]:
    """Connection pools whose connections are cut when the call's time is up while
    the status line and headers are still coming: http.client reads them with the
    socket timeout set once, so a provider trickling its headers a byte at a time
    would otherwise outlive the deadline. The body is read in `_post`, where each
    read has the time left. Their responses note the first byte of an answer."""
    import http.client

    class FirstByte(http.client.HTTPResponse):
        def begin(self) -> None:
            if self.fp.peek(1):  # waits as the status line's read would; b"" is a close before any answer
                _call.answered = True
            super().begin()

    class Watched:
        response_class: type[http.client.HTTPResponse] = FirstByte

        def getresponse(self, *args: Any, **kwargs: Any) -> Any:
            ends = getattr(_call, "ends", None)
            token = watchdog.watch(lambda: _cut(self), ends) if ends is not None else None
            try:
                return super().getresponse(*args, **kwargs)
            finally:
                if token is not None:
                    watchdog.unwatch(token)

    return pool_classes(Watched)


class AnswerStarted(ProviderError):
    """The provider failed after it had started answering. Never sent again: it has
    likely done and billed the work, and a resend would be paid twice, counted once."""


class Unreachable(ProviderError):
    """No answer began: the connection failed or was refused. Safe to send again."""


class AnswerTooLarge(AnswerStarted):
    """The provider's answer passed SMARTER_MAX_PROVIDER_RESPONSE_BYTES (it would again)."""


@dataclass
class Answer:
    """One HTTP answer of a provider, read whole within the deadline and the byte cap."""

    status: int
    headers: dict[str, str]  # names in lower case, for lookups
    data: bytes
    provider_ms: float = 0.0
    sent_headers: dict[str, str] = field(default_factory=dict)  # as the provider spelled them
    attempts: int = 1  # POSTs made for it (retries included)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def rate_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.sent_headers.items() if k.lower() in RATE_HEADERS or k.lower().startswith(RATE_HEADER_PREFIXES)}


def _post(provider: Provider, key: str, payload: bytes, deadline: Deadline, timeout: float | None = None) -> Answer:
    """POST to the provider's /chat/completions once. Every wait is capped by what
    is left of the deadline (and by `timeout`, a routing target's own); the body
    is read chunk by chunk so that a provider dripping bytes is cut off at the
    deadline, and one sending too much at the cap."""
    import urllib3
    from urllib.parse import urlsplit

    url, added, pool_kwargs = call_target(provider)
    limit = settings().max_provider_response_bytes
    per_call = deadline.cap(min(settings().provider_timeout_seconds, timeout or settings().provider_timeout_seconds))
    if per_call <= 0:
        raise _timeout(provider, deadline)
    call_ends = time.monotonic() + per_call
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "identity",
               **extra_headers(provider), **added}
    started = time.perf_counter()
    _call.ends, _call.answered = call_ends, False
    options = dict(
        body=payload,
        headers=headers,
        timeout=urllib3.Timeout(connect=min(CONNECT_TIMEOUT, per_call), read=per_call),
        redirect=False,  # the key is for this host only
        preload_content=False,
        decode_content=False,
        retries=False,
    )
    try:
        if pool_kwargs:  # an account provider: to the checked address, TLS for the host name
            parts = urlsplit(url)
            pool = _http().connection_from_url(url, pool_kwargs=pool_kwargs)
            response = pool.urlopen("POST", parts.path + (f"?{parts.query}" if parts.query else ""), assert_same_host=False, **options)
        else:
            response = _http().request("POST", url, **options)
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError, but no timeout
        raise Unreachable(connect_failure(provider, exc)) from None
    except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError, TimeoutError, socket.timeout):
        raise _timeout(provider, deadline) from None
    except urllib3.exceptions.HTTPError as exc:
        if time.monotonic() >= call_ends:  # cut by the header watchdog
            raise _timeout(provider, deadline) from None
        if _call.answered:  # the status line or headers had started: not safe to send again
            raise AnswerStarted(f"the provider {provider.name!r} broke off its answer: {_reason(exc)}") from None
        raise Unreachable(f"could not reach the provider {provider.name!r}: {_reason(exc)}") from None
    finally:
        _call.ends = None
    sent_headers = dict(response.headers.items())
    answer_headers = {k.lower(): v for k, v in sent_headers.items()}
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = call_ends - time.monotonic()
            if left <= 0:
                _discard(response)
                raise _timeout(provider, deadline, reading=True)
            sock = getattr(getattr(response, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(left)  # each read waits at most until the deadline
            chunk = response.read1(READ_CHUNK) if hasattr(response, "read1") else response.read(READ_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                _discard(response)
                raise AnswerTooLarge(f"the provider {provider.name!r} sent more than {limit} bytes (SMARTER_MAX_PROVIDER_RESPONSE_BYTES)")
            chunks.append(chunk)
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError, socket.timeout):
        _discard(response)
        raise _timeout(provider, deadline, reading=True) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        _discard(response)
        raise AnswerStarted(f"the provider {provider.name!r} broke off its answer: {_reason(exc)}") from None
    response.release_conn()
    return Answer(response.status, answer_headers, b"".join(chunks), (time.perf_counter() - started) * 1000, sent_headers)


def _discard(response: Any) -> None:
    """Close a connection whose answer we stop reading: it cannot be reused."""
    try:
        conn = getattr(response, "connection", None)
        response.drain_conn = None  # never read the rest
        if conn is not None:
            conn.close()
        response.close()
    except Exception:
        pass


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return reason.__class__.__name__


def connect_failure(provider: Provider, exc: BaseException) -> str:
    """Why no connection was made, in words a tenant can act on; never the
    address (an operator's override is infrastructure)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return f"the provider {provider.name!r} refused the connection: nothing listens at its address (is its server running?)"
        seen = seen.__cause__ or seen.__context__
    return f"could not reach the provider {provider.name!r}: {_reason(exc)}"


def _timeout(provider: Provider, deadline: Deadline, *, reading: bool = False) -> ProviderTimeout:
    what = "finish its answer" if reading else "answer"
    return ProviderTimeout(f"the provider {provider.name!r} did not {what} within the request's deadline ({deadline.budget:.1f} s)")


def retry_after(headers: dict[str, str]) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), if the provider sent one
    (`headers` with names in lower case)."""
    millis = headers.get("retry-after-ms")  # OpenAI's, more precise when sent
    if millis:
        try:
            seconds = float(millis) / 1000
            if math.isfinite(seconds):
                return max(seconds, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(moment.timestamp() - time.time(), 0.0)


def _send(provider: Provider, request: dict[str, Any], deadline: Deadline, *, max_retries: int, timeout: float | None = None) -> Answer:
    """POST with bounded retries that fit in the deadline: for a 429 or 5xx status,
    and for a connection that failed before any byte of the answer arrived; never
    once the answer had started (AnswerStarted). A Retry-After longer than what is
    left is not waited for: the caller gets the provider's answer at once (a 429
    with its Retry-After)."""
    key = require_key(provider)
    payload = json.dumps(request, separators=(",", ":"), default=str).encode("utf-8")
    provider_ms = 0.0
    attempt = 0
    while True:
        last = attempt >= max_retries
        started = time.perf_counter()
        try:
            answer = _post(provider, key, payload, deadline, timeout)
        except ProviderTimeout:
            raise
        except ProviderError as exc:
            provider_ms += (time.perf_counter() - started) * 1000
            wait = backoff(attempt)
            if last or isinstance(exc, AnswerStarted) or wait > deadline.remaining() - 1.0:
                if attempt:
                    exc.headers.update(NO_SDK_RETRY)
                raise
        else:
            provider_ms += answer.provider_ms
            answer.provider_ms = provider_ms
            answer.attempts = attempt + 1
            if last or answer.status not in RETRY_STATUSES:
                return answer
            hinted = retry_after(answer.headers)
            wait = hinted if hinted is not None else backoff(attempt) * (0.5 + random.random() / 2)
            if wait > deadline.remaining() - 1.0:
                return answer  # waiting would outlast the request: answer now
        time.sleep(wait)
        attempt += 1


def backoff(attempt: int) -> float:
    """The wait before retry `attempt + 1` when the provider named none: 0.25 s doubling, at most 2 s."""
    return min(0.25 * 2**attempt, 2.0)
# Sent once the gateway has retried: the SDKs (openai, anthropic) honour it, so
# their own retries do not multiply the upstream calls.
NO_SDK_RETRY = {"x-should-retry": "false"}
# Provider statuses caused by the request itself, passed on as they are. A 401 or
# 403 is about the platform's key, never the caller's, and stays a 502.
REJECTED_STATUSES = frozenset({400, 404, 413, 422})


def _offline(request: dict[str, Any]) -> dict[str, Any]:
    from smarter.llm.offline import complete

    return complete(request)


@dataclass
class Completion:
    body: dict[str, Any]
    provider_ms: float


def chat_completion(provider: Provider, request: dict[str, Any], deadline: Deadline | None = None, *, max_retries: int | None = None,
                    timeout: float | None = None) -> Completion:
    """A chat completion as the provider's JSON body, with errors mapped to ours.
    An answer that is not a chat completion is a provider error (502), whatever it holds.
    A refused answer's error carries `upstream_status` and `retry_after` (routing reads them)."""
    deadline = deadline or Deadline(settings().request_timeout_seconds)
    started = time.perf_counter()
    if provider.name == "offline":
        return Completion(_offline(request), (time.perf_counter() - started) * 1000)
    from smarter.llm import anthropic_provider

    if provider.name in anthropic_provider.NATIVE:  # over its own Messages API
        return anthropic_provider.chat_completion(provider, request, deadline)
    retries = settings().provider_max_retries if max_retries is None else max_retries
    answer = _send(provider, request, deadline, max_retries=retries, timeout=timeout)
    key = secrets_of(provider)
    retried = dict(NO_SDK_RETRY) if answer.attempts > 1 else {}
    if answer.status == 429:
        raise _upstream(RateLimited(
            f"the provider {provider.name!r} is rate limiting: {_provider_message(answer, key)}",
            headers={**answer.rate_headers(), **retried} or None,
        ), answer)
    if 300 <= answer.status < 400:
        raise _upstream(ProviderError(f"the provider {provider.name!r} answered {answer.status} (a redirect; redirects are not followed, the key is for this host only)"), answer)
    if answer.status in REJECTED_STATUSES:
        raise _upstream(rejected(provider, answer.status, answer.data, key), answer)
    if answer.status >= 400 or answer.status < 200:
        raise _upstream(ProviderError(f"the provider {provider.name!r} answered {answer.status}: {_provider_message(answer, key)}", headers=retried or None), answer)
    if not answer.data.strip():
        raise ProviderError(f"the provider {provider.name!r} sent an empty answer")
    try:
        body = json.loads(answer.data)
    except (ValueError, RecursionError):
        raise ProviderError(f"the provider {provider.name!r} sent a body that is not JSON") from None
    if not isinstance(body, dict):
        raise ProviderError(f"the provider {provider.name!r} sent JSON that is not a chat completion")
    from smarter.llm import completion_shape  # pydantic, on the first buffered completion only

    problem = completion_shape.problem(body)
    if problem:
        raise ProviderError(f"the provider {provider.name!r} sent an answer of the wrong shape: {problem}"[:1000])
    return Completion(body, answer.provider_ms)


def _upstream(error: Any, answer: Answer) -> Any:
    """Note the provider's status and Retry-After on the error it became."""
    error.upstream_status = answer.status
    error.retry_after = retry_after(answer.headers)
    return error


def secrets_of(provider: Provider) -> list[str]:
    """What this provider's calls carry that no answer may show: its key, and an
    account provider's header values."""
    found = [provider_key(provider) or ""]
    if provider.header_secrets:
        found += list(extra_headers(provider).values())
    return [s for s in found if s]


def rejected(provider: Provider, status: int, data: bytes, key: str | list[str] | None = None) -> ProviderRejected:
    """A provider's refusal of the request, with its own `code` and `param` when it sent them."""
    fields: dict[str, Any] = {}
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        fields = {name: str(error[name])[:200] for name in ("code", "param") if isinstance(error.get(name), (str, int))}
    message = _provider_message(Answer(status, {}, data), key)
    return ProviderRejected(f"the provider {provider.name!r} refused the request ({status}): {message}", status=status, **fields)


def _provider_message(answer: Answer, key: str | list[str] | None = None) -> str:
    """The provider's own error message (OpenAI's `{"error": {"message"}}` or a bare body),
    scrubbed of anything that looks like a credential."""
    keys = key if isinstance(key, list) else [key or ""]
    try:
        body = json.loads(answer.data)
    except (ValueError, RecursionError):
        return scrub(answer.text[:500], keys) or "(no message)"
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        else:
            text = str(body.get("message") or body)
    else:
        text = str(body)
    return scrub(text[:500], keys)


def reset() -> None:
    global _pool
    if _pool is not None:
        _pool.clear()
    _pool = None
    _keys.clear()
    from smarter.llm import routing  # the targets' cooldowns go with the providers' state

    routing.reset()


@dataclass
class Forwarded:
    status: int
    body: Any
    provider_ms: float
    headers: dict[str, str] = field(default_factory=dict)


def forward(provider: Provider, request: dict[str, Any], deadline: Deadline | None = None) -> Forwarded:
    """Send a raw chat-completions body and return the provider's status, body and
    rate-limit headers (the passthrough API). No retries: the caller sees exactly
    what the provider said, 429s included. The platform's key is removed from
    anything returned, and an error body is scrubbed of credential-looking text."""
    deadline = deadline or Deadline(settings().request_timeout_seconds)
    started = time.perf_counter()
    if provider.name == "offline":
        return Forwarded(200, _offline(request), (time.perf_counter() - started) * 1000)
    answer = _send(provider, request, deadline, max_retries=0)
    if 300 <= answer.status < 400:
        raise ProviderError(f"the provider {provider.name!r} answered {answer.status} (a redirect; redirects are not followed, the key is for this host only)")
    return Forwarded(answer.status, forwarded_body(provider, answer.status, answer.text), answer.provider_ms, answer.rate_headers())


def forwarded_body(provider: Provider, status: int, text: str) -> Any:
    """A provider's answer as the passthrough hands it on: JSON when it is, the
    platform's key never in it, an error body scrubbed of credential-looking text."""
    keys = secrets_of(provider)
    if status >= 400:
        text = scrub(text, keys)
    for key in keys:
        if key in text:
            text = text.replace(key, "[redacted]")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text
