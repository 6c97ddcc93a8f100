"""The `smarter` admin CLI against moto's server: tables and every `-o`, the
exit code of each class of error (and no traceback), dry-run and diff, help,
version and completion.

`cli` calls the console script's function (`smarter_admin.cli:main`) in this
process; `proc` runs the installed `smarter` script in a child process, for
what only a real process shows (piped stdin, environment without credentials,
exit status, completion). Both see piped, non-terminal output.
"""

from __future__ import annotations

import io
import json
import re
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml
from support import CliResult, count_usage, smarter_cli

from smarter_admin.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ACCOUNT = "3141-5926-5359"
ANSI = re.compile(r"\x1b\[")


def _checked(result: CliResult) -> CliResult:
    assert "Traceback" not in result.err, result.err
    assert not ANSI.search(result.out + result.err), "piped output has no colour codes"
    return result


def cli(*args: str, input: str = "") -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    stdin, sys.stdin = sys.stdin, io.StringIO(input)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    finally:
        sys.stdin = stdin
    return _checked(CliResult(code, out.getvalue(), err.getvalue()))


def proc(*args: str, **kwargs) -> CliResult:
    return _checked(smarter_cli(*args, **kwargs))


@pytest.fixture
def demo(aws, monkeypatch):
    monkeypatch.setenv("SMARTER_ACCOUNT", ACCOUNT)
    for name in ("demo-account.yaml", "demo-plugin-support-info.yaml", "demo-client-customer-support.yaml"):
        result = cli("apply", "-f", str(EXAMPLES / name))
        assert result.code == 0, result.err


def client_doc(**config) -> dict:
    return {"apiVersion": "smarter.sh/v1", "kind": "LLMClient", "metadata": {"name": "bot", "account": ACCOUNT}, "spec": {"config": {"provider": "offline", **config}}}


def write(tmp_path, *docs, name="manifest.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(list(docs)))
    return str(path)


def stored_clients() -> list[str]:
    from smarter.store import storage

    return sorted(c["name"] for c in storage.list_scoped("CLIENT", ACCOUNT))


# --- get: tables and every -o ------------------------------------------------------------


def test_get_prints_a_table_with_a_header_and_columns_per_kind(demo):
    lines = proc("get", "clients").out.splitlines()
    assert lines[0].split() == ["NAME", "PROVIDER", "MODEL", "PLUGINS", "DEPLOYED", "AGE"]
    assert lines[1].split()[:5] == ["customer-support", "offline", "offline-echo", "support_info", "yes"]
    assert re.fullmatch(r"\d+[smhd]", lines[1].split()[5])

    lines = cli("get", "plugins").out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "CLASS", "VERSION", "DESCRIPTION"]
    assert lines[1].startswith("support_info") and "Answers questions about support hours" in lines[1]

    lines = cli("get", "accounts", "-o", "table").out.splitlines()
    assert lines[0].split() == ["NUMBER", "COMPANY", "EMAIL", "AGE"]
    assert lines[1].split()[0] == ACCOUNT


def test_table_columns_line_up_for_scripts(demo, tmp_path):
    cli("apply", "-f", write(tmp_path, client_doc(defaultModel="a-much-longer-model-name")))
    lines = cli("get", "clients").out.splitlines()
    header = lines[0]
    for column in ("PROVIDER", "MODEL", "PLUGINS", "DEPLOYED"):
        at = header.index(column)
        assert all(line[at - 1] == " " and line[at] != " " for line in lines[1:]), column
    assert [line.split()[2] for line in lines[1:]] == ["a-much-longer-model-name", "offline-echo"]


@pytest.mark.parametrize("fmt", ["json", "yaml", "name", "table"])
def test_every_output_format_of_get(demo, fmt):
    out = cli("get", "clients", "-o", fmt).out
    if fmt == "json":  # manifests, as `apply -f` takes them back
        assert [(c["kind"], c["metadata"]["name"]) for c in json.loads(out)] == [("LLMClient", "customer-support")]
    elif fmt == "yaml":
        assert [(c["kind"], c["metadata"]["name"]) for c in yaml.safe_load_all(out)] == [("LLMClient", "customer-support")]
    elif fmt == "name":
        assert out.splitlines() == ["client/customer-support"]
    else:
        assert out.splitlines()[0].startswith("NAME")


def test_get_one_by_name_in_json_is_the_object(demo):
    assert cli("get", "plugin", "support_info", "-o", "json").json()["metadata"]["name"] == "support_info"
    assert cli("get", "llmclients", "customer-support", "-o", "name").out.strip() == "client/customer-support"


def test_describe_plugin_shows_the_tool_the_model_sees(demo):
    described = cli("describe", "plugin", "support_info", "-o", "json").json()
    assert described["status"]["tool"]["function"]["name"] == "support_info"  # status: output only, apply ignores it
    assert described["status"]["tool"]["function"]["parameters"]["properties"]["inquiry_type"]["enum"] == ["hours", "contact", "refunds"]
    assert yaml.safe_load(cli("describe", "client", "customer-support", "-o", "yaml").out)["metadata"]["name"] == "customer-support"


# --- apply -----------------------------------------------------------------------------


def test_apply_accepts_json_from_stdin_and_the_chatbot_kind(demo):
    manifest = {"apiVersion": "smarter.sh/v1", "kind": "Chatbot", "metadata": {"name": "sales"}, "spec": {"config": {"provider": "offline"}}}
    result = proc("apply", "-f", "-", input=json.dumps(manifest))
    assert result.code == 0, result.err
    assert result.out.strip() == "LLMClient/sales applied (created)"


def test_a_multi_document_file_is_applied_in_dependency_order(aws, tmp_path):
    docs = [yaml.safe_load((EXAMPLES / n).read_text()) for n in ("demo-client-customer-support.yaml", "demo-plugin-support-info.yaml", "demo-account.yaml")]
    result = cli("apply", "-f", write(tmp_path, *docs))
    assert result.code == 0, result.err
    assert result.out.splitlines() == ["Account/3141-5926-5359 applied (created)", "Plugin/support_info applied (created)", "LLMClient/customer-support applied (created)"]


def test_apply_output_formats(demo, tmp_path):
    path = write(tmp_path, client_doc())
    assert cli("apply", "-f", path, "-o", "name").out.splitlines() == ["llmclient/bot"]
    results = cli("apply", "-f", path, "-o", "json").json()
    assert results == [{"kind": "LLMClient", "name": "bot", "account": ACCOUNT, "result": "applied", "change": "unchanged"}]
    lines = cli("apply", "-f", path, "-o", "table").out.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "ACCOUNT", "RESULT", "CHANGE"]
    assert lines[1].split() == ["LLMClient", "bot", ACCOUNT, "applied", "unchanged"]


def test_a_file_with_one_bad_document_stores_nothing(demo, tmp_path):
    bad = client_doc(defaultTemperature=7)
    bad["metadata"]["name"] = "broken"
    result = cli("apply", "-f", write(tmp_path, client_doc(), bad))
    assert result.code == 3
    assert "document 2 (LLMClient/broken): spec.config.defaultTemperature" in result.err
    assert stored_clients() == ["customer-support"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"config": {"defaultTemperature": 7}}}, "spec.config.defaultTemperature"),
        ({"spec": {"config": {"provider": "nosuch"}}}, "spec.config.provider: unknown provider"),
        ({"spec": {"plugins": ["missing_plugin"]}}, "spec.plugins.0: no plugin named 'missing_plugin'"),
        ({"metadata": {"name": "not a label"}}, "metadata.name"),
        ({"metadata": {"name": "_leading"}}, "metadata.name"),
        ({"metadata": {"name": "ok", "account": "9999-9999-9999"}}, "the account 9999-9999-9999 does not exist"),
        ({"kind": "LLMClinet"}, "unknown kind 'LLMClinet'; did you mean 'LLMClient'?"),
    ],
)
def test_refused_manifests_exit_3_naming_the_file_document_and_field(demo, tmp_path, patch, message):
    doc = client_doc()
    for section, values in patch.items():
        doc[section] = {**doc[section], **values} if isinstance(values, dict) else values
    path = write(tmp_path, doc, name="bad.yaml")
    result = cli("apply", "-f", path)
    assert result.code == 3
    assert result.err.startswith(f"error: invalid manifest: {path}, document 1")
    assert message in result.err
    assert len(result.err.splitlines()) <= 2


def test_yaml_syntax_errors_name_the_file_the_document_and_the_line(demo, tmp_path):
    path = tmp_path / "tenant.yaml"
    path.write_text(yaml.safe_dump(client_doc()) + "---\nkind: Plugin\nmetadata:\n  name: x\n   bad: indent\n")
    result = cli("apply", "-f", str(path))
    assert result.code == 3
    found = re.search(rf"{re.escape(str(path))}: document 2: not valid YAML: line (\d+), column \d+: mapping values are not allowed here", result.err)
    assert path.read_text().splitlines()[int(found.group(1)) - 1] == "   bad: indent"
    assert stored_clients() == ["customer-support"]


# --- dry run and diff ---------------------------------------------------------------------


def test_dry_run_shows_what_would_change_and_stores_nothing(demo, tmp_path):
    changed = yaml.safe_load((EXAMPLES / "demo-client-customer-support.yaml").read_text())
    changed["spec"]["config"]["defaultTemperature"] = 0.9
    path = write(tmp_path, yaml.safe_load((EXAMPLES / "demo-plugin-support-info.yaml").read_text()), changed, client_doc())
    result = cli("apply", "-f", path, "--dry-run")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "Plugin/support_info unchanged (dry run)",
        "LLMClient/customer-support configured (dry run)",
        "LLMClient/bot created (dry run)",
    ]
    assert stored_clients() == ["customer-support"]
    assert cli("apply", "-f", path, "--dry-run", "-o", "json").json()[2] == {"kind": "LLMClient", "name": "bot", "account": ACCOUNT, "result": "created (dry run)"}


def test_diff_shows_the_changed_fields_and_exits_1_then_0_once_applied(demo, tmp_path):
    changed = yaml.safe_load((EXAMPLES / "demo-client-customer-support.yaml").read_text())
    changed["spec"]["config"]["defaultTemperature"] = 0.9
    path = write(tmp_path, changed)
    result = cli("diff", "-f", path)
    assert result.code == 1
    assert "--- stored/LLMClient/customer-support" in result.out and "+++ manifest/LLMClient/customer-support" in result.out
    # In manifest form: the field as written, none of the record's internal fields.
    assert "-    defaultTemperature: 0.2" in result.out and "+    defaultTemperature: 0.9" in result.out
    assert not any(word in result.out for word in ("updated_at", "api_key", "smarter:", "temperature: 0.2\n-"))
    assert cli("apply", "-f", path).code == 0
    result = cli("diff", "-f", path)
    assert (result.code, result.out) == (0, "")
    assert "LLMClient/customer-support unchanged" in result.err


# --- the other verbs honour -o ------------------------------------------------------------


def test_apikey_create_shows_the_secret_once_and_stores_only_a_hash(demo):
    from smarter.store import aws
    from smarter.tenancy import auth

    result = cli("apikey", "create", "ci-key", "--client", "customer-support", "--expires-in-days", "7")
    assert result.code == 0
    secret = re.search(r"API key \(shown once, store it now\): (\S+)", result.out).group(1)
    items = aws.client("dynamodb").scan(TableName="smarter-config")["Items"]
    assert secret not in json.dumps(items)
    assert any(item["pk"]["S"] == f"APIKEY#{auth.hash_key(secret)}" for item in items)
    created = cli("apikey", "create", "script-key", "-o", "json").json()
    assert created["api_key"].startswith("sk-") or len(created["api_key"]) > 20
    listed = cli("get", "apikeys", "-o", "json").json()
    assert {k["metadata"]["name"] for k in listed} == {"ci-key", "script-key"}
    assert secret not in json.dumps(listed) and created["api_key"] not in json.dumps(listed)
    assert all("key_hash" not in json.dumps(k) for k in listed)
    lines = cli("get", "apikeys").out.splitlines()
    assert lines[0].split() == ["KEY_ID", "NAME", "CLIENTS", "STATUS", "EXPIRES", "AGE"]


def test_apikey_revoke(demo):
    cli("apikey", "create", "temp")
    result = cli("apikey", "revoke", "temp")
    assert result.code == 0 and "revoked at" in result.out
    assert cli("get", "apikeys", "-o", "json").json()[0]["status"]["revokedAt"]
    assert "revoked" in cli("get", "apikeys").out.splitlines()[1].split()
    assert cli("apikey", "revoke", "temp", "-o", "name").out.strip().startswith("apikey/")


def test_prompt_from_the_terminal_is_answered_and_journaled(demo):
    result = cli("prompt", "customer-support", "What are your support hours?")
    assert result.code == 0
    assert "Monday to Friday" in result.out
    assert "[tool support_info" in result.err
    key = re.search(r"journal key: (\S+)", result.err).group(1)
    assert cli("journal", "customer-support", key, "-o", "json").json()["status"] == 200
    lines = cli("journal", "customer-support").out.splitlines()
    assert lines[0].split() == ["KEY", "STATUS", "COMMAND", "TOTAL_MS", "AGE"]
    assert lines[1].split()[:2] == [key, "200"]


def test_prompt_in_json_carries_the_answer_session_and_journal_key(demo):
    data = cli("prompt", "customer-support", "What are your support hours?", "-o", "json").json()
    assert "Monday to Friday" in data["answer"]
    assert data["tool_calls"][0]["plugin"] == "support_info"
    session = cli("prompt", "customer-support", "And refunds?", "--session", data["session_key"], "-o", "name").out.strip()
    assert session == data["session_key"]


def test_usage_report_as_table_and_json(demo):
    cli("prompt", "customer-support", "hello")
    count_usage()
    rows = cli("usage", "-o", "json").json()
    assert rows[0]["client"] == "customer-support" and rows[0]["requests"] == 1
    assert rows[0]["key"] and rows[0]["day"] and "cost_usd" in rows[0]
    lines = cli("usage").out.splitlines()
    assert lines[0].split()[:4] == ["DAY", "CLIENT", "KEY", "REQUESTS"]
    assert lines[1].split()[1] == "customer-support" and lines[1].split()[3] == "1"
    assert yaml.safe_load(cli("usage", "-o", "yaml").out)[0]["requests"] == 1


def test_usage_in_dollars_per_key_client_day_and_account(demo):
    from decimal import Decimal

    cli("prompt", "customer-support", "hello")
    cli("prompt", "customer-support", "again")
    count_usage()
    for by, field in (("key", "key"), ("client", "client"), ("day", "day"), ("account", "account")):
        [row] = cli("usage", "--by", by, "-o", "json").json()
        assert row[field] and row["requests"] == 2
        # The demo account prices its offline model like gpt-4o-mini.
        assert Decimal(row["cost_usd"]) > 0
    assert "COST_USD" in cli("usage", "--by", "account").out


def test_the_demo_tenant_answers_with_rate_limit_headers(demo):
    from support import API_DOMAIN, invoke

    from smarter_admin import manifests

    key = manifests.apply({"apiVersion": "smarter.sh/v1", "kind": "ApiKey", "metadata": {"name": "demo-headers", "account": ACCOUNT}, "spec": {}})["api_key"]
    result = invoke("prompt", "POST", "/", host=f"customer-support.{ACCOUNT}.{API_DOMAIN}", body={"messages": [{"role": "user", "content": "hi"}]}, key=key)
    assert result.status == 200
    assert result.headers["x-ratelimit-limit-requests"] == "60"
    assert result.headers["x-ratelimit-limit-tokens"] == "100000"
    assert int(result.headers["x-ratelimit-remaining-tokens"]) < 100000


def test_delete_client_and_account(demo):
    result = cli("delete", "client", "customer-support", "-o", "json")
    assert result.json() == [{"kind": "client", "name": "customer-support", "account": ACCOUNT, "result": "deleted"}]
    result = cli("delete", "client", "customer-support")
    assert result.code == 4 and "no client named 'customer-support'" in result.err
    assert cli("delete", "account", ACCOUNT, "-o", "name").out.splitlines() == [f"account/{ACCOUNT}"]
    assert cli("get", "accounts", "-o", "json").json() == []


# --- one error path --------------------------------------------------------------------


def test_usage_errors_exit_2_with_a_hint(demo):
    result = proc("get", "clinets")
    assert result.code == 2
    assert result.err.splitlines() == ["error: unknown kind 'clinets'; did you mean 'clients'?", "hint: one of: accounts, apikeys, clients, connections, domains, plugins, providers, secrets"]
    result = cli("get", "clients", "--colour")
    assert result.code == 2 and "No such option: --colour" in result.err and "smarter get --help" in result.err
    result = cli("delete", "apikey", "x")
    assert result.code == 2 and "API keys are revoked, not deleted" in result.err and "smarter apikey revoke x" in result.err


def test_a_missing_file_is_a_usage_error_not_a_traceback(aws):
    result = proc("apply", "-f", "/nonexistent/tenant.yaml")
    assert result.code == 2
    assert "the file '/nonexistent/tenant.yaml' does not exist" in result.err
    assert len(result.err.splitlines()) == 2


def test_no_account_is_a_usage_error(aws):
    result = proc("get", "clients", drop=("SMARTER_ACCOUNT",))
    assert (result.code, result.err.strip()) == (2, "error: which account? pass --account or set SMARTER_ACCOUNT")


def test_not_found_exits_4(demo):
    assert proc("get", "client", "nobody").code == 4
    for args in (("describe", "plugin", "nothing"), ("journal", "customer-support", "nokey"), ("apikey", "revoke", "nokey")):
        result = cli(*args)
        assert result.code == 4, args
        assert result.err.startswith("error: no "), result.err


def test_an_unreachable_endpoint_exits_5_in_one_readable_line(aws):
    from smarter_local.stack import free_port

    result = proc("get", "clients", "--account", ACCOUNT, env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_MAX_ATTEMPTS": "1"})
    assert result.code == 5
    assert result.err.startswith("error: cannot reach AWS at http://127.0.0.1:")
    assert "hint: check the network" in result.err


def test_missing_credentials_exit_5(aws, tmp_path):
    result = proc(
        "get", "accounts",
        drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"),
        env={"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"},
    )
    assert result.code == 5
    assert result.err.splitlines()[0] == "error: no AWS credentials found"


def test_an_aws_error_exits_6_and_says_which_setting(aws):
    result = proc("get", "accounts", env={"SMARTER_CONFIG_TABLE": "no-such-table"})
    assert result.code == 6
    assert "error: AWS refused Scan: ResourceNotFoundException" in result.err or "error: AWS refused Query: ResourceNotFoundException" in result.err
    assert "hint: a table is missing: set SMARTER_CONFIG_TABLE" in result.err


def test_debug_shows_the_traceback_anywhere_on_the_line(aws):
    result = smarter_cli("get", "accounts", "--debug", env={"SMARTER_CONFIG_TABLE": "no-such-table"})
    assert result.code == 6
    assert "Traceback (most recent call last)" in result.err
    lines = result.err.splitlines()
    assert lines.index("Traceback (most recent call last):") < [n for n, line in enumerate(lines) if line.startswith("error: AWS refused")][0]


# --- version, help, completion, python -m ------------------------------------------------------


def test_version():
    result = proc("--version")
    assert result.code == 0 and re.fullmatch(r"smarter \d+\.\d+\.\d+ \(smarter-core .*; Python 3\.\d+\.\d+\)\n", result.out)


VERBS = [
    ["apply"], ["diff"], ["get"], ["describe"], ["delete"], ["prompt"], ["journal"], ["journal-replay"], ["usage"],
    ["apikey", "create"], ["apikey", "revoke"], ["plugin", "test"], ["plugin", "kinds"],
    ["domain", "add"], ["domain", "verify"], ["domain", "remove"], ["domain", "list"],
]


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_examples_in_its_help(verb, capsys):
    assert main([*verb, "--help", "--no-color"]) == 0
    help_text = capsys.readouterr().out
    assert "Examples:" in help_text
    assert f"smarter {' '.join(verb)}" in help_text.split("Examples:")[1]


def test_delete_help_lists_only_what_delete_deletes(capsys):
    main(["delete", "--help"])
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", capsys.readouterr().out).split())
    assert "accounts, clients, plugins, connections or secrets" in text
    assert "API keys are revoked: smarter apikey revoke" in text


def test_shell_completion_of_verbs_and_kinds():
    result = proc(env={"_SMARTER_COMPLETE": "complete_bash", "COMP_WORDS": "smarter get cl", "COMP_CWORD": "2"})
    assert result.out.split() == ["clients"]
    result = proc(env={"_SMARTER_COMPLETE": "complete_bash", "COMP_WORDS": "smarter de", "COMP_CWORD": "1"})
    assert result.out.split() == ["describe", "delete"]
    # The script for a named shell (Typer's switch for naming it, so the test does not
    # depend on which shell runs pytest: under make it is sh, which Typer refuses).
    script = proc("--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}).out
    assert "_smarter_completion" in script


def test_python_dash_m_is_the_same_cli(aws):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "smarter_admin", "get", "accounts", "-o", "json"], capture_output=True, text=True)
    assert (done.returncode, json.loads(done.stdout)) == (0, [])


def _on_a_terminal(*args: str) -> str:
    """Run the console script with stdout on a pseudo-terminal; what it printed."""
    import os
    import pty
    import subprocess

    leader, follower = pty.openpty()
    script = Path(sys.executable).with_name("smarter")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR",)} | {"TERM": "xterm-256color"}
    done = subprocess.run([str(script), *args], stdout=follower, stderr=subprocess.PIPE, env=env, timeout=120)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.returncode == 0, done.stderr
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_and_none_with_no_color(demo):
    assert ANSI.search(_on_a_terminal("get", "clients"))
    plain = _on_a_terminal("get", "clients", "--no-color")
    assert not ANSI.search(plain)
    assert plain.splitlines()[0].split() == ["NAME", "PROVIDER", "MODEL", "PLUGINS", "DEPLOYED", "AGE"]


@pytest.mark.parametrize(("kind", "instead"), [("User", "its own key"), ("Chat", "smarter journal"), ("Vectorstore", "ApiPlugin")])
def test_a_smarter_kind_not_carried_is_named_before_any_field_error_with_what_to_use(demo, tmp_path, kind, instead):
    doc = {"apiVersion": "smarter.sh/v1", "kind": kind, "metadata": {"name": "x", "username": "admin"}, "spec": {"anything": 1}}
    result = cli("apply", "-f", write(tmp_path, doc))
    assert result.code == 3
    assert f"kind: {kind} is Smarter's, not carried here" in result.err and instead in result.err and "metadata" not in result.err


def test_an_unknown_kind_is_named_before_any_field_error(demo, tmp_path):
    doc = {"apiVersion": "smarter.sh/v1", "kind": "Plugn", "metadata": {"name": "x", "username": "admin"}, "spec": {"anything": 1}}
    result = cli("apply", "-f", write(tmp_path, doc))
    assert result.code == 3
    assert "kind: unknown kind 'Plugn'" in result.err and "did you mean 'Plugin'" in result.err.replace("\n", " ") and "metadata" not in result.err


def test_every_field_error_of_a_document_in_one_run(demo, tmp_path):
    doc = client_doc(defaultTemperature="hot", defaultMaxTokens=0, appFileAttachment="maybe")
    doc["spec"]["plugins"] = "support_info"
    result = cli("apply", "-f", write(tmp_path, doc))
    assert result.code == 3
    lines = result.err.splitlines()
    assert lines[0].endswith("document 1 (LLMClient/bot): 4 problems")
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "spec.config.appFileAttachment", "spec.config.defaultMaxTokens", "spec.config.defaultTemperature", "spec.plugins"]


def test_unknown_fields_are_warnings_naming_them_and_known_fields_stay_strict(demo, tmp_path):
    doc = client_doc(defaultTemprature=1)
    doc["spec"]["plugin"] = ["support_info"]
    doc["metadata"]["owner"] = "sales team"
    result = cli("apply", "-f", write(tmp_path, doc))
    assert result.code == 0, result.err
    assert "warning: LLMClient/bot: spec.config.defaultTemprature: unknown field, ignored; did you mean 'defaultTemperature'?" in result.err
    assert "warning: LLMClient/bot: spec.plugin: unknown field, ignored; did you mean 'plugins'?" in result.err
    assert "warning: LLMClient/bot: metadata.owner: unknown field, ignored" in result.err
    stored = cli("get", "client", "bot", "-o", "json").json()
    assert "defaultTemprature" not in json.dumps(stored) and "owner" not in json.dumps(stored)
    # Both at once: the warnings are told, the errors refuse the document.
    bad = client_doc(defaultTemprature=1, defaultTemperature=9)
    result = cli("apply", "-f", write(tmp_path, bad))
    assert result.code == 3 and "spec.config.defaultTemperature" in result.err and "defaultTemprature: unknown field" in result.err


def test_a_secret_manifest_goes_to_secrets_manager_and_is_never_shown(demo, tmp_path):
    from smarter.store import aws
    from smarter.tenancy import account_secrets

    doc = {"apiVersion": "smarter.sh/v1", "kind": "Secret", "metadata": {"name": "example_secret", "description": "the API's key"}, "spec": {"config": {"value": "s3cr3t-value", "expirationDate": "2027-12-31"}}}
    path = write(tmp_path, doc)
    for args in (("apply", "-f", path, "--dry-run"), ("diff", "-f", path), ("apply", "-f", path, "-o", "json"), ("get", "secrets", "-o", "yaml"), ("get", "secrets")):
        result = cli(*args)
        assert "s3cr3t-value" not in result.out + result.err, args
    assert cli("get", "secrets", "-o", "name").out.splitlines() == ["secret/example_secret"]
    assert account_secrets.account_secret(ACCOUNT, "example_secret") == "s3cr3t-value"
    items = aws.client("dynamodb").scan(TableName="smarter-config")["Items"]
    assert "s3cr3t-value" not in json.dumps(items)
    doc["spec"]["config"]["value"] = "rotated"
    assert cli("apply", "-f", write(tmp_path, doc)).out.strip() == "Secret/example_secret applied (configured)"
    assert account_secrets.account_secret(ACCOUNT, "example_secret") == "rotated"
    assert cli("delete", "secret", "example_secret").code == 0
    assert cli("get", "secrets", "-o", "json").json() == []


SMARTER_ACCOUNT_DOC = """\
apiVersion: smarter.sh/v1
kind: Account
metadata:
  name: example_account
  description: an account in Smarter's own form
  version: 1.0.0
  accountNumber: "2718-2818-2845"
spec:
  config:
    companyName: Example Inc.
    phoneNumber: "+1 555 0100"
    address1: 1 Main Street
    address2: null
    city: Springfield
    state: IL
    postalCode: "62701"
    country: US
    language: en-US
    timezone: America/Chicago
    currency: USD
"""

SMARTER_CHATBOT_DOC = """\
apiVersion: smarter.sh/v1
kind: Chatbot
metadata:
  name: sales
  description: a chatbot with Smarter's presentation fields
  version: 1.0.0
spec:
  config:
    provider: offline
    appBackgroundImageUrl: https://cdn.example.com/bg.png
    appLogoUrl: https://cdn.example.com/logo.png
    appFileAttachment: false
    customDomain: null
    dnsVerificationStatus: Not Verified
    deployed: true
  functions:
    - get_current_weather
  plugins: []
"""


def test_smarter_s_account_and_chatbot_forms_apply_with_warnings_for_what_is_ignored(aws, tmp_path):
    path = tmp_path / "smarter.yaml"
    path.write_text(SMARTER_ACCOUNT_DOC + "---\n" + SMARTER_CHATBOT_DOC)

    result = cli("apply", "-f", str(path), "--account", "2718-2818-2845")

    assert result.code == 0, result.err
    assert result.out.splitlines() == ["Account/2718-2818-2845 applied (created)", "LLMClient/sales applied (created)"]
    assert "warning: LLMClient/sales: spec.functions: Smarter's built-in functions (get_current_weather) do not exist here" in result.err
    assert "warning: LLMClient/sales: spec.config.dnsVerificationStatus: ignored" in result.err
    account = cli("get", "account", "2718-2818-2845", "-o", "json").json()
    assert (account["spec"]["companyName"], account["spec"]["city"], account["spec"]["language"]) == ("Example Inc.", "Springfield", "en-US")
    client = cli("describe", "client", "sales", "--account", "2718-2818-2845", "-o", "json").json()
    assert client["kind"] == "Chatbot"
    assert client["spec"]["config"]["appLogoUrl"] == "https://cdn.example.com/logo.png"
    assert client["spec"]["config"]["appBackgroundImageUrl"] == "https://cdn.example.com/bg.png"
    assert client["spec"]["functions"] == ["get_current_weather"]
