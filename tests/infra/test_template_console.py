"""The ConsoleFunction in template.yaml: its route, its layers, and a role that
grants what the console does and nothing more."""

from __future__ import annotations

import json

import pytest
from test_template import SMARTER_ENV, api_gateway_target, function_properties

from smarter_local.cfn import load_template
from test_template import TEMPLATE_PATH


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template):
    return template["Resources"]


def _statements(resources) -> dict[str, dict]:
    (policy,) = resources["ConsoleFunction"]["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["Statement"]}


def _actions(statement) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_console_paths_reach_the_console_function_and_the_rest_of_v1_the_passthrough(resources):
    for path in ("/v1/console/clients", "/v1/console/journal/20261122T013000123Z-0123456789abcdef", "/v1/console/keys/abc/revoke"):
        assert api_gateway_target(resources, path) == "ConsoleFunction"
    assert api_gateway_target(resources, "/v1/whoami") == "PassthroughFunction"


def test_console_runs_buffered_with_the_admin_layer_and_its_own_log_group(template, resources):
    props = function_properties(template, "ConsoleFunction")
    assert props["Layers"] == [{"Ref": "DepsLayer"}, {"Ref": "CoreLayer"}, {"Ref": "PluginsLayer"}, {"Ref": "AdminLayer"}]
    assert (props["Runtime"], props["Architectures"], props["Timeout"]) == ("python3.11", ["arm64"], 29)
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in props["Environment"]["Variables"]
    for name, value in SMARTER_ENV.items():
        assert props["Environment"]["Variables"][name] == value
    log_group = resources[props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_console_role_writes_config_by_put_only_and_reads_the_journal_and_usage(resources):
    statements = _statements(resources)
    assert _actions(statements["WriteConfig"]) == {"dynamodb:PutItem"}
    assert _actions(statements["ReadUsage"]) == {"dynamodb:Query"}
    assert _actions(statements["ReadJournal"]) == {"dynamodb:GetItem", "dynamodb:Query"}
    every = set().union(*(_actions(s) for s in statements.values()))
    assert not {a for a in every if a.endswith(("Delete", "DeleteItem", "*")) or a.startswith("iam:") or a == "secretsmanager:GetSecretValue"}
    assert all("*" != s["Resource"] for s in statements.values())


def test_console_never_reads_or_writes_a_secret_value(resources):
    secrets = [s for s in _statements(resources).values() if any(a.startswith("secretsmanager:") for a in _actions(s))]
    assert [(s["Sid"], _actions(s)) for s in secrets] == [("CheckConnectionSecretsExist", {"secretsmanager:DescribeSecret"})]
    assert "smarter/accounts/*" in json.dumps(secrets[0]["Resource"])
