"""The plugin-kind interface: discovery from entry points, manifests mapped
to kinds, parameters and argument checks, and each kind's manifest checks."""

from __future__ import annotations

import sys
import textwrap

import pytest

from smarter.errors import ManifestError
from smarter.llm import plugins
from smarter.llm.plugins import PluginCallError, coerce_arguments, parameters_schema


@pytest.fixture
def fresh_kinds():
    plugins.kinds.cache_clear()
    yield
    plugins.kinds.cache_clear()


def test_installed_kinds_are_found_by_entry_point(fresh_kinds):
    found = plugins.kinds()
    assert {"static", "api", "sql"} <= set(found)
    assert plugins.connection_manifest_kinds() >= {"ApiConnection", "SqlConnection"}
    assert plugins.plugin_manifest_kinds() >= {"Plugin", "ApiPlugin", "SqlPlugin"}


def test_a_package_dropped_into_the_layer_adds_a_kind(fresh_kinds, tmp_path, monkeypatch):
    # What `pip install -t python/` leaves in a layer: the module and its dist-info with entry points.
    (tmp_path / "echo_kind.py").write_text(
        textwrap.dedent(
            """
            class EchoPlugin:
                plugin_class = "echo"
                manifest_kinds = ("EchoPlugin",)
                connection_kind = None

                def validate(self, manifest):
                    return manifest.get("spec") or {}

                def validate_connection(self, manifest):
                    raise ValueError("no connection")

                def tool(self, manifest):
                    return {"type": "function", "function": {"name": manifest["metadata"]["name"], "description": "echo", "parameters": {"type": "object", "properties": {}}}}

                def test_arguments(self, manifest):
                    return {}

                def call(self, manifest, arguments, context):
                    return arguments
            """
        )
    )
    dist = tmp_path / "echo_kind-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-kind\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[smarter.plugin_kinds]\necho = echo_kind:EchoPlugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "echo" in plugins.kinds()
    kind = plugins.kind_for({"kind": "EchoPlugin", "metadata": {"name": "e"}})
    assert kind.call({}, {"x": 1}, None) == {"x": 1}
    assert plugins.kind_for({"kind": "Plugin", "metadata": {"name": "e", "pluginClass": "echo"}}) is kind
    sys.modules.pop("echo_kind", None)


def test_a_kind_that_fails_to_load_is_left_out(fresh_kinds, tmp_path, monkeypatch):
    (tmp_path / "broken_kind.py").write_text("raise ImportError('missing dependency')\n")
    dist = tmp_path / "broken_kind-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-kind\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[smarter.plugin_kinds]\nbroken = broken_kind:Broken\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"static", "api", "sql"} <= set(plugins.kinds())


@pytest.mark.parametrize(
    ("manifest", "plugin_class"),
    [
        ({"kind": "Plugin", "metadata": {"name": "p"}}, "static"),
        ({"kind": "Plugin", "metadata": {"name": "p", "pluginClass": "static"}}, "static"),
        ({"kind": "Plugin", "metadata": {"name": "p", "pluginClass": "api"}}, "api"),
        ({"kind": "ApiPlugin", "metadata": {"name": "p"}}, "api"),
        ({"kind": "SqlPlugin", "metadata": {"name": "p"}}, "sql"),
    ],
)
def test_manifests_map_to_their_kind(manifest, plugin_class):
    assert plugins.kind_for(manifest).plugin_class == plugin_class


def test_an_unknown_plugin_class_names_the_installed_ones():
    with pytest.raises(ManifestError) as caught:
        plugins.kind_for({"kind": "Plugin", "metadata": {"name": "p", "pluginClass": "graphql"}})
    assert caught.value.path == "metadata.pluginClass"
    assert "'api'" in caught.value.reason


# --- parameters and arguments -------------------------------------------------------


def test_smarter_list_form_becomes_json_schema():
    schema = parameters_schema(
        [{"name": "city", "type": "string", "description": "a city", "required": True}, {"name": "days", "type": "integer", "default": 3, "enum": None}],
        "p",
    )
    assert schema == {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "a city"}, "days": {"type": "integer", "default": 3}},
        "required": ["city"],
    }


@pytest.mark.parametrize(
    ("parameters", "path"),
    [
        ([{"name": "a b"}], "p.0.name"),
        ([{"name": "a"}, {"name": "a"}], "p.1.name"),
        ([{"name": "a", "type": "text"}], "p.0.type"),
        ([{"name": "a", "colour": "red"}], "p.0.colour"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}, "p.required.0"),
        ({"type": "array"}, "p"),
        ("city", "p"),
    ],
)
def test_bad_parameters_name_the_field(parameters, path):
    with pytest.raises(ManifestError) as caught:
        parameters_schema(parameters, "p")
    assert caught.value.path == path


SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "enum": ["Paris", "Oslo"]},
        "days": {"type": "integer", "default": 3},
        "price": {"type": "number"},
        "open": {"type": "boolean"},
        "tags": {"type": "array"},
    },
    "required": ["city"],
}


def test_arguments_get_defaults_and_nulls_and_lose_undeclared_names():
    assert coerce_arguments(SCHEMA, {"city": "Oslo", "extra": "x'; DROP"}) == {"city": "Oslo", "days": 3, "price": None, "open": None, "tags": None}


def test_numbers_and_booleans_sent_as_strings_are_accepted():
    out = coerce_arguments(SCHEMA, {"city": "Paris", "days": "5", "price": "9.5", "open": "true"})
    assert (out["days"], out["price"], out["open"]) == (5, 9.5, True)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "missing required argument(s): city"),
        ({"city": "Rome"}, "city must be one of"),
        ({"city": "Oslo", "days": "many"}, "days must be of type integer"),
        ({"city": "Oslo", "days": 2.5}, "days must be of type integer"),
        ({"city": "Oslo", "open": 1}, "open must be of type boolean"),
        ({"city": "Oslo", "days": True}, "days must be of type integer"),
        ({"city": "Oslo", "tags": "a,b"}, "tags must be of type array"),
    ],
)
def test_bad_arguments_are_an_error_the_model_can_read(arguments, message):
    with pytest.raises(PluginCallError) as caught:
        coerce_arguments(SCHEMA, arguments)
    assert message in str(caught.value)


# --- static ---------------------------------------------------------------------------


def _static(**spec):
    return {"apiVersion": "smarter.sh/v1", "kind": "Plugin", "metadata": {"name": "facts", "pluginClass": "static"}, "spec": spec}


def test_static_tool_offers_one_enum_parameter_and_answers_by_key():
    kind = plugins.kind_for(_static())
    manifest = _static(data={"description": "Facts.", "staticData": {"hours": "9-5", "phone": "555"}})
    manifest["spec"] = kind.validate(manifest)
    tool = kind.tool(manifest)
    assert tool["function"]["parameters"]["properties"]["inquiry_type"]["enum"] == ["hours", "phone"]
    assert kind.call(manifest, {"inquiry_type": "phone"}, None) == "555"
    assert kind.test_arguments(manifest) == {"inquiry_type": "hours"}
    with pytest.raises(PluginCallError, match="must be one of"):
        kind.call(manifest, {"inquiry_type": "secret"}, None)


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({}, "spec.data"),
        ({"data": {"description": "x", "staticData": {}}}, "spec.data.staticData"),
        ({"data": {"description": "x", "staticData": {"a": 1}}, "selector": {"directive": "search_terms"}}, "spec.selector"),
        ({"data": {"description": "x", "staticData": {"a": 1}}, "selector": {"directive": "sometimes"}}, "spec.selector.directive"),
        ({"data": {"description": "x", "staticData": {"a": 1}}, "prompt": {"temperature": 5}}, "spec.prompt.temperature"),
    ],
)
def test_invalid_static_plugins_name_the_field(spec, path):
    manifest = _static(**spec)
    with pytest.raises(ManifestError) as caught:
        plugins.kind_for(manifest).validate(manifest)
    assert caught.value.path == path


def test_plugin_names_must_be_tool_names():
    manifest = _static(data={"description": "x", "staticData": {"a": 1}})
    manifest["metadata"]["name"] = "has spaces"
    with pytest.raises(ManifestError) as caught:
        plugins.kind_for(manifest).validate(manifest)
    assert caught.value.path == "metadata.name"


# --- api manifests ----------------------------------------------------------------------


def _api(**api_data):
    data = {"description": "d", "endpoint": "/x", **api_data}
    return {"apiVersion": "smarter.sh/v1", "kind": "ApiPlugin", "metadata": {"name": "a"}, "spec": {"connection": "c", "apiData": data}}


@pytest.mark.parametrize(
    ("api_data", "path", "reason"),
    [
        ({"endpoint": "https://evil.example.com/x"}, "spec.apiData.endpoint", "host comes from the connection"),
        ({"endpoint": "/items/{id}"}, "spec.apiData.endpoint", "{id} is not a declared parameter"),
        ({"method": "TRACE"}, "spec.apiData.method", ""),
        ({"headers": {"Authorization": "Bearer x"}}, "spec.apiData.headers.Authorization", "secret"),
        ({"headers": [{"name": "X-A", "value": "a\r\nX-Injected: 1"}]}, "spec.apiData.headers.X-A", "line breaks"),
        ({"headers": {"X-Id": "{id}"}, "parameters": [{"name": "id"}]}, "spec.apiData.headers", "headers are fixed"),
        ({"description": None}, "spec.apiData.description", "describe what the tool does"),
        ({"limit": 0}, "spec.apiData.limit", ""),
    ],
)
def test_invalid_api_plugins_name_the_field(api_data, path, reason):
    from smarter_plugins.api import ApiPlugin

    manifest = _api(**api_data)
    with pytest.raises(ManifestError) as caught:
        ApiPlugin().validate(manifest)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_unusable_test_values_are_a_warning_not_a_refusal():
    """Smarter does not check testValues against the parameters: we keep the
    usable ones and say which were dropped."""
    from smarter.schema import collecting_warnings
    from smarter_plugins.api import ApiPlugin

    manifest = _api(parameters=[{"name": "max_cost", "type": "integer"}], testValues={"nope": 1, "max_cost": "cheap"})
    with collecting_warnings() as warnings:
        spec = ApiPlugin().validate(manifest)
    assert spec["apiData"]["testValues"] == {}
    assert warnings[0] == "spec.apiData.testValues.nope: 'nope' is not a declared parameter; this test value is ignored"
    assert warnings[1].startswith("spec.apiData.testValues.max_cost: max_cost must be of type integer")


def test_a_plugin_kind_and_plugin_class_must_agree():
    from smarter_plugins.api import ApiPlugin

    manifest = _api()
    manifest["metadata"]["pluginClass"] = "sql"
    with pytest.raises(ManifestError) as caught:
        ApiPlugin().validate(manifest)
    assert caught.value.path == "metadata.pluginClass"


@pytest.mark.parametrize(
    ("connection", "path", "reason"),
    [
        ({"baseUrl": "ftp://x.example.com"}, "spec.connection.baseUrl", "http or https"),
        ({"baseUrl": "https://user:pw@x.example.com"}, "spec.connection.baseUrl", "credentials"),
        ({"baseUrl": "https://x.example.com", "authMethod": "bearer"}, "spec.connection.secret", "needs the name"),
        # Smarter's apiKey names a Secret; a key itself is refused, never stored.
        ({"baseUrl": "https://x.example.com", "apiKey": "sk-live-1234567890abcdefgh"}, "spec.connection.apiKey", "never the credential itself"),
        ({"baseUrl": "https://x.example.com", "apiKey": "k", "secret": "other"}, "spec.connection.apiKey", "keep one"),
        ({"baseUrl": "https://x.example.com", "proxyHost": "proxy.example.com"}, "spec.connection.proxyHost", "proxies are not supported"),
        ({"baseUrl": "https://x.example.com", "secret": "sk live/123"}, "spec.connection.secret", "one path segment"),
        ({"baseUrl": "https://x.example.com", "timeout": 0}, "spec.connection.timeout", ""),
        ({"baseUrl": "https://x.example.com", "maxResponseBytes": 10**9}, "spec.connection.maxResponseBytes", ""),
        ({"baseUrl": "http://10.1.2.3"}, "spec.connection.baseUrl", "only the platform operator can allow it"),
    ],
)
def test_invalid_api_connections_name_the_field(connection, path, reason):
    from smarter_plugins.api import ApiPlugin

    manifest = {"apiVersion": "smarter.sh/v1", "kind": "ApiConnection", "metadata": {"name": "c"}, "spec": {"connection": connection}}
    with pytest.raises(ManifestError) as caught:
        ApiPlugin().validate_connection(manifest)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_an_allow_listed_private_base_url_is_accepted_for_local_development():
    from smarter_plugins.api import ApiPlugin

    manifest = {"apiVersion": "smarter.sh/v1", "kind": "ApiConnection", "metadata": {"name": "c"}, "spec": {"connection": {"baseUrl": "http://127.0.0.1:8000", "allowHosts": ["127.0.0.1"]}}}
    assert ApiPlugin().validate_connection(manifest)["connection"]["allowHosts"] == ["127.0.0.1"]


# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::a00:1", False),
        ("2002:a00:1::", False),
    ],
)
def test_only_global_unicast_addresses_are_public(address, public):
    from smarter.tenancy.egress import is_public

    assert is_public(address) is public
