"""Reading a manifest's SQL without running it: where the placeholders are,
and whether the statement only reads.

The scanner knows just enough SQL to tell code from string literals, quoted
identifiers and comments (standard, PostgreSQL and SQLite forms), so that a
`{name}` inside a literal is never mistaken for code. Whether the statement
only reads is decided by parsing it with sqlglot, in the connection's
dialect, against an allow-list: one SELECT (or WITH/VALUES/set operation),
nothing that writes or locks anywhere in the tree, no table of a system
catalog (SYSTEM_SCHEMAS, pg_*, sqlite_*), and only functions named
in READ_ONLY_FUNCTIONS, compared after unquoting and case-folding, so that
`"pg_read_file"(...)` is the same unknown function as `pg_read_file(...)`.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_BARE_PLACEHOLDER = re.compile(r"(?<!:):(?!:)[A-Za-z_]|\$\d|(?<![\w$])\?(?![\w|&-])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")

class SqlTextError(ValueError):
    """The SQL cannot be used as a plugin query; the message says why."""


@dataclass
class Segment:
    kind: str  # code | literal | comment
    text: str


def segments(sql: str) -> list[Segment]:
    out: list[Segment] = []
    i, n, start = 0, len(sql), 0

    def flush(end: int) -> None:
        if end > start:
            out.append(Segment("code", sql[start:end]))

    while i < n:
        c = sql[i]
        two = sql[i : i + 2]
        if two == "--":
            flush(i)
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(Segment("comment", sql[i:end]))
            i = start = end
        elif two == "/*":
            flush(i)
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise SqlTextError("a /* comment is never closed")
            out.append(Segment("comment", sql[i:j]))
            i = start = j
        elif c in "'\"`[":
            flush(i)
            close = {"[": "]"}.get(c, c)
            backslash = c == "'" and i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            j = i + 1
            while True:
                if j >= n:
                    raise SqlTextError(f"a {c} quote is never closed")
                if backslash and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == close:
                    if close != "]" and sql[j + 1 : j + 2] == close:
                        j += 2
                        continue
                    break
                j += 1
            out.append(Segment("literal", sql[i : j + 1]))
            i = start = j + 1
        elif c == "$" and (m := _DOLLAR_TAG.match(sql, i)) and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            flush(i)
            tag = m.group(0)
            end = sql.find(tag, m.end())
            if end < 0:
                raise SqlTextError(f"a {tag} quote is never closed")
            out.append(Segment("literal", sql[i : end + len(tag)]))
            i = start = end + len(tag)
        else:
            i += 1
    flush(n)
    return out


def placeholders(sql: str) -> list[str]:
    """The `{name}` placeholders in the code, in order of first appearance."""
    names: list[str] = []
    for seg in segments(sql):
        if seg.kind == "code":
            names.extend(m.group(1) for m in PLACEHOLDER.finditer(seg.text))
    return list(dict.fromkeys(names))


def to_named(sql: str, prefix: str = "") -> str:
    """The query with `{name}` turned into the driver's `:name` bind parameter
    and comments dropped (drivers that rewrite `:name` do not all skip comments).
    Refuses a placeholder inside a string literal: quoting is the driver's job."""
    parts: list[str] = []
    for seg in segments(sql):
        if seg.kind == "comment":
            parts.append(" ")
        elif seg.kind == "literal":
            if PLACEHOLDER.search(seg.text) and seg.text[0] == "'":
                raise SqlTextError(
                    f"the placeholder in {seg.text} is inside quotes; write it bare, e.g. "
                    "LIKE '%' || {name} || '%', and it is bound as a parameter"
                )
            parts.append(seg.text)
        else:
            if _BARE_PLACEHOLDER.search(PLACEHOLDER.sub("", seg.text)):
                raise SqlTextError("write parameters as {name}; :name, $1 and ? are not accepted")
            parts.append(PLACEHOLDER.sub(lambda m: f":{prefix}{m.group(1)}", seg.text))
    return "".join(parts).strip().rstrip(";").rstrip()


# Functions a plugin query may call: they compute from their arguments and
# the rows, and none reads files, sleeps, locks, signals other sessions,
# changes settings, reaches another server or builds a value far larger than
# its input (repeat, lpad, printf, zeroblob, randomblob are not here). The
# last line holds names sqlglot gives to wrappers it puts around the above.
READ_ONLY_FUNCTIONS = frozenset(
    """
    count sum avg min max total bool_and bool_or every stddev stddev_pop stddev_samp variance var_pop var_samp
    string_agg group_concat array_agg json_agg jsonb_agg json_group_array json_object_agg
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    lower upper length char_length character_length octet_length bit_length substr substring trim ltrim rtrim btrim
    replace position strpos instr concat concat_ws left right initcap split_part starts_with reverse ascii chr
    translate regexp_replace regexp_match regexp_like like ilike glob unicode quote_literal md5 hex unhex
    abs round ceil ceiling floor trunc truncate mod power pow sqrt cbrt exp ln log log10 log2 sign greatest least
    pi div radians degrees sin cos tan asin acos atan atan2 width_bucket random
    coalesce nullif ifnull iif nvl if case
    now current_date current_time current_timestamp localtime localtimestamp date_trunc date_part extract age
    to_char to_date to_timestamp to_number make_date make_time make_timestamp make_interval date time datetime
    julianday strftime unixepoch timestamp interval isfinite justify_days justify_hours
    json_extract json_extract_path json_extract_path_text jsonb_extract_path jsonb_extract_path_text json_build_object
    jsonb_build_object json_build_array jsonb_build_array to_json to_jsonb json_array_length jsonb_array_length
    json_object json_array json_type json_valid json_each jsonb_each json_array_elements jsonb_array_elements
    json_typeof jsonb_typeof row_to_json array_to_json
    array_length array_position cardinality unnest array_to_string string_to_array generate_series typeof
    cast try_cast exists
    tsordstotimestamp tsordstodate tsordstotime timetostr strtotime
    """.split()
)


_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_$.]*)\s*\(")


def _function_names(node, dialect: str) -> tuple[str, set[str]]:
    """(the name to report, every name it may go by), folded. An unknown
    function is its written name, unquoted; a function sqlglot knows goes by
    its class and by how it is written back in the query's dialect."""
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        name = str(node.name).lower()
        return name, {name}
    names = {type(node).key.lower()}
    try:
        names |= {n.lower() for n in type(node).sql_names()}
    except Exception:
        pass
    try:
        match = _CALL.match(node.sql(dialect=dialect))
    except Exception:
        match = None
    written = match.group(1).rsplit(".", 1)[-1].lower() if match else type(node).key.lower()
    names.add(written)
    return written, names


DIALECTS = {"postgresql": "postgres", "aurora": "postgres", "sqlite": "sqlite", "mysql": "mysql"}


@functools.lru_cache(maxsize=1024)
def read_only_problem(sql: str, engine: str | None = None) -> str | None:
    """Why this is not a single read-only query, or None when it is (remembered:
    the same stored query is checked again before every call)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        segs = segments(sql)
    except SqlTextError as exc:
        return str(exc)
    # Placeholders become NULL for the parse: they are values, never code.
    code = "".join(PLACEHOLDER.sub(" NULL ", s.text) if s.kind == "code" else (" " if s.kind == "comment" else s.text) for s in segs).strip()
    if not code.rstrip(";").strip():
        return "the query is empty"
    if ";" in code.rstrip().rstrip(";"):
        # sqlglot would split it too; this names the problem precisely.
        body = "".join(s.text if s.kind == "code" else "''" for s in segs if s.kind != "comment").strip().rstrip(";")
        if ";" in body:
            return "only one statement is allowed (found ';' before the end)"
    first = re.match(r"[\s(]*([A-Za-z_]+)", code)
    if not first or first.group(1).lower() not in ("select", "with", "values", "table"):
        word = first.group(1).upper() if first else code.split()[0]
        return f"a plugin query must be a SELECT (or WITH ... SELECT); it starts with {word}"
    dialect = DIALECTS.get(engine or "", "postgres")
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to Command" warnings are ours to report
    try:
        statements = [s for s in sqlglot.parse(code, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return f"the query could not be read as {dialect} SQL: {first[:200]}"
    if len(statements) != 1:
        return "only one statement is allowed"
    tree = statements[0]
    if not isinstance(tree, (exp.Select, exp.Union, exp.Except, exp.Intersect, exp.Values, exp.Subquery)):
        word = (code.split() or ["?"])[0].upper()
        return f"a plugin query must be a SELECT (or WITH ... SELECT); it starts with {word}"
    for node in tree.walk():
        problem = _node_problem(node, exp, dialect)
        if problem:
            return problem
    return None


# Statement kinds that write, lock or change the session: refused anywhere in the tree
# (a data-modifying CTE, SELECT INTO, FOR UPDATE...).
WRITE_NODES = (
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Command", "Copy", "Set",
    "Pragma", "Transaction", "Commit", "Rollback", "Into", "Lock", "LoadData", "Use", "Grant", "Revoke", "Attach", "Detach",
)


# Schemas that describe the server rather than hold the tenant's data: PostgreSQL's
# catalogs (pg_shadow's password hashes, pg_settings' paths), the SQL standard's
# information_schema, and MySQL's. A table named pg_* or sqlite_* is a catalog
# too wherever it is looked up (PostgreSQL puts pg_catalog first on the search
# path; sqlite_master lists every table and index of the file).
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast", "mysql", "performance_schema", "sys"})
_SYSTEM_TABLE = re.compile(r"(pg_|sqlite_)")


def system_catalog(table) -> str | None:
    """The written name of a table reference into a system catalog or schema, else None."""
    parts = [str(p).lower() for p in (table.catalog, table.db, table.name) if p]
    schemas = parts[:-1]
    name = parts[-1] if parts else ""
    if any(s in SYSTEM_SCHEMAS or s.startswith("pg_temp") or s.startswith("pg_toast") for s in schemas) or _SYSTEM_TABLE.match(name):
        return ".".join(parts)
    return None


def _node_problem(node, exp, dialect: str) -> str | None:
    if isinstance(node, exp.Table) and (catalog := system_catalog(node)):
        return f"a plugin query only reads the account's own tables; {catalog} is a system catalog"
    writes = tuple(getattr(exp, name) for name in WRITE_NODES if hasattr(exp, name))
    if isinstance(node, writes):
        what = {exp.Into: "INTO", exp.Lock: "row locks (FOR UPDATE, FOR SHARE)"}.get(type(node), type(node).key.upper())
        return f"a plugin query only reads; {what} is not allowed"
    # Operators (AND, ||, LIKE, ::) are expression nodes that sqlglot also files under Func.
    operators = (exp.Binary, exp.Unary, exp.Connector, exp.Cast, exp.TryCast, exp.Case, exp.If, exp.Extract, exp.Interval)
    if isinstance(node, exp.Func) and not isinstance(node, operators):
        name, names = _function_names(node, dialect)
        if not names & READ_ONLY_FUNCTIONS:
            return f"a plugin query only reads; the function {name} is not on the list of allowed functions"
    return None
