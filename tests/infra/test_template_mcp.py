"""The McpFunction in template.yaml: /mcp on client hosts reaches it, and its
role grants what a tool call needs (keys, journal, limits, the tenant role)
and no provider key, no session table, no config write."""

from __future__ import annotations

from test_template import STREAM_WRAPPER, TENANT_ROLES_ARN, SMARTER_ENV, api_gateway_target, function_properties
from test_template import resources, template  # noqa: F401  (the template's fixtures)
from test_template_console import _actions


def _statements(resources) -> dict[str, dict]:
    (policy,) = resources["McpFunction"]["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["Statement"]}


def test_mcp_on_client_hosts_reaches_the_mcp_function_and_nothing_else_does(resources):
    assert api_gateway_target(resources, "/mcp") == "McpFunction"
    assert api_gateway_target(resources, "/mcp/other") == "PromptFunction"
    assert api_gateway_target(resources, "/v1/chat/completions") == "OpenAIFunction"


def test_mcp_runs_buffered_within_api_gateways_29_seconds_with_the_plugins_layer(template, resources):
    props = function_properties(template, "McpFunction")
    assert props["Layers"] == [{"Ref": "DepsLayer"}, {"Ref": "CoreLayer"}, {"Ref": "PluginsLayer"}]
    assert props["Timeout"] == 29
    variables = props["Environment"]["Variables"]
    assert (variables["AWS_LAMBDA_EXEC_WRAPPER"], variables["SMARTER_RESPONSE_MODE"]) == (STREAM_WRAPPER, "buffered")
    assert variables["SMARTER_EGRESS_ALLOW"] == {"Ref": "PluginEgressAllow"}
    for name, value in SMARTER_ENV.items():
        assert variables[name] == value
    assert resources[props["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]["RetentionInDays"] == 30


def test_mcp_role_reads_no_provider_key_and_writes_no_session_or_config(resources):
    statements = _statements(resources)
    assert set(statements) == {"FindTheCallersAccount", "RouteVerifiedCustomDomains", "WriteJournal", "WriteLargeJournalPayloads",
                               "ReserveAgainstLimits", "AssumeTenantRolePerAccount"}
    every = set().union(*(_actions(s) for s in statements.values()))
    assert not {a for a in every if a.startswith("secretsmanager:")}
    assert "SessionsTable" not in str(statements)
    assert statements["AssumeTenantRolePerAccount"]["Resource"] == {"Fn::Sub": TENANT_ROLES_ARN}


def test_the_tenant_role_trusts_the_mcp_function(resources):
    (statement,) = resources["PluginRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert {"Fn::GetAtt": ["McpFunctionRole", "Arn"]} in statement["Principal"]["AWS"]
