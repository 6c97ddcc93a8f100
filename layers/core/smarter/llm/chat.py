"""The prompt: a chat completion through the client's provider, with its
plugins offered as tools and a bounded tool-call loop. Knows nothing of HTTP."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from smarter.cache import TTLCache
from smarter.config import settings
from smarter.deadline import Deadline
from smarter.errors import ProviderTimeout, ToolLoopLimit
from smarter.llm import params as provider_params
from smarter.llm import plugins, providers, routing
from smarter.llm.messages import PromptRequest
from smarter.store import sessions, storage
from smarter.store.journal import RequestRecord
from smarter.tenancy import limits
from smarter.tenancy.hosts import ResolvedClient

logger = Logger(child=True)

MAX_TOOL_RESULT_CHARS = 100_000
MAX_CALLS_PER_ROUND = 16
TOOL_GRACE_SECONDS = 5.0
# One pool per container, reused by every request (parallel tool calls in a round).
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="plugin")
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


def _text_of(content: Any) -> str:
    """The words a user wrote: a string, or the text parts of a content list (never its JSON keys)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type", "text") == "text")
    return ""


def _user_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]


def plugin_context(account: str) -> plugins.PluginContext:
    """What a plugin running for this account may use (also `smarter plugin test`)."""

    def connection(name: str) -> dict[str, Any]:
        found = storage.get_scoped("CONNECTION", account, name, cached=True)
        if found is None:
            raise plugins.PluginCallError(f"the connection {name!r} does not exist")
        return found

    def secret(name: str) -> str:
        from smarter.tenancy.account_secrets import account_secret

        return account_secret(account, name)

    return plugins.PluginContext(
        account=account,
        connection=connection,
        secret=secret,
        timeout_seconds=settings().plugin_timeout_seconds,
    )


def _tool_message(call: dict[str, Any], content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.get("id"), "content": content}


def _error(entry: dict[str, Any], message: str, outcome: str = "error") -> str:
    entry.update(outcome=outcome, error=message)
    return json.dumps({"error": message})


def _run_tool(call: dict[str, Any], by_name: dict[str, dict[str, Any]], context: plugins.PluginContext, round_no: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one tool call; (tool message for the model, journal entry). Never raises:
    whatever goes wrong becomes an error result the model reads and can act on."""
    started = time.perf_counter()
    function = call.get("function") or {}
    name = function.get("name", "")
    entry: dict[str, Any] = {"round": round_no, "id": call.get("id"), "plugin": name}
    manifest = by_name.get(name)  # exact name only: a tool the model was not offered is not run
    try:
        if manifest is None:
            raise plugins.PluginCallError(f"there is no tool named {name!r}; the tools are: {', '.join(sorted(by_name)) or 'none'}")
        kind = plugins.kind_for(manifest)
        entry["kind"] = kind.plugin_class
        raw_arguments = function.get("arguments") or "{}"
        try:
            arguments = json.loads(raw_arguments) if isinstance(raw_arguments, str) else raw_arguments
        except ValueError:
            entry["arguments_raw"] = str(raw_arguments)[:1000]
            raise plugins.PluginCallError("the tool arguments are not valid JSON") from None
        if not isinstance(arguments, dict):
            entry["arguments_raw"] = str(raw_arguments)[:1000]
            raise plugins.PluginCallError("the tool arguments must be a JSON object")
        entry["arguments"] = arguments
        result = kind.call(manifest, arguments, context)
        content = result if isinstance(result, str) else json.dumps(result, default=str)
        if len(content) > MAX_TOOL_RESULT_CHARS:
            content = content[:MAX_TOOL_RESULT_CHARS] + " …[truncated]"
            entry["truncated"] = True
        entry["outcome"] = "ok"
    except plugins.PluginCallError as exc:
        content = _error(entry, str(exc)[:2000])
    except Exception as exc:  # a broken plugin must not fail the request
        logger.exception("plugin raised", extra={"plugin": name})
        content = _error(entry, f"the tool failed: {exc.__class__.__name__}: {exc}"[:1000])
    entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    entry["result_bytes"] = len(content.encode("utf-8"))
    return _tool_message(call, content), entry


def _run_tools(calls: list[dict[str, Any]], by_name, context: plugins.PluginContext, round_no: int, deadline: Deadline | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """A round's calls, in parallel, answered in the order asked. A call that
    outlives the plugin timeout (plus grace) or the request's deadline is answered
    with an error; the model must get a result for every call id, or the provider
    refuses the next round."""
    started = time.perf_counter()
    budget = context.timeout_seconds + TOOL_GRACE_SECONDS
    if deadline is not None:
        budget = deadline.cap(budget)
    run = calls[:MAX_CALLS_PER_ROUND]
    futures = [_pool.submit(_run_tool, call, by_name, context, round_no) for call in run]
    wait(futures, timeout=budget)
    results = []
    for call, future in zip(run, futures):
        if future.done():
            results.append(future.result())
            continue
        future.cancel()
        entry = {"round": round_no, "id": call.get("id"), "plugin": (call.get("function") or {}).get("name", "")}
        content = _error(entry, f"the tool did not answer within {budget:g} s", outcome="timeout")
        entry.update(duration_ms=round((time.perf_counter() - started) * 1000, 2), result_bytes=len(content))
        results.append((_tool_message(call, content), entry))
    for call in calls[MAX_CALLS_PER_ROUND:]:
        entry = {"round": round_no, "id": call.get("id"), "plugin": (call.get("function") or {}).get("name", "")}
        content = _error(entry, f"at most {MAX_CALLS_PER_ROUND} tool calls run in one round; ask again for the rest", outcome="skipped")
        entry.update(duration_ms=0.0, result_bytes=len(content))
        results.append((_tool_message(call, content), entry))
    return results


def _offered(manifests: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(manifest, tool) for each tool of each plugin whose kind is installed; one that is not
    is left out, not fatal. A remote MCP plugin offers several tools, each with its own manifest view."""
    out = []
    for manifest in manifests:
        try:
            out.extend(plugins.tools_of(manifest))
        except Exception:
            logger.exception("plugin cannot be offered", extra={"plugin": (manifest.get("metadata") or {}).get("name")})
    return out


@dataclass
class ChatTurn:
    """One call to a client, whichever API it came through (the Smarter prompt
    API or the OpenAI-compatible one): the new messages, the session they
    continue, and what the caller may add to the client's own settings."""

    messages: list[dict[str, Any]]
    session_key: str | None = None
    # Tools the caller offers (the OpenAI API's `tools`): their calls go back to the caller.
    caller_tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None
    # The model the caller asked for; used only when the client allows overrides.
    model: str | None = None
    # Sampling parameters the caller set (temperature, max_tokens, top_p, ...).
    params: dict[str, Any] = field(default_factory=dict)
    # Messages before this turn that the caller's API keeps itself (the Responses
    # API's instructions and previous_response_id): sent, never stored again.
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChatResult:
    completion: dict[str, Any]
    message: dict[str, Any]
    caller_calls: list[dict[str, Any]]
    selected_plugins: list[str]
    provider: str
    model: str
    rounds: int
    session_key: str
    # This turn's messages after the caller's: the assistant's and the plugin results.
    transcript: list[dict[str, Any]] = field(default_factory=list)


# Caller parameters forwarded to the provider as given (the OpenAI API), when
# it takes them (llm/params.py); the model, messages, tools and the output cap
# are governed by the client.
PASSED_PARAMS = tuple(sorted(provider_params.FORWARDED))
OUTPUT_CAPS = ("max_completion_tokens", "max_tokens")
BRIDGED_CAP = "max_output_tokens"


def output_cap(provider: providers.Provider, params: dict[str, Any], ceiling: int) -> dict[str, int]:
    """The output cap under the caller's own name for it, at most the client's
    `defaultMaxTokens` (a ceiling). A caller who sent none gets the ceiling
    under the name the provider takes: OpenAI's `max_completion_tokens`
    (its reasoning models refuse `max_tokens`), `max_tokens` elsewhere."""
    asked = next((name for name in OUTPUT_CAPS if params.get(name)), None)
    if asked:
        return {asked: min(int(params[asked]), int(ceiling))}
    name = "max_completion_tokens" if provider.name == "openai" else "max_tokens"
    # A bridged API's own cap (Anthropic's max_tokens) has no OpenAI name of its own: the provider's.
    return {name: min(int(params.get(BRIDGED_CAP) or ceiling), int(ceiling))}


def _tool_name(tool: dict[str, Any]) -> str:
    return str((tool.get("function") or {}).get("name") or "")


def _call_name(call: dict[str, Any]) -> str:
    return str((call.get("function") or {}).get("name") or "")


class Conversation:
    """One turn of the chat loop, run as it is read. Iterating it yields the
    provider's content as it arrives (streamed rounds; nothing when buffered);
    once it is done, `outcome` is the ChatResult. `model` is known before the
    first piece. Closing it stops the provider's stream."""

    def __init__(self, steps: Generator[dict[str, Any], None, ChatResult]):
        self._steps = steps
        self.model: str | None = None
        self.outcome: ChatResult | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self.outcome is None:
            try:
                step = next(self._steps)
            except StopIteration as done:
                self.outcome = done.value
                self.model = self.outcome.model
                break
            if "model" in step:
                self.model = step["model"]
            elif step.get("content"):
                return str(step["content"])
        raise StopIteration

    def finish(self) -> ChatResult:
        """Run to the end (what is left of it) and return the outcome."""
        for _piece in self:
            pass
        assert self.outcome is not None
        return self.outcome

    def close(self) -> None:
        self._steps.close()

    def first(self) -> str:
        """Run up to the first content (plugin rounds included): a streamed API
        sends its status only then, so an error up to here keeps its own status.
        On an error the provider's stream is closed."""
        try:
            return next(self, "")
        except BaseException:
            self.close()
            raise


def converse(resolved: ResolvedClient, turn: ChatTurn, record: RequestRecord, *, stream: bool = False) -> Conversation:
    """The one chat path behind every API: session, plugin selection, the
    client's provider, model and system role, and the bounded tool loop.
    Plugin calls run here; calls of the caller's own tools end the loop and go
    back to it. With `stream=True` the provider's rounds are streamed and their
    content can be read from the Conversation as it arrives."""
    return Conversation(_steps(resolved, turn, record, stream=stream))


def _steps(resolved: ResolvedClient, turn: ChatTurn, record: RequestRecord, *, stream: bool) -> Generator[dict[str, Any], None, ChatResult]:
    client = resolved.doc
    new_messages = list(turn.messages)

    history: list[dict[str, Any]] = []
    session_key = turn.session_key
    if session_key:
        history = sessions.load(resolved.account, resolved.name, session_key, record.api_key_id)
    if not history:
        session_key = sessions.new_session_key()  # none or unknown: a new session, never a guessed one
    record.session_key = session_key
    history = [*turn.history, *history]

    offered = _offered(plugins.select(client_plugins(resolved), _user_texts(history + new_messages)))
    caller_names = {_tool_name(t) for t in turn.caller_tools}
    offered = [(m, t) for m, t in offered if _tool_name(t) not in caller_names]  # the caller's name wins
    selected = list({m["metadata"]["name"]: m for m, _ in offered}.values())  # a plugin once, however many tools
    tools = [tool for _, tool in offered] + list(turn.caller_tools)
    by_name = {_tool_name(t): m for m, t in offered}
    overrides = [(m.get("spec") or {}).get("prompt") or {} for m in selected]

    requested = turn.model if turn.model and client.get("allow_model_override") else None
    # The client's targets (spec.routing, or its one provider and model): llm/routing.py.
    route = routing.route_for(client, resolved.account, requested or next((o["model"] for o in overrides if o.get("model")), None))
    provider, model = route.targets[0].provider, route.targets[0].model
    record.provider = provider.name
    temperature = turn.params.get("temperature")
    if temperature is None:
        temperature = next((o["temperature"] for o in overrides if o.get("temperature") is not None), client.get("temperature", 0.5))
    ceiling = next((o["maxTokens"] for o in overrides if o.get("maxTokens")), client.get("max_tokens", 2048))
    cap = output_cap(provider, turn.params, ceiling)
    system_role = "\n\n".join(
        [client.get("system_role") or "You are a helpful assistant.", *[o["systemRole"] for o in overrides if o.get("systemRole")]]
    )
    extra = provider_params.forwarded(provider.name, turn.params)

    conversation = [{"role": "system", "content": system_role}, *history, *new_messages]
    transcript: list[dict[str, Any]] = []
    context = plugin_context(resolved.account)
    caller_calls: list[dict[str, Any]] = []

    # The buffered answer's one deadline (API Gateway's 29 s); a stream is not
    # held to it (REST streaming runs up to 15 minutes) and keeps its own timeouts.
    deadline = None if stream else record.deadline
    for round_no in range(1, settings().max_tool_rounds + 1):
        if deadline is not None and deadline.expired():
            raise ProviderTimeout(f"the request's deadline ({deadline.budget:.1f} s) passed after {round_no - 1} rounds")
        body: dict[str, Any] = {"model": model, "messages": conversation + transcript, "temperature": temperature, **cap, **extra}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = turn.tool_choice if turn.tool_choice is not None else "auto"
        # Reserve this call's worst case against the key's, client's and account's
        # limits (one transaction; none when nothing is limited). A refusal in a
        # later round ends the tool loop with 429/402, earlier rounds counted.
        # Each target tried reserves for itself (its price); a failed attempt settles what it spent, nothing.
        def reserve(target: routing.Target, first_target: bool, body: dict[str, Any] = body, round_no: int = round_no) -> None:
            limits.reserve(record.plan, record, provider=target.provider.name, model=target.model, body={**body, "model": target.model},
                           first=round_no == 1 and first_target, prices=target.provider.price_overrides())

        if stream:
            completion, target = yield from routing.stream(route, body, record, round_no=round_no, reserve=reserve)
        else:
            completion, target = routing.complete(route, body, deadline or record.deadline, record, round_no=round_no, reserve=reserve)
        # Whoever served this round answers for the turn, and the next round starts with it.
        route = routing.stick(route, target)
        provider, model = target.provider, target.model
        record.provider = provider.name
        record.provider_ms += completion.provider_ms
        message = completion.body["choices"][0].get("message") or {}
        # An answer without usage (a stream without its usage chunk) counts an upper estimate, never zero.
        output = str(message.get("content") or "") + json.dumps(message.get("tool_calls") or "", default=str)
        record.add_usage(completion.body.get("usage"), estimate=limits.estimated_usage(body, output))
        calls = message.get("tool_calls") or []
        if not calls:
            transcript.append({"role": "assistant", "content": message.get("content") or ""})
            break
        transcript.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
        caller_calls = [call for call in calls if _call_name(call) in caller_names]
        ours = [call for call in calls if _call_name(call) not in caller_names]
        if ours:
            # A plugin call gets its own timeout or what is left of the deadline, whichever
            # is shorter (never 0, which some clients read as "no timeout").
            round_context = context if deadline is None else dataclasses.replace(context, timeout_seconds=max(deadline.cap(context.timeout_seconds), 0.1))
            for tool_message, entry in _run_tools(ours, by_name, round_context, round_no, deadline):
                transcript.append(tool_message)
                record.tool_calls.append(entry)
        if caller_calls:
            break  # mixed round: our plugins ran, the caller's tools go back to it
    else:
        raise ToolLoopLimit(
            f"the model was still calling tools after {settings().max_tool_rounds} rounds (SMARTER_MAX_TOOL_ROUNDS)"
        )

    record.pending.extend(sessions.items(resolved.account, resolved.name, session_key, new_messages + transcript, record.api_key_id))
    return ChatResult(
        completion=completion.body,
        message=message,
        caller_calls=caller_calls,
        selected_plugins=[m["metadata"]["name"] for m in selected],
        provider=provider.name,
        model=model,
        rounds=round_no,
        session_key=session_key,
        transcript=transcript,
    )


def start_stream(resolved: ResolvedClient, turn: ChatTurn, record: RequestRecord) -> tuple[Conversation, str]:
    """A streamed conversation run up to its first content (plugin rounds
    included), before a surface sends its status: an error until then is an
    ordinary error answer with its own status code. (conversation, first piece)."""
    conversation = converse(resolved, turn, record, stream=True)
    try:
        return conversation, next(conversation, "")
    except BaseException:
        conversation.close()
        raise


def run(resolved: ResolvedClient, turn: ChatTurn, record: RequestRecord) -> ChatResult:
    """`converse` without streaming: the whole answer at once."""
    return converse(resolved, turn, record).finish()


def run_prompt(resolved: ResolvedClient, request: PromptRequest, record: RequestRecord) -> dict[str, Any]:
    """The Smarter prompt API's answer (the envelope's data)."""
    result = run(resolved, ChatTurn(messages=[m.to_openai() for m in request.messages], session_key=request.session_key), record)
    return {
        "chat_completion": result.completion,
        "tool_calls": record.tool_calls,
        "selected_plugins": result.selected_plugins,
        "usage": record.usage,
        "provider": result.provider,
        "model": result.model,
        "rounds": result.rounds,
    }


# --- one tool call, outside a conversation (the MCP endpoint, edge/mcp.py) -------------


def offered_tools(resolved: ResolvedClient) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every tool of the client's plugins, as the tool loop offers them to the model.
    No selection: search terms match a prompt, and an MCP client sends none."""
    return _offered(client_plugins(resolved))


def call_tool(resolved: ResolvedClient, name: str, arguments: dict[str, Any], record: RequestRecord) -> tuple[str, dict[str, Any]]:
    """Run one of the client's tools exactly as the tool loop would (argument checks,
    the plugin timeout capped by the request's deadline, the result cap, errors as
    results) and journal the call; (the result the model would read, the journal entry)."""
    by_name = {_tool_name(t): m for m, t in offered_tools(resolved)}
    call = {"id": f"mcp-{record.key}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    context = plugin_context(resolved.account)
    deadline = record.deadline
    context = dataclasses.replace(context, timeout_seconds=max(deadline.cap(context.timeout_seconds), 0.1))
    ((message, entry),) = _run_tools([call], by_name, context, 1, deadline)
    record.tool_calls.append(entry)
    return str(message["content"]), entry
