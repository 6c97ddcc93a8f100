"""How the CLI prints. Results go to stdout in the format asked with `-o`;
messages, progress and errors go to stderr, so `-o json` output always parses.

Tables are laid out as plain aligned columns (kubectl's form) rather than Rich
tables: Rich fits a table to the terminal width (80 columns when piped) and
would wrap or cut cells. Rich supplies the colour, only on a terminal and never
with `--no-color` or NO_COLOR, so piped output is plain text.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.text import Text

from smarter.errors import SmarterError


class Format(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"
    name = "name"
    jsonpath = "jsonpath"


FORMATS = "table|wide|json|yaml|name|jsonpath=TEMPLATE"
# The template of `-o jsonpath=...`: one -o per run, so one template per process.
_jsonpath_template = ""


def parse_format(value: str | Format | None) -> Format | None:
    """`-o`'s value: a format name, or `jsonpath=TEMPLATE` (kubectl's form)."""
    global _jsonpath_template
    if value is None or isinstance(value, Format):
        return value
    name, _, template = str(value).partition("=")
    try:
        fmt = Format(name.strip().lower())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not one of {FORMATS}") from None
    if fmt is Format.jsonpath:
        if not template:
            raise typer.BadParameter("jsonpath needs a template, e.g. -o jsonpath='{.items[*].metadata.name}'")
        _jsonpath_template = template
    elif template:
        raise typer.BadParameter(f"only jsonpath takes a template, not {name!r}")
    return fmt


Output = Annotated[
    Format | None,
    typer.Option("-o", "--output", parser=parse_format, metavar="FORMAT", help=f"Output format: {FORMATS} (default: the verb's own, a table or text)."),
]


_consoles: dict[str, Console] = {}
_no_color = False


def configure(*, no_color: bool = False) -> None:
    """Called once per run by `cli.main`, before anything prints."""
    global _no_color
    _no_color = no_color
    _consoles.clear()


def _console(stream: str) -> Console:
    # Built on first use and bound to the current sys.stdout/sys.stderr (pytest swaps them).
    file = sys.stdout if stream == "out" else sys.stderr
    console = _consoles.get(stream)
    if console is None or console.file is not file:
        console = Console(file=file, no_color=_no_color or None, highlight=False, soft_wrap=True, emoji=False)
        _consoles[stream] = console
    return console


def out(text: str | Text = "") -> None:
    """One line (or block) of the result on stdout."""
    _console("out").print(text, markup=False)


def err(text: str | Text = "", style: str | None = None) -> None:
    """A message on stderr: progress, notes, errors."""
    _console("err").print(text, style=style, markup=False)


def err_console() -> Console:
    return _console("err")


def is_color(stream: str = "out") -> bool:
    return _console(stream).is_terminal and not _no_color and not os.environ.get("NO_COLOR")


# --- data formats ---------------------------------------------------------------


def dump(data: Any, fmt: Format | str) -> str:
    if Format(fmt) is Format.json:
        return json.dumps(data, indent=2, default=str)
    return yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True).rstrip()


def _plain(data: Any) -> Any:
    """YAML of JSON-able data: anything else (datetimes, Decimals) as strings."""
    return json.loads(json.dumps(data, default=str))


def print_as(data: Any, fmt: Format | str = "yaml") -> None:
    out(dump(data, "json" if Format(fmt) is Format.json else "yaml"))


# --- tables -----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], Any]


STATUS_STYLES = {
    "verified": "green", "applied": "green", "created": "green", "configured": "cyan", "unchanged": "dim",
    "deleted": "yellow", "removed": "yellow", "revoked": "red", "expired": "red",
    "failed": "red", "error": "red", "requested": "yellow", "pending_validation": "yellow", "issued": "cyan",
    "active": "green",
}


def table(rows: Iterable[dict[str, Any]], columns: list[Column], *, styled: str | None = None, headers: bool = True) -> None:
    """Aligned columns with a header (none with `headers=False`, kubectl's
    --no-headers); `styled` names the column coloured by value."""
    cells = [[c.header for c in columns]]
    for row in rows:
        cells.append([_cell(c.value(row)) for c in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    color = is_color()
    for n, line in enumerate(cells):
        if n == 0 and not headers:
            continue
        text = Text()
        for i, (cell, width) in enumerate(zip(line, widths)):
            last = i == len(columns) - 1
            style = "bold" if n == 0 else (STATUS_STYLES.get(cell.split(";")[0].split(" ")[0]) if columns[i].header == styled else None)
            text.append(cell if last else cell.ljust(width + 3), style=style if color else None)
        out(text)


def _cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return " ".join(str(value).split())  # one line per row, whatever the value holds


def age(stamp: Any) -> str:
    """kubectl's AGE: 45s, 12m, 3h, 5d."""
    if not stamp:
        return "-"
    try:
        then = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def generic_columns(rows: list[dict[str, Any]], first: Iterable[str] = ()) -> list[Column]:
    """Every scalar field of the rows, in order of appearance: new fields show up by themselves."""
    keys: list[str] = list(first)
    for row in rows:
        for key, value in row.items():
            if key not in keys and not isinstance(value, dict):
                keys.append(key)
    return [Column(k.upper(), lambda r, k=k: r.get(k)) for k in keys]


def emit(data: Any, fmt: Format | str | None, *, columns: list[Column] | None = None, name: Callable[[dict[str, Any]], str] | None = None,
         human: Callable[[], None] | None = None, styled: str | None = None, wide: list[Column] | None = None, headers: bool = True,
         empty: str | None = None) -> None:
    """Print a result in the asked format. `human` is the verb's own default
    form (None: table); `name` gives `-o name` its `kind/name` lines; `wide`
    the columns of `-o wide` (default: `columns`). An empty list prints
    nothing on stdout (`[]` in JSON) and `empty`, if given, on stderr."""
    fmt = Format(fmt) if fmt else None
    if isinstance(data, list) and not data and fmt is not Format.json:
        if empty:
            err(empty)
        return
    if fmt in (Format.json, Format.yaml):
        out(dump(data, fmt))
        return
    if fmt is Format.jsonpath:
        out(jsonpath(data))
        return
    rows = data if isinstance(data, list) else [data]
    if fmt is Format.name:
        for row in rows:
            out(name(row) if name else str(row.get("name", "")))
        return
    if fmt is None and human is not None:
        human()
        return
    if fmt is Format.wide and wide is not None:
        columns = wide
    if columns is None:
        columns = generic_columns([r for r in rows if isinstance(r, dict)])
    table(rows, columns, styled=styled, headers=headers)


_FIELD = re.compile(r"\{([^{}]*)\}")


def jsonpath(data: Any, template: str | None = None) -> str:
    """kubectl's `-o jsonpath=TEMPLATE`: text with `{.path}` parts, each the
    values found (space separated); a list is `{.items[*]...}` as in kubectl.
    The paths are JSONPath, evaluated by jsonpath-ng (its extended parser:
    filters such as `[?(@.kind == 'SqlPlugin')]`)."""
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    template = template if template is not None else _jsonpath_template
    doc = json.loads(json.dumps({"items": data} if isinstance(data, list) else data, default=str))
    fields = list(_FIELD.finditer(template))
    if template.count("{") != len(fields) or template.count("}") != len(fields):
        raise typer.BadParameter(f"the jsonpath template {template!r} has an unclosed {{ or a stray }}: write each path as {{.path}}")
    parts, at = [], 0
    for match in fields:
        parts.append(template[at:match.start()])
        at = match.end()
        expression = match.group(1).strip()
        expression = "$" + expression if expression.startswith((".", "[")) else expression if expression.startswith("$") else "$." + expression
        try:
            found = [m.value for m in parse(expression).find(doc)]
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # the library raises plain Exception for some syntax
            raise typer.BadParameter(f"the jsonpath {match.group(0)!r} does not parse: {exc}") from None
        parts.append(" ".join(v if isinstance(v, str) else json.dumps(v, default=str) for v in found))
    parts.append(template[at:])
    return "".join(parts).replace("\\n", "\n").replace("\\t", "\t")


def account_of(args_or_account: Any) -> str:
    account = args_or_account if isinstance(args_or_account, str) or args_or_account is None else getattr(args_or_account, "account", None)
    account = account or os.environ.get("SMARTER_ACCOUNT")
    if not account:
        raise MissingAccount("which account? pass --account or set SMARTER_ACCOUNT")
    return account


class MissingAccount(SmarterError):
    """A usage error: the command needs an account and none was given."""

    status = 400
    type = "usage"
