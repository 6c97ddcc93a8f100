"""The offline provider: deterministic answers without keys or network.

It exists so that `make run`, the demo and the tests exercise the whole
path, tool-call loop included: when tools are offered and the conversation
has no tool result since the last user message, it calls every offered tool
(parallel calls), choosing enum values that share words with the user's
message; otherwise it answers with the tool results it was given.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    """Lower-case words, plural 's' dropped, so 'refund' meets 'refunds'."""
    return {w.rstrip("s") or w for w in WORD.findall(text.lower())}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _arguments(schema: dict[str, Any], question: str) -> dict[str, Any]:
    words = _words(question)
    args: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("enum"):
            options = [str(option) for option in prop["enum"]]
            args[name] = max(options, key=lambda o: (len(_words(o.replace("_", " ")) & words), -options.index(o)))
        elif prop.get("type") in ("integer", "number"):
            args[name] = prop.get("default", 1)
        elif prop.get("type") == "boolean":
            args[name] = prop.get("default", True)
        else:
            args[name] = prop.get("default", question)
    return args


def complete(request: dict[str, Any]) -> dict[str, Any]:
    messages = request.get("messages") or []
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    question = _text(messages[last_user]["content"]) if last_user >= 0 else ""
    tool_results = [m for m in messages[last_user + 1 :] if m.get("role") == "tool"]
    tools = request.get("tools") or []
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()[:24]

    if tools and not tool_results:
        calls = [
            {
                "id": f"call_{digest[:12]}_{i}",
                "type": "function",
                "function": {
                    "name": tool["function"]["name"],
                    "arguments": json.dumps(_arguments(tool["function"].get("parameters") or {}, question)),
                },
            }
            for i, tool in enumerate(tools)
        ]
        message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": calls}
        finish = "tool_calls"
    else:
        if tool_results:
            found = "; ".join(_text(m.get("content")) for m in tool_results)
            content = f"(offline) Here is what I found: {found}"
        else:
            content = f"(offline) You said: {question}" if question else "(offline) Hello."
        message = {"role": "assistant", "content": content}
        finish = "stop"

    prompt_tokens = sum(len(_text(m.get("content")).split()) for m in messages)
    completion_tokens = len(_text(message.get("content")).split()) + 8 * len(message.get("tool_calls") or [])
    return {
        "id": f"chatcmpl-offline-{digest}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or "offline-echo",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
