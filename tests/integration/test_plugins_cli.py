"""The admin CLI for plugins: apply (valid and refused manifests), describe
shows the tool, `smarter plugin test` runs the testValues, `plugin kinds`."""

from __future__ import annotations

import json

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
    assert code == 2
    assert "error: invalid manifest: spec.sqlData.sqlQuery: a plugin query must be a SELECT" in capsys.readouterr().err


def test_describe_plugin_shows_the_tool_the_model_sees(aws, tmp_path, capsys):
    db = make_sqlite(str(tmp_path / ACCOUNT / "courses.db"))
    _apply(tmp_path, ACCOUNT_DOC, sql_connection(dbEngine="sqlite", database=db), sql_plugin())
    capsys.readouterr()
    assert cli.main(["describe", "plugin", "course_db", "--account", ACCOUNT, "-o", "json"]) == 0
    tool = json.loads(capsys.readouterr().out)["tool"]
    assert tool["function"]["name"] == "course_db"
    assert set(tool["function"]["parameters"]["properties"]) == {"keyword", "max_cost"}


def test_plugin_kinds_lists_the_installed_kinds(capsys):
    assert cli.main(["plugin", "kinds", "-o", "json"]) == 0
    kinds = {k["pluginClass"]: k for k in json.loads(capsys.readouterr().out)}
    assert kinds["sql"]["connectionKind"] == "SqlConnection"
    assert kinds["api"]["manifestKinds"] == ["ApiPlugin"]
    assert "static" in kinds


def test_plugin_test_of_an_unknown_plugin_is_an_error(aws, capsys):
    assert cli.main(["plugin", "test", "nope", "--account", ACCOUNT]) == 1
    assert "no plugin named 'nope'" in capsys.readouterr().err
