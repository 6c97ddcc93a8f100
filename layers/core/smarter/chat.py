"""The prompt: a chat completion through the client's provider, with its
plugins offered as tools and a bounded tool-call loop. Knows nothing of HTTP."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from . import plugins, providers, sessions, storage
from .cache import TTLCache
from .config import settings
from .errors import ToolLoopLimit
from .hosts import ResolvedClient
from .journal import RequestRecord
from .models import PromptRequest

logger = Logger(child=True)

MAX_TOOL_RESULT_CHARS = 100_000
_plugin_cache = TTLCache(lambda: settings().cache_ttl_seconds)


def client_plugins(resolved: ResolvedClient) -> list[dict[str, Any]]:
    """The client's attached plugin manifests (one BatchGetItem, cached)."""
    names = tuple(resolved.doc.get("plugins") or ())
    if not names:
        return []

    def load():
        found = storage.get_many_scoped("PLUGIN", resolved.account, list(names))
        missing = [n for n in names if n not in found]
        if missing:
            logger.warning("client names plugins that do not exist", extra={"missing": missing})
        return [found[n] for n in names if n in found]

    return _plugin_cache.get_or_load((resolved.account, names), load)


def _user_texts(messages: list[dict[str, Any]]) -> list[str]:
    texts = []
    for message in messages:
        if message.get("role") == "user":
            content = message.get("content")
            texts.append(content if isinstance(content, str) else json.dumps(content))
    return texts


def _plugin_context(account: str) -> plugins.PluginContext:
    def connection(name: str) -> dict[str, Any]:
        found = storage.get_scoped("CONNECTION", account, name, cached=True)
        if found is None:
            raise plugins.PluginCallError(f"the connection {name!r} does not exist")
        return found

    def secret(name: str) -> str:
        from .account_secrets import account_secret

        return account_secret(account, name)

    return plugins.PluginContext(
        account=account,
        connection=connection,
        secret=secret,
        timeout_seconds=settings().plugin_timeout_seconds,
        allowed_hosts=settings().local_allowed_hosts,
    )


def _run_tool(call: dict[str, Any], by_name: dict[str, dict[str, Any]], context: plugins.PluginContext, round_no: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one tool call; (tool message for the model, journal entry). Never raises."""
    started = time.perf_counter()
    function = call.get("function") or {}
    name = function.get("name", "")
    entry: dict[str, Any] = {"round": round_no, "id": call.get("id"), "plugin": name}
    manifest = by_name.get(name)
    try:
        if manifest is None:
            raise plugins.PluginCallError(f"there is no tool named {name!r}")
        entry["kind"] = manifest["kind"] if manifest["kind"] != "Plugin" else manifest["metadata"].get("pluginClass", "static")
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except ValueError:
            raise plugins.PluginCallError("the tool arguments are not valid JSON") from None
        if not isinstance(arguments, dict):
            raise plugins.PluginCallError("the tool arguments must be a JSON object")
        entry["arguments"] = arguments
        result = plugins.kind_for(manifest).call(manifest, arguments, context)
        content = result if isinstance(result, str) else json.dumps(result, default=str)
        if len(content) > MAX_TOOL_RESULT_CHARS:
            content = content[:MAX_TOOL_RESULT_CHARS] + " …[truncated]"
        entry["outcome"] = "ok"
    except plugins.PluginCallError as exc:
        content = json.dumps({"error": str(exc)})
        entry.update(outcome="error", error=str(exc))
    except Exception as exc:  # a broken plugin must not fail the request
        logger.exception("plugin raised", extra={"plugin": name})
        content = json.dumps({"error": f"the tool failed: {exc.__class__.__name__}: {exc}"[:1000]})
        entry.update(outcome="error", error=f"{exc.__class__.__name__}: {exc}"[:1000])
    entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    entry["result_bytes"] = len(content.encode("utf-8"))
    return {"role": "tool", "tool_call_id": call.get("id"), "content": content}, entry


def _run_tools(calls, by_name, context, round_no) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if len(calls) == 1:
        return [_run_tool(calls[0], by_name, context, round_no)]
    with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
        return list(pool.map(lambda c: _run_tool(c, by_name, context, round_no), calls))


def run_prompt(resolved: ResolvedClient, request: PromptRequest, record: RequestRecord) -> dict[str, Any]:
    client = resolved.doc
    new_messages = [m.to_openai() for m in request.messages]

    history: list[dict[str, Any]] = []
    session_key = request.session_key
    if session_key:
        history = sessions.load(resolved.account, resolved.name, session_key)
    if not history:
        session_key = sessions.new_session_key()  # none or unknown: a new session, never a guessed one
    record.session_key = session_key

    selected = plugins.select(client_plugins(resolved), _user_texts(history + new_messages))
    by_name = {m["metadata"]["name"]: m for m in selected}
    overrides = [(m.get("spec") or {}).get("prompt") or {} for m in selected]

    provider = providers.get_provider(client.get("provider") or providers.default_provider_name())
    record.provider = provider.name
    model = next((o["model"] for o in overrides if o.get("model")), None) or client.get("model") or provider.default_model
    temperature = next((o["temperature"] for o in overrides if o.get("temperature") is not None), client.get("temperature", 0.5))
    max_tokens = next((o["maxTokens"] for o in overrides if o.get("maxTokens")), client.get("max_tokens", 2048))
    system_role = "\n\n".join(
        [client.get("system_role") or "You are a helpful assistant.", *[o["systemRole"] for o in overrides if o.get("systemRole")]]
    )

    conversation = [{"role": "system", "content": system_role}, *history, *new_messages]
    tools = [plugins.kind_for(m).tool(m) for m in selected]
    transcript: list[dict[str, Any]] = []
    context = _plugin_context(resolved.account)

    for round_no in range(1, settings().max_tool_rounds + 1):
        body: dict[str, Any] = {"model": model, "messages": conversation + transcript, "temperature": temperature, "max_tokens": max_tokens}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        completion = providers.chat_completion(provider, body)
        record.provider_ms += completion.provider_ms
        record.add_usage(completion.body.get("usage"))
        message = completion.body["choices"][0].get("message") or {}
        calls = message.get("tool_calls") or []
        if not calls:
            transcript.append({"role": "assistant", "content": message.get("content") or ""})
            break
        transcript.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
        for tool_message, entry in _run_tools(calls, by_name, context, round_no):
            transcript.append(tool_message)
            record.tool_calls.append(entry)
    else:
        raise ToolLoopLimit(
            f"the model was still calling tools after {settings().max_tool_rounds} rounds (SMARTER_MAX_TOOL_ROUNDS)"
        )

    record.pending.extend(sessions.items(resolved.account, resolved.name, session_key, new_messages + transcript))
    return {
        "chat_completion": completion.body,
        "tool_calls": record.tool_calls,
        "selected_plugins": [m["metadata"]["name"] for m in selected],
        "usage": record.usage,
        "provider": provider.name,
        "model": model,
        "rounds": round_no,
    }
