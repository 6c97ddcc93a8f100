"""Read template.yaml, CloudFormation short tags included, so the local stack
and the tests build their tables from the template itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


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


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)


def resources(template: dict[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template.get("Resources", {}).items() if res.get("Type") == type_name}


def local_name(logical_id: str) -> str:
    """ConfigTable -> smarter-config, JournalBucket -> smarter-journal."""
    stem = logical_id.removesuffix("Table").removesuffix("Bucket")
    return "smarter-" + "".join("-" + c.lower() if c.isupper() else c for c in stem).lstrip("-")


def env_name(logical_id: str) -> str:
    """ConfigTable -> SMARTER_CONFIG_TABLE, JournalBucket -> SMARTER_JOURNAL_BUCKET."""
    for suffix in ("Table", "Bucket"):
        if logical_id.endswith(suffix):
            return f"SMARTER_{logical_id.removesuffix(suffix).upper()}_{suffix.upper()}"
    raise ValueError(logical_id)


def create_tables(ddb, template: dict[str, Any] | None = None) -> dict[str, str]:
    """Create every DynamoDB table of the template; {env var: table name}."""
    template = template or load_template()
    made: dict[str, str] = {}
    for logical_id, res in resources(template, "AWS::DynamoDB::Table").items():
        props = res["Properties"]
        name = local_name(logical_id)
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = [
                {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                for g in props["GlobalSecondaryIndexes"]
            ]
        if props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        ddb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
        made[env_name(logical_id)] = name
    return made


def create_buckets(s3, template: dict[str, Any] | None = None) -> dict[str, str]:
    template = template or load_template()
    made = {}
    for logical_id in resources(template, "AWS::S3::Bucket"):
        if not logical_id.endswith("Bucket"):
            continue
        name = local_name(logical_id)
        s3.create_bucket(Bucket=name)
        made[env_name(logical_id)] = name
    return made
