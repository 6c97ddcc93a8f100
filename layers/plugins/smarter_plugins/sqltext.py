"""Reading a manifest's SQL without running it: where the placeholders are,
and whether the statement only reads.

The scanner knows just enough SQL to tell code from string literals, quoted
identifiers and comments (standard, PostgreSQL and SQLite forms), so that a
`{name}` or a keyword inside a literal is never mistaken for code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
_BARE_PLACEHOLDER = re.compile(r"(?<!:):(?!:)[A-Za-z_]|\$\d|(?<![\w$])\?(?![\w|&-])")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")

READ_STARTS = {"select", "with", "values", "table"}
# A single statement that starts with SELECT cannot DROP or GRANT; what can
# write from inside one is a data-modifying CTE, SELECT INTO, a row lock, or
# a function with side effects. Those words are refused anywhere in the code.
WRITE_WORDS = {
    "insert", "update", "delete", "merge", "upsert", "into", "truncate", "drop", "create", "alter",
    "grant", "revoke", "attach", "detach", "pragma", "vacuum",
}
SIDE_EFFECT_FUNCTIONS = {
    "lo_import", "lo_export", "lo_unlink", "lo_create", "lo_put", "pg_read_file", "pg_read_binary_file", "pg_ls_dir",
    "pg_stat_file", "dblink", "dblink_exec", "set_config", "pg_terminate_backend", "pg_cancel_backend",
    "pg_reload_conf", "pg_rotate_logfile", "pg_sleep", "pg_advisory_lock", "pg_notify", "nextval", "setval",
    "load_extension", "writefile", "readfile", "fts3_tokenizer", "query_to_xml", "query_to_xml_and_xmlschema",
    "table_to_xml", "cursor_to_xml", "database_to_xml", "schema_to_xml",
}


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


def read_only_problem(sql: str) -> str | None:
    """Why this is not a single read-only query, or None when it is."""
    try:
        segs = segments(sql)
    except SqlTextError as exc:
        return str(exc)
    code = " ".join(s.text if s.kind == "code" else " '' " if s.kind == "literal" else " " for s in segs)
    code = PLACEHOLDER.sub(" null ", code).strip()
    body = code.rstrip().rstrip(";")
    if ";" in body:
        return "only one statement is allowed (found ';' before the end)"
    found = [w.lower() for w in _WORD.findall(body)]
    if not found:
        return "the query is empty"
    if found[0] not in READ_STARTS:
        return f"a plugin query must be a SELECT (or WITH ... SELECT); it starts with {found[0].upper()}"
    for i, word in enumerate(found):
        if word in WRITE_WORDS:
            return f"a plugin query only reads; {word.upper()} is not allowed"
        if word == "share" and i > 0 and found[i - 1] in ("for", "key"):
            return "a plugin query only reads; row locks (FOR SHARE) are not allowed"
        if word in SIDE_EFFECT_FUNCTIONS:
            return f"a plugin query only reads; the function {word} is not allowed"
    return None
