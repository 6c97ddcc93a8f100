"""Plugins: the small interface every kind implements, discovery, and selection.

A plugin kind is a class in the plugins layer registered under the entry
point group `smarter.plugin_kinds`. Core never imports a kind by name, so a
new kind is a package added to the layer (docs/plugins.md).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, ClassVar, Literal, Protocol, Sequence

from aws_lambda_powertools import Logger
from pydantic import Field, field_validator, model_validator

from smarter.errors import ManifestError, PluginCallError  # noqa: F401  (re-exported for plugin kinds)
from smarter.schema import PLUGIN_NAME, Strict, validate_model, warn

ENTRY_POINT_GROUP = "smarter.plugin_kinds"
logger = Logger(child=True)


@dataclass
class PluginContext:
    """What a running plugin may use: its account's connections and secrets."""

    account: str
    connection: Callable[[str], dict[str, Any]]
    secret: Callable[[str], str]
    timeout_seconds: float
    # Unused: egress is the operator's policy (smarter.tenancy.egress), not the caller's.
    allowed_hosts: tuple[str, ...] = field(default=())


class PluginKind(Protocol):
    """What every plugin kind implements. Core calls nothing else.

    `plugin_class` is Smarter's metadata.pluginClass (static, api, sql),
    `manifest_kinds` the manifest kinds it owns (ApiPlugin), and
    `connection_kind` the connection manifest kind it reads (ApiConnection).
    """

    plugin_class: ClassVar[str]
    manifest_kinds: ClassVar[tuple[str, ...]]
    connection_kind: ClassVar[str | None]

    def validate(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Return the manifest's normalized spec or raise ManifestError(path, reason)."""

    def validate_connection(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Same, for this kind's connection manifest (when it has one)."""

    def tool(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """The OpenAI tool definition the model sees."""

    def call(self, manifest: dict[str, Any], arguments: dict[str, Any], context: PluginContext) -> Any:
        """Run one tool call; JSON-serializable result. Raise PluginCallError for a clean failure."""

    def test_arguments(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Arguments for `smarter plugin test` (the manifest's testValues)."""


@functools.cache
def kinds() -> dict[str, PluginKind]:
    """Plugin kinds by pluginClass, discovered from installed entry points.

    A kind that fails to load is logged and left out, so one broken package
    in the layer does not take the others down with it.
    """
    found: dict[str, PluginKind] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            kind = ep.load()()
        except Exception:
            logger.exception("plugin kind failed to load", extra={"entry_point": ep.name, "value": ep.value})
            continue
        if kind.plugin_class in found:
            logger.warning("two plugin kinds claim one pluginClass; the first wins", extra={"plugin_class": kind.plugin_class, "entry_point": ep.name})
            continue
        found[kind.plugin_class] = kind
    return found


def kind_for(manifest: dict[str, Any]) -> PluginKind:
    """The kind that owns a Plugin/ApiPlugin/SqlPlugin manifest."""
    manifest_kind = manifest.get("kind")
    plugin_class = (manifest.get("metadata") or {}).get("pluginClass")
    for kind in kinds().values():
        # `kind: Plugin` names its class in metadata (Smarter's form); ApiPlugin/SqlPlugin name it in the kind.
        if manifest_kind == "Plugin" and kind.plugin_class == (plugin_class or "static"):
            return kind
        if manifest_kind != "Plugin" and manifest_kind in kind.manifest_kinds:
            return kind
    known = sorted(kinds())
    raise ManifestError("metadata.pluginClass", f"no installed plugin kind handles {manifest_kind}/{plugin_class}; installed: {known}")


def tools_of(manifest: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(manifest to call, tool) for each tool a plugin offers. Most kinds offer one
    tool named after the plugin; a kind with a `tools` method (a remote MCP
    server's) offers several, each with the manifest its `call` gets for that tool."""
    kind = kind_for(manifest)
    many = getattr(kind, "tools", None)
    if callable(many):
        return list(many(manifest))
    return [(manifest, kind.tool(manifest))]


def connection_kind_for(manifest_kind: str) -> PluginKind:
    for kind in kinds().values():
        if kind.connection_kind == manifest_kind:
            return kind
    raise ManifestError("kind", f"no installed plugin kind handles {manifest_kind}")


def plugin_manifest_kinds() -> set[str]:
    return {k for kind in kinds().values() for k in kind.manifest_kinds}


def connection_manifest_kinds() -> set[str]:
    return {kind.connection_kind for kind in kinds().values() if kind.connection_kind}


# Connections that an apply validates before it stores anything (a file that
# defines a connection and its plugin): plugin validation sees them as stored.
_planned_connections: ContextVar[dict[tuple[str, str], dict[str, Any]] | None] = ContextVar("planned_connections", default=None)


@contextlib.contextmanager
def planned_connections(planned: dict[tuple[str, str], dict[str, Any]]):
    """While planning a multi-document apply: {(account, name): connection manifest}."""
    token = _planned_connections.set(planned)
    try:
        yield planned
    finally:
        _planned_connections.reset(token)


def find_connection(account: str, name: str) -> dict[str, Any] | None:
    """A connection as a plugin's validation should see it: planned in this apply, or stored."""
    planned = (_planned_connections.get() or {}).get((account, name))
    if planned is not None:
        return planned
    from smarter.store import storage

    return storage.get_scoped("CONNECTION", account, name)


# --- shared spec pieces -------------------------------------------------------------


class Selector(Strict):
    directive: Literal["always", "search_terms"] = "always"
    searchTerms: list[str] = Field(default_factory=list)

    @field_validator("searchTerms", mode="before")
    @classmethod
    def _null_is_none(cls, value: Any) -> Any:
        return [] if value is None else value  # Smarter writes `searchTerms: null` for "no terms"

    @model_validator(mode="after")
    def _terms_for_search(self) -> "Selector":
        if self.directive == "search_terms" and not [t for t in self.searchTerms if t.strip()]:
            raise ValueError("directive search_terms needs at least one entry in searchTerms")
        return self


class PromptOverride(Strict):
    provider: str | None = None
    systemRole: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    maxTokens: int | None = Field(default=None, ge=1)


class Parameter(Strict):
    name: str
    type: Literal["string", "integer", "number", "boolean", "array", "object"] = "string"
    description: str | None = None
    enum: list[Any] | None = None
    required: bool = False
    default: Any = None


def validate_plugin_name(manifest: dict[str, Any]) -> str:
    name = (manifest.get("metadata") or {}).get("name", "")
    if not PLUGIN_NAME.match(name or ""):
        raise ManifestError("metadata.name", "must be 1-64 letters, digits, '_' or '-' (it is the tool name)")
    return name


PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def parameters_schema(parameters: Any, path: str) -> dict[str, Any]:
    """Plugin parameters as JSON Schema, from either Smarter's list form
    (`[{name, type, description, enum, required, default}]`) or a JSON Schema object.

    Names double as SQL placeholders and URL template names, so they are
    identifiers; a `required` name must be a declared property."""
    if parameters is None:
        return {"type": "object", "properties": {}, "required": []}
    if isinstance(parameters, dict):
        properties = parameters.get("properties", {})
        if parameters.get("type", "object") != "object" or not isinstance(properties, dict):
            raise ManifestError(path, "a JSON Schema with type 'object' and 'properties', or a list of parameters")
        for name, prop in properties.items():
            if not PARAMETER_NAME.match(str(name)):
                raise ManifestError(f"{path}.properties.{name}", "a parameter name is a letter or '_' then letters, digits or '_' (at most 64)")
            if not isinstance(prop, dict):
                raise ManifestError(f"{path}.properties.{name}", "must be a JSON Schema object such as {type: string}")
        required = parameters.get("required", [])
        if not isinstance(required, list):
            raise ManifestError(f"{path}.required", "must be a list of parameter names")
        for i, name in enumerate(required):
            if name not in properties:
                raise ManifestError(f"{path}.required.{i}", f"{name!r} is not one of the properties")
        return {"type": "object", "properties": properties, "required": list(required)}
    if not isinstance(parameters, list):
        raise ManifestError(path, "a list of parameters or a JSON Schema object")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for i, raw in enumerate(parameters):
        param = validate_model(Parameter, raw, f"{path}.{i}")
        if not PARAMETER_NAME.match(param.name):
            raise ManifestError(f"{path}.{i}.name", "a parameter name is a letter or '_' then letters, digits or '_' (at most 64)")
        if param.name in properties:
            raise ManifestError(f"{path}.{i}.name", f"{param.name!r} is declared twice")
        prop: dict[str, Any] = {"type": param.type}
        for key in ("description", "enum", "default"):
            if getattr(param, key) is not None:
                prop[key] = getattr(param, key)
        properties[param.name] = prop
        if param.required:
            required.append(param.name)
    return {"type": "object", "properties": properties, "required": required}


def _coerce(value: Any, prop: dict[str, Any], name: str) -> Any:
    """One argument checked against its schema; numbers and booleans sent as strings are accepted."""
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if value is None and (not types or "null" in types):
        return None
    for type_ in types:
        if type_ == "integer" and isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            value = int(value)
        elif type_ == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif type_ == "number" and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        elif type_ == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif type_ == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, _JSON_TYPES.get(type_, (object,))) and not (type_ in ("integer", "number") and isinstance(value, bool)):
            break
    else:
        if types:
            raise PluginCallError(f"{name} must be of type {' or '.join(types)}, got {json.dumps(value)[:100]}")
    if "enum" in prop and prop["enum"] is not None and value not in prop["enum"]:
        raise PluginCallError(f"{name} must be one of {prop['enum']}, got {json.dumps(value)[:100]}")
    return value


def coerce_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """The model's arguments checked against the tool's parameters: every
    declared parameter gets a value (the argument, its default, or None),
    required ones must be given, and undeclared ones are dropped, so only
    declared names ever reach a query or a URL."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    missing = [name for name in required if arguments.get(name) is None]
    if missing:
        raise PluginCallError(f"missing required argument(s): {', '.join(sorted(missing))}")
    return {
        name: _coerce(arguments[name], prop, name) if arguments.get(name) is not None else prop.get("default")
        for name, prop in properties.items()
    }


def test_values(raw: Any, schema: dict[str, Any], path: str) -> dict[str, Any]:
    """testValues as {name: value}, from Smarter's list form ([{name, value}]) or a mapping,
    checked against the parameters so that `smarter plugin test` cannot fail on the manifest itself."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        values: dict[str, Any] = {}
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or set(item) - {"name", "value"} or "name" not in item:
                raise ManifestError(f"{path}.{i}", "each test value is {name, value}")
            values[item["name"]] = item.get("value")
    elif isinstance(raw, dict):
        values = dict(raw)
    else:
        raise ManifestError(path, "a list of {name, value} or a mapping of name to value")
    # Smarter does not check testValues against the parameters; neither do we
    # refuse them: what `smarter plugin test` cannot use is dropped with a warning.
    properties = schema.get("properties") or {}
    for name in list(values):
        if name not in properties:
            warn(f"{path}.{name}", f"{name!r} is not a declared parameter; this test value is ignored")
            values.pop(name)
    for name in list(values):
        try:
            coerce_arguments({**schema, "required": []}, {name: values[name]})
        except PluginCallError as exc:
            warn(f"{path}.{name}", f"{exc}; this test value is ignored")
            values.pop(name)
    return values


# --- selection -----------------------------------------------------------------------
#
# A plugin with `directive: search_terms` is offered when one of its terms
# appears in what the user wrote in this session. Matching is on words, so
# "Hours" matches "hours?" and "customerSupport" matches "customer support";
# plurals match their singulars; longer words forgive one or two typos, but
# never a different first letter ("hours" does not match "yours") and never
# a different number ("2023" does not match "2024").

_TOKEN = re.compile(r"[^\W_]+")


def _split_camel(token: str) -> list[str]:
    """camelCase, PascalCase and ACRONYMWords into their parts (any script)."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(token)):
        prev, cur, nxt = token[i - 1], token[i], token[i + 1] if i + 1 < len(token) else ""
        if cur.isupper() and (prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower())):
            parts.append(token[start:i])
            start = i
    parts.append(token[start:])
    return parts


def words(text: str) -> list[str]:
    """Lower-case words, splitting camelCase, hyphens, underscores and punctuation."""
    return [part.casefold() for token in _TOKEN.findall(text) for part in _split_camel(token) if part]


@functools.lru_cache(maxsize=4096)
def _text_words(text: str) -> tuple[str, ...]:
    """words(), remembered: a session's earlier messages are matched again on every turn."""
    return tuple(words(text))


def _stem(word: str) -> str:
    """A light English plural stem: policies -> policy, boxes -> box, hours -> hour."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 4 and word.endswith(("ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _distance(a: str, b: str, budget: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts once), stopping past budget."""
    if abs(len(a) - len(b)) > budget:
        return budget + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > budget:
            return budget + 1
        before, previous = previous, current
    return previous[-1]


@functools.lru_cache(maxsize=65536)
def _close(a: str, b: str) -> bool:
    """Equal, the same plural stem, or a small typo (longer words tolerate more)."""
    if a == b or _stem(a) == _stem(b):
        return True
    shorter = min(len(a), len(b))
    budget = 0 if shorter < 5 else 1 if shorter < 9 else 2
    if budget == 0 or a[0] != b[0] or any(c.isdigit() for c in a + b):
        return False
    return _distance(a, b, budget) <= budget


def term_matches(term: str, text_words: Sequence[str]) -> bool:
    """A search term (a word or a phrase) matches when its words appear in a row,
    or when it and some run of the text's words are one word apart from spacing
    ("e-mail" and "email", "log in" and "login", "customerSupport" and "customersupport")."""
    term_words = _text_words(term)
    if not term_words:
        return False
    n = len(term_words)
    joined = "".join(term_words)
    for start in range(len(text_words)):
        if start + n <= len(text_words) and all(_close(term_words[k], text_words[start + k]) for k in range(n)):
            return True
        for size in range(1, n + 2):
            if start + size > len(text_words) or (size == n and n == 1):
                continue
            if _close(joined, "".join(text_words[start : start + size])):
                return True
    return False


def _by_first_letter(texts: list[Sequence[str]]) -> dict[str, set[str]]:
    """Every word of the texts, and every two neighbouring words joined, by first
    letter: what a one-word term can be close to (see term_matches)."""
    index: dict[str, set[str]] = {}
    for text_words in texts:
        for i, word in enumerate(text_words):
            index.setdefault(word[0], set()).add(word)
            if i + 1 < len(text_words):
                index[word[0]].add(word + text_words[i + 1])
    return index


def _word_term_matches(term: str, index: dict[str, set[str]]) -> bool:
    """term_matches for a one-word term, against the index instead of every position:
    a close word shares the first letter and differs in length by at most three."""
    return any(abs(len(candidate) - len(term)) <= 3 and _close(term, candidate) for candidate in index.get(term[0], ()))


def select(manifests: list[dict[str, Any]], texts: list[str]) -> list[dict[str, Any]]:
    """The plugins to offer for a prompt, given the new and earlier user messages.

    Each message is matched on its own, so a phrase never spans two messages.
    One-word terms (most of them) are looked up in an index of the session's
    words, so the cost follows its vocabulary, not its length."""
    per_text = [_text_words(text) for text in texts]
    index = _by_first_letter(per_text)

    def matches(term: str) -> bool:
        term_words = _text_words(term)
        if len(term_words) == 1:
            return _word_term_matches(term_words[0], index)
        return any(term_matches(term, text_words) for text_words in per_text)

    chosen = []
    for manifest in manifests:
        selector = (manifest.get("spec") or {}).get("selector") or {}
        if selector.get("directive", "always") == "always":
            chosen.append(manifest)
        elif any(matches(term) for term in selector.get("searchTerms") or []):
            chosen.append(manifest)
    return chosen
