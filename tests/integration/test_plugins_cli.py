"""The admin CLI for plugins: apply (valid and refused manifests), describe
shows the tool, `smarter plugin test` runs the testValues, `plugin kinds`."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from plugin_fixtures import ACCOUNT, api_connection, api_plugin, loopback_only, make_sqlite, sql_connection, sql_plugin, upstream  # noqa: F401

from smarter_admin import cli

pytestmark = pytest.mark.usefixtures("loopback_only")

ACCOUNT_DOC = {"apiVersion": "smarter.sh/v1", "kind": "Account", "metadata": {"name": ACCOUNT}, "spec": {}}


def _apply(tmp_path, *docs) -> int:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(list(docs)))
    return cli.main(["apply", "-f", str(path)])


def test_apply_then_plugin_test_runs_the_test_values(aws, tmp_path, capsys):
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    assert _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database=db), sql_plugin()) == 0
    assert "SqlPlugin/course_db applied" in capsys.readouterr().out

    assert cli.main(["plugin", "test", "course_db", "--account", ACCOUNT, "-o", "json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["rows"] == [
        {"course_code": "CS101", "course_name": "Intro to Python", "cost": 300.0},
        {"course_code": "CS201", "course_name": "Data structures", "cost": 450.0},
    ]
    assert '{"keyword": "Python", "max_cost": 500}' in out.err
    assert "ok in" in out.err


def test_plugin_test_with_explicit_arguments(aws, tmp_path, capsys):
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database=db), sql_plugin())
    capsys.readouterr()
    assert cli.main(["plugin", "test", "course_db", "--account", ACCOUNT, "--args", '{"keyword": "AI"}', "-o", "json"]) == 0
    assert [r["course_code"] for r in json.loads(capsys.readouterr().out)["rows"]] == ["CS401"]


def test_plugin_test_reports_a_failing_call_with_exit_code_1(aws, tmp_path, capsys, upstream):
    upstream.json("/courses", {"error": "down"}, status=500)
    _apply(tmp_path, ACCOUNT_DOC, api_connection(base_url=upstream.base_url, allowHosts=["127.0.0.1"]), api_plugin())
    capsys.readouterr()
    assert cli.main(["plugin", "test", "course_catalogue", "--account", ACCOUNT]) == 1
    err = capsys.readouterr().err
    assert "error: the API answered HTTP 500" in err
    assert "FAILED" in err
    assert upstream.seen[-1].path == "/courses?max_cost=500&keyword=Python"


def test_apply_refuses_a_write_statement_with_the_field_path(aws, tmp_path, capsys):
    code = _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database="x.db"), sql_plugin(query="DELETE FROM courses", parameters=None, testValues=None))
    assert code == 3  # a refused manifest
    err = capsys.readouterr().err
    assert err.startswith("error: invalid manifest: ") and "document 3 (SqlPlugin/course_db): spec.sqlData.sqlQuery: a plugin query must be a SELECT" in err


def test_describe_plugin_shows_the_tool_the_model_sees(aws, tmp_path, capsys):
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database=db), sql_plugin())
    capsys.readouterr()
    assert cli.main(["describe", "plugin", "course_db", "--account", ACCOUNT, "-o", "json"]) == 0
    tool = json.loads(capsys.readouterr().out)["status"]["tool"]
    assert tool["function"]["name"] == "course_db"
    assert set(tool["function"]["parameters"]["properties"]) == {"keyword", "max_cost"}


def test_plugin_kinds_lists_the_installed_kinds(capsys):
    assert cli.main(["plugin", "kinds", "-o", "json"]) == 0
    kinds = {k["pluginClass"]: k for k in json.loads(capsys.readouterr().out)}
    assert kinds["sql"]["connectionKind"] == "SqlConnection"
    assert kinds["api"]["manifestKinds"] == ["ApiPlugin"]
    assert "static" in kinds
    assert cli.main(["plugin", "kinds"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PLUGIN_CLASS", "MANIFEST_KINDS", "CONNECTION_KIND", "IMPLEMENTED_BY"]
    assert any(line.split()[:3] == ["sql", "SqlPlugin", "SqlConnection"] for line in lines[1:])


def test_plugin_test_prints_a_sql_plugins_rows_as_a_table(aws, tmp_path, capsys):
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database=db), sql_plugin())
    capsys.readouterr()
    assert cli.main(["plugin", "test", "course_db", "--account", ACCOUNT, "-o", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["COURSE_CODE", "COURSE_NAME", "COST"]
    assert lines[1].split()[0] == "CS101"


def test_plugin_test_of_an_unknown_plugin_is_not_found(aws, capsys):
    assert cli.main(["plugin", "test", "nope", "--account", ACCOUNT]) == 4
    assert "no plugin named 'nope'" in capsys.readouterr().err


def test_an_api_and_a_sql_connection_cannot_share_a_name(aws, tmp_path, capsys):
    assert _apply(tmp_path, ACCOUNT_DOC, api_connection(name="example_connection")) == 0
    capsys.readouterr()

    assert _apply(tmp_path, sql_connection(name="example_connection", dbEngine="sqlite", database="x.db")) == 3

    err = capsys.readouterr().err
    assert "metadata.name: a ApiConnection named 'example_connection' already exists" in err
    assert cli.main(["get", "connection", "example_connection", "--account", ACCOUNT, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "ApiConnection"  # not overwritten


def test_the_same_name_twice_in_one_file_is_refused_before_anything_is_stored(aws, tmp_path, capsys):
    code = _apply(tmp_path, ACCOUNT_DOC, api_connection(name="example_connection"), sql_connection(name="example_connection", dbEngine="sqlite", database="x.db"))
    assert code == 3
    assert "already exists" in capsys.readouterr().err
    from smarter.store import storage

    assert storage.get_account(ACCOUNT) is None  # all or nothing


def test_kind_names_as_smarter_and_kubectl_write_them(aws, tmp_path, capsys):
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database=db), sql_plugin(), api_connection())
    capsys.readouterr()
    assert cli.main(["get", "sqlconnections", "--account", ACCOUNT, "-o", "name"]) == 0
    assert capsys.readouterr().out.splitlines() == ["connection/catalogue_db"]
    assert cli.main(["get", "ApiConnections", "--account", ACCOUNT, "-o", "name"]) == 0
    assert capsys.readouterr().out.splitlines() == ["connection/catalogue_api"]
    assert cli.main(["get", "sqlplugins", "--account", ACCOUNT, "-o", "name"]) == 0
    assert capsys.readouterr().out.splitlines() == ["plugin/course_db"]
    assert cli.main(["get", "apiplugins", "--account", ACCOUNT, "-o", "name"]) == 0
    assert capsys.readouterr().out == ""


def test_every_problem_of_a_connection_is_reported_in_one_run(aws, tmp_path, capsys):
    bad = sql_connection(dbEngine="sqlite", database="x.db")
    bad["spec"]["connection"].update(port="five", timeout=-1, sslMode="sometimes", hostnme="db.example.org")

    assert _apply(tmp_path, ACCOUNT_DOC, bad) == 3

    lines = capsys.readouterr().err.splitlines()
    warning = next(line for line in lines if line.startswith("warning:"))
    assert "spec.connection.hostnme: unknown field, ignored; did you mean 'hostname'?" in warning  # unknown: a warning
    first = lines.index(next(line for line in lines if line.startswith("error:")))
    assert re.match(r"error: invalid manifest: .*document 2 \(SqlConnection/catalogue_db\): 3 problems$", lines[first])
    problems = "\n".join(lines[first + 1:])
    for field in ("spec.connection.port", "spec.connection.timeout", "spec.connection.sslMode"):
        assert field in problems


def test_apply_warns_about_test_values_it_cannot_use_and_stores_the_plugin(aws, tmp_path, capsys):
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    plugin = sql_plugin(testValues=[{"name": "keyword", "value": "Python"}, {"name": "level", "value": "beginner"}])

    assert _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database=db), plugin) == 0

    out = capsys.readouterr()
    assert "SqlPlugin/course_db applied" in out.out
    assert "warning: SqlPlugin/course_db: spec.sqlData.testValues.level: 'level' is not a declared parameter; this test value is ignored" in out.err
    assert cli.main(["plugin", "test", "course_db", "--account", ACCOUNT, "-o", "json"]) == 0
    assert '{"keyword": "Python"}' in capsys.readouterr().err
