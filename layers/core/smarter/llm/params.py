"""Which of a caller's chat-completion parameters go to which provider.

A parameter the caller sets is either forwarded to the provider as given or
refused with a 400 naming it (`code: unsupported_parameter`): never dropped
silently, since a caller who asked for logprobs or a service tier and got a
200 without them cannot tell. What each provider takes is what its
OpenAI-compatible API documents; a provider not named here (an operator's
own) gets the common sampling parameters only. `local` (Ollama, vLLM,
llama.cpp) is the operator's own server: it gets everything, and its own
error comes back to the caller as that error's status.

The model, messages, tools, temperature and the output cap are the chat
loop's (the client's settings govern them); they are not in these tables.
"""

from __future__ import annotations

from typing import Any

from smarter.errors import BadRequest

# Taken by every OpenAI-compatible API we route to.
COMMON = frozenset({"top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "response_format", "user", "parallel_tool_calls"})
# OpenAI's own, beyond the common ones.
OPENAI = COMMON | {
    "logprobs", "top_logprobs", "logit_bias", "reasoning_effort", "service_tier", "metadata", "store",
    "prediction", "modalities", "audio", "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
}
# Claude's own (Anthropic's Messages API, llm/anthropic_provider.py), taken by that provider only.
CLAUDE = frozenset({"top_k", "thinking"})
# Every parameter that is forwarded (when the provider takes it): OpenAI's, and Claude's.
FORWARDED = OPENAI | CLAUDE
# Parameters the edge reads itself (the chat loop's own, or the stream's).
OWN = frozenset({"model", "messages", "stream", "stream_options", "tools", "tool_choice", "temperature", "max_tokens", "max_completion_tokens", "n"})
# OpenAI's deprecated function-calling fields: refused, `tools` does the same.
DEPRECATED = {"functions": "tools", "function_call": "tool_choice"}

TAKES: dict[str, frozenset[str]] = {
    "openai": OPENAI,
    "local": OPENAI,
    "offline": COMMON,
    # Over its own Messages API (llm/anthropic_provider.py): what that API has.
    "anthropic": frozenset({"top_p", "stop", "user", "parallel_tool_calls", "service_tier"}) | CLAUDE,
    "googleai": frozenset({"top_p", "stop", "seed", "response_format", "reasoning_effort", "presence_penalty", "frequency_penalty"}),
    "mistral": frozenset({"top_p", "stop", "presence_penalty", "frequency_penalty", "response_format", "parallel_tool_calls"}),
    "groq": COMMON | {"reasoning_effort", "service_tier"},
    "togetherai": COMMON | {"logprobs", "logit_bias"},
    "fireworks": COMMON | {"logprobs", "top_logprobs", "logit_bias", "reasoning_effort"},
}


class UnknownParameter(BadRequest):
    type = "unknown_parameter"  # OpenAI's code for a field it does not have


class UnsupportedParameter(BadRequest):
    type = "unsupported_parameter"  # OpenAI's code for a field this model or provider does not take


def check_known(body: dict[str, Any]) -> None:
    """A field OpenAI's chat completion request does not have is refused, as OpenAI does."""
    for name in body:
        if name in DEPRECATED:
            raise UnsupportedParameter(f"{name}: the deprecated function-calling field is not supported; send {DEPRECATED[name]!r}", param=name)
        if name not in OWN and name not in FORWARDED:
            raise UnknownParameter(f"{name}: unrecognized request argument", param=name)


def forwarded(provider: str, params: dict[str, Any]) -> dict[str, Any]:
    """The caller's parameters for this provider; a 400 naming the first it does not take."""
    takes = TAKES.get(provider, COMMON)
    out = {}
    for name in sorted(params):
        if name not in FORWARDED or params[name] is None:
            continue
        if name not in takes:
            raise UnsupportedParameter(f"{name}: the provider {provider!r} behind this client does not take this parameter", param=name)
        out[name] = params[name]
    return out
