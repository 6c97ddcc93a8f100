"""Reading plugin SQL without running it: placeholders and read-only checks."""

from __future__ import annotations

import pytest

from smarter_plugins.sqltext import SqlTextError, placeholders, read_only_problem, to_named


def test_placeholders_become_bind_parameters_in_order():
    sql = "SELECT * FROM t WHERE a = {a} AND b LIKE '%' || {b} || '%' OR {a} IS NULL"
    assert placeholders(sql) == ["a", "b"]
    assert to_named(sql, "p_") == "SELECT * FROM t WHERE a = :p_a AND b LIKE '%' || :p_b || '%' OR :p_a IS NULL"


def test_braces_inside_literals_and_comments_are_not_placeholders():
    sql = "SELECT '{\"json\": 1}'::jsonb, $$ {x} $$, \"{y}\" FROM t -- {z}\n/* {w} */ WHERE c = {c}"
    assert placeholders(sql) == ["c"]


def test_comments_are_dropped_and_a_trailing_semicolon_removed():
    assert to_named("SELECT 1 -- note: :x\n/* :y */;") == "SELECT 1"


def test_casts_after_a_placeholder_survive():
    assert to_named("SELECT {n}::int") == "SELECT :n::int"


@pytest.mark.parametrize("sql", ["SELECT * FROM t WHERE a = '{a}'", "SELECT * FROM t WHERE a = 'x{a}y'"])
def test_a_placeholder_inside_quotes_is_refused(sql):
    with pytest.raises(SqlTextError, match="inside quotes"):
        to_named(sql)


@pytest.mark.parametrize("sql", ["SELECT * FROM t WHERE a = :a", "SELECT * FROM t WHERE a = $1", "SELECT * FROM t WHERE a = ?"])
def test_other_parameter_styles_are_refused(sql):
    with pytest.raises(SqlTextError, match=r"\{name\}"):
        to_named(sql)


@pytest.mark.parametrize("sql", ["SELECT 'unclosed", "SELECT /* unclosed", 'SELECT "unclosed', "SELECT $tag$ unclosed"])
def test_unclosed_quotes_and_comments_are_refused(sql):
    assert read_only_problem(sql) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM courses",
        "  select 1;  ",
        "WITH c AS (SELECT * FROM courses) SELECT * FROM c",
        "VALUES (1), (2)",
        "SELECT 'insert into x; drop table y' AS text, \"update\" FROM t",
        "SELECT * FROM t -- delete everything\n",
        "SELECT replace(name, 'a', 'b'), comment, \"set\" FROM t",
        "SELECT e'it\\'s; drop' FROM t",
    ],
)
def test_read_only_queries_pass(sql):
    assert read_only_problem(sql) is None


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("DELETE FROM t", "DELETE"),
        ("update t set a = 1", "UPDATE"),
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("DROP TABLE t", "DROP"),
        ("SELECT 1; DROP TABLE t", "one statement"),
        ("SELECT 1 ; ; ", "one statement"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE"),
        ("SELECT * INTO t2 FROM t", "INTO"),
        ("SELECT * FROM t FOR UPDATE", "UPDATE"),
        ("SELECT * FROM t FOR SHARE", "FOR SHARE"),
        ("SELECT nextval('s')", "nextval"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT * FROM dblink('host=x', 'DELETE FROM t') AS x(a int)", "dblink"),
        ("PRAGMA query_only = OFF", "PRAGMA"),
        ("ATTACH DATABASE 'x' AS y", "ATTACH"),
        ("SET transaction_read_only = off", "SET"),
        ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN"),
        ("COPY t TO '/tmp/x'", "COPY"),
        ("", "empty"),
    ],
)
def test_anything_that_writes_or_has_side_effects_is_refused(sql, word):
    problem = read_only_problem(sql)
    assert problem is not None and word.lower() in problem.lower(), problem
