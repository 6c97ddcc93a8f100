"""Scrubbing credential-looking strings out of text we did not write (provider
error messages, request bodies) before it is returned or journaled."""

from __future__ import annotations

import re
from typing import Any, Iterable

REDACTED = "[redacted]"

# Well-known key shapes, then "name: value" pairs whose name says secret.
PATTERNS = (
    re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{12,}"),  # OpenAI and look-alikes (sk-proj-…)
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{12,}"),  # Anthropic
    re.compile(r"\bsmk_[0-9a-f]{12}_[A-Za-z0-9_\-]{16,}"),  # our own API keys
    re.compile(r"\bgsk_[A-Za-z0-9]{16,}"),  # Groq
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # Google
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWTs
    re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=\-]{12,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|secret|password|passwd|token|authorization|x-api-key)[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]{6,})"
    ),
)

SECRET_FIELD = re.compile(r"(?i)(api[_-]?key|secret|password|passwd|authorization|access[_-]?token|refresh[_-]?token)")


def scrub(text: str, known: Iterable[str] = ()) -> str:
    """`text` with known secrets and credential-looking strings replaced."""
    for secret in known:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    for pattern in PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: m.group(1) + " " + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def scrub_json(value: Any, known: Iterable[str] = ()) -> Any:
    """A JSON value with secret-named fields blanked and every string scrubbed."""
    known = tuple(known)
    if isinstance(value, str):
        return scrub(value, known)
    if isinstance(value, list):
        return [scrub_json(item, known) for item in value]
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and SECRET_FIELD.search(k) and isinstance(v, str) else scrub_json(v, known))
            for k, v in value.items()
        }
    return value
