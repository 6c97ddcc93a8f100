"""The static plugin: a fixed table of answers the model can look up by key."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from smarter.errors import ManifestError
from smarter.llm.plugins import PluginCallError, PluginContext, PromptOverride, Selector, validate_plugin_name
from smarter.schema import Strict, validate_model

PARAMETER = "inquiry_type"


class StaticData(Strict):
    description: str = Field(min_length=1)
    staticData: dict[str, Any] = Field(min_length=1)


class StaticSpec(Strict):
    selector: Selector = Field(default_factory=Selector)
    prompt: PromptOverride = Field(default_factory=PromptOverride)
    data: StaticData


class StaticPlugin:
    plugin_class: ClassVar[str] = "static"
    manifest_kinds: ClassVar[tuple[str, ...]] = ("Plugin",)
    connection_kind: ClassVar[str | None] = None

    def validate(self, manifest: dict[str, Any]) -> dict[str, Any]:
        validate_plugin_name(manifest)
        return validate_model(StaticSpec, manifest.get("spec"), "spec").model_dump(exclude_none=True)

    def validate_connection(self, manifest: dict[str, Any]) -> dict[str, Any]:
        raise ManifestError("kind", "static plugins have no connection")

    def tool(self, manifest: dict[str, Any]) -> dict[str, Any]:
        data = manifest["spec"]["data"]
        return {
            "type": "function",
            "function": {
                "name": manifest["metadata"]["name"],
                "description": data["description"],
                "parameters": {
                    "type": "object",
                    "properties": {
                        PARAMETER: {
                            "type": "string",
                            "enum": list(data["staticData"]),
                            "description": "Which entry to look up.",
                        }
                    },
                    "required": [PARAMETER],
                },
            },
        }

    def test_arguments(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return {PARAMETER: next(iter(manifest["spec"]["data"]["staticData"]))}

    def call(self, manifest: dict[str, Any], arguments: dict[str, Any], context: PluginContext) -> Any:
        table = manifest["spec"]["data"]["staticData"]
        key = arguments.get(PARAMETER)
        if key not in table:
            raise PluginCallError(f"{PARAMETER} must be one of {list(table)}, got {key!r}")
        return table[key]
