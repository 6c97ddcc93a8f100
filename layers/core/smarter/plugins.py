"""Plugins: the small interface every kind implements, discovery, and selection.

A plugin kind is a class in the plugins layer registered under the entry
point group `smarter.plugin_kinds`. Core never imports a kind by name, so a
new kind is a package added to the layer (docs/plugins.md).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, ClassVar, Literal, Protocol

from pydantic import Field, model_validator

from .errors import ManifestError
from .models import PLUGIN_NAME, Strict, validate_model

ENTRY_POINT_GROUP = "smarter.plugin_kinds"


class PluginCallError(Exception):
    """A plugin failed in a way the model should hear about (fed back as the tool result)."""


@dataclass
class PluginContext:
    """What a running plugin may use: its account's connections and secrets."""

    account: str
    connection: Callable[[str], dict[str, Any]]
    secret: Callable[[str], str]
    timeout_seconds: float
    allowed_hosts: tuple[str, ...] = field(default=())


class PluginKind(Protocol):
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


@functools.cache
def kinds() -> dict[str, PluginKind]:
    """Plugin kinds by pluginClass, discovered from installed entry points."""
    found: dict[str, PluginKind] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        kind = ep.load()()
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


def connection_kind_for(manifest_kind: str) -> PluginKind:
    for kind in kinds().values():
        if kind.connection_kind == manifest_kind:
            return kind
    raise ManifestError("kind", f"no installed plugin kind handles {manifest_kind}")


def plugin_manifest_kinds() -> set[str]:
    return {k for kind in kinds().values() for k in kind.manifest_kinds}


def connection_manifest_kinds() -> set[str]:
    return {kind.connection_kind for kind in kinds().values() if kind.connection_kind}


# --- shared spec pieces -------------------------------------------------------------


class Selector(Strict):
    directive: Literal["always", "search_terms"] = "always"
    searchTerms: list[str] = Field(default_factory=list)

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


def parameters_schema(parameters: Any, path: str) -> dict[str, Any]:
    """Plugin parameters as JSON Schema, from either Smarter's list form
    (`[{name, type, description, enum, required, default}]`) or a JSON Schema object."""
    if parameters is None:
        return {"type": "object", "properties": {}, "required": []}
    if isinstance(parameters, dict):
        if parameters.get("type", "object") != "object" or not isinstance(parameters.get("properties", {}), dict):
            raise ManifestError(path, "a JSON Schema with type 'object' and 'properties', or a list of parameters")
        return {"type": "object", "properties": parameters.get("properties", {}), "required": list(parameters.get("required", []))}
    if not isinstance(parameters, list):
        raise ManifestError(path, "a list of parameters or a JSON Schema object")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for i, raw in enumerate(parameters):
        param = validate_model(Parameter, raw, f"{path}.{i}")
        prop: dict[str, Any] = {"type": param.type}
        for key in ("description", "enum", "default"):
            if getattr(param, key) is not None:
                prop[key] = getattr(param, key)
        properties[param.name] = prop
        if param.required:
            required.append(param.name)
    return {"type": "object", "properties": properties, "required": required}


# --- selection -----------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-case words, splitting camelCase, hyphens, underscores and punctuation."""
    return _WORD.findall(_CAMEL.sub(" ", text).lower())


def _close(a: str, b: str) -> bool:
    """Equal, a plural of, or within a small edit distance of (longer words tolerate more)."""
    if a == b or a.rstrip("s") == b.rstrip("s"):
        return True
    budget = 0 if min(len(a), len(b)) < 5 else 1 if min(len(a), len(b)) < 9 else 2
    if budget == 0 or abs(len(a) - len(b)) > budget:
        return False
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > budget:
            return False
        previous = current
    return previous[-1] <= budget


def term_matches(term: str, text_words: list[str]) -> bool:
    """A search term (a word or a phrase) matches when its words appear in a row."""
    term_words = words(term)
    if not term_words:
        return False
    n = len(term_words)
    for start in range(len(text_words) - n + 1):
        if all(_close(term_words[k], text_words[start + k]) for k in range(n)):
            return True
    return False


def select(manifests: list[dict[str, Any]], texts: list[str]) -> list[dict[str, Any]]:
    """The plugins to offer for a prompt, given the new and earlier user messages."""
    text_words = [w for text in texts for w in words(text)]
    chosen = []
    for manifest in manifests:
        selector = (manifest.get("spec") or {}).get("selector") or {}
        if selector.get("directive", "always") == "always":
            chosen.append(manifest)
        elif any(term_matches(term, text_words) for term in selector.get("searchTerms") or []):
            chosen.append(manifest)
    return chosen
