"""Load CloudFormation/SAM YAML into plain Python data.

PyYAML's safe loader rejects CloudFormation's short-form tags (`!Ref`,
`!Sub`, `!GetAtt`, ...). This loader turns each one into the long form
CloudFormation itself uses (`{"Ref": ...}`, `{"Fn::Sub": ...}`), so a
template reads the same whichever form it was written in and tests can
compare against the JSON shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Short tag -> long-form key. `!Ref` and `!Condition` are not functions.
_FUNCTIONS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "And": "Fn::And",
    "Base64": "Fn::Base64",
    "Cidr": "Fn::Cidr",
    "Equals": "Fn::Equals",
    "FindInMap": "Fn::FindInMap",
    "ForEach": "Fn::ForEach",
    "GetAZs": "Fn::GetAZs",
    "GetAtt": "Fn::GetAtt",
    "If": "Fn::If",
    "ImportValue": "Fn::ImportValue",
    "Join": "Fn::Join",
    "Length": "Fn::Length",
    "Not": "Fn::Not",
    "Or": "Fn::Or",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Sub": "Fn::Sub",
    "ToJsonString": "Fn::ToJsonString",
    "Transform": "Fn::Transform",
}


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation short-form intrinsics."""


def _construct_intrinsic(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if tag_suffix not in _FUNCTIONS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{tag_suffix}", node.start_mark
        )
    key = _FUNCTIONS[tag_suffix]
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        # `!GetAtt Resource.Attribute` is the string form of [Resource, Attribute];
        # the attribute itself may contain dots (e.g. Endpoint.Address).
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def loads(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) into dicts and lists."""
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse the template file at `path`."""
    return loads(Path(path).read_text(encoding="utf-8"))
