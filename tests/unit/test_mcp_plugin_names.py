"""The mcp plugin kind's view of a server's tool list, which is hostile input:
names made safe and unique per plugin, schemas bounded, the allow-list applied,
and the manifest's URL checked before anything is listed."""

from __future__ import annotations

import pytest

from smarter.errors import ManifestError
from smarter_plugins.mcp import McpPlugin, _checked_tools, offered_name


def test_a_plain_tool_name_is_namespaced_by_the_plugin():
    assert offered_name("orders", "order_status") == "orders__order_status"


def test_a_name_with_other_characters_or_too_long_gets_a_safe_unique_form():
    dotted, slashed = offered_name("docs", "search.v2"), offered_name("docs", "search/v2")
    assert dotted != slashed
    for name in (dotted, slashed, offered_name("p" * 30, "t" * 100)):
        assert len(name) <= 64 and all(c.isalnum() or c in "_-" for c in name)


def test_the_list_keeps_allow_listed_tools_with_object_schemas_only():
    raw = [
        {"name": "ok", "description": "d" * 5000, "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}},
        {"name": "not_object", "inputSchema": {"type": "string"}},
        {"name": "huge", "inputSchema": {"type": "object", "properties": {f"p{i}": {"type": "string", "description": "x" * 100} for i in range(400)}}},
        {"name": 42},
        {"name": "other", "inputSchema": {"type": "object"}},
        "not a tool",
    ]
    kept = _checked_tools([t for t in raw if isinstance(t, dict)], None)
    assert [t["name"] for t in kept] == ["ok", "other"]
    assert len(kept[0]["description"]) == 1024
    assert [t["name"] for t in _checked_tools([t for t in raw if isinstance(t, dict)], ["other"])] == ["other"]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://mcp.example.com/mcp", "http or https URL"),
        ("https://user:pw@mcp.example.com/mcp", "credentials in the URL"),
        ("http://169.254.169.254/mcp", "169.254.169.254"),
    ],
)
def test_a_hostile_url_is_refused_at_apply(url, fragment):
    manifest = {"kind": "McpPlugin", "metadata": {"name": "docs", "pluginClass": "mcp"}, "spec": {"connection": {"url": url}}}
    with pytest.raises(ManifestError) as caught:
        McpPlugin().validate(manifest)
    assert fragment in str(caught.value)


def test_an_empty_allow_list_is_refused_rather_than_read_as_none():
    manifest = {"kind": "McpPlugin", "metadata": {"name": "docs", "pluginClass": "mcp"}, "spec": {"connection": {"url": "https://mcp.example.com/mcp"}, "tools": []}}
    with pytest.raises(ManifestError) as caught:
        McpPlugin().validate(manifest)
    assert "spec.tools" in str(caught.value.path)
