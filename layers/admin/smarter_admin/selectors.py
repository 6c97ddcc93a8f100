"""`-l SELECTOR`: kubectl's label selectors over what our manifests carry.

An item's labels are its `metadata.tags` (a tag `team=support` is the label
`team` with value `support`; a plain tag `support` is the label `support`) and
its `metadata.annotations` (a mapping, or Smarter's list of one-key mappings).
Terms, comma-separated, all must hold: `key` (present), `!key` (absent),
`key=value` (also `==`), `key!=value`, `key in (a,b)`, `key notin (a,b)`.
"""

from __future__ import annotations

import re
from typing import Any

_TERM = re.compile(r"\s*(?:(!)?\s*([\w./-]+)\s*(?:(==|=|!=)\s*([\w./:@-]*)|\s+(in|notin)\s*\(([^)]*)\))?)\s*(?:,|$)")


def parse(selector: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(operator, key, values) per term; a selector that does not parse is a usage error."""
    import typer

    terms, at = [], 0
    text = selector.strip()
    while at < len(text):
        match = _TERM.match(text, at)
        if not match or match.end() == at:
            raise typer.BadParameter(f"the selector {selector!r} does not parse at {text[at:]!r}: use key, !key, key=value, key!=value, key in (a,b)")
        bang, key, op, value, set_op, values = match.groups()
        if bang:
            terms.append(("absent", key, ()))
        elif op:
            terms.append(("ne" if op == "!=" else "eq", key, (value,)))
        elif set_op:
            terms.append((set_op, key, tuple(v.strip() for v in values.split(",") if v.strip())))
        else:
            terms.append(("present", key, ()))
        at = match.end()
    return terms


def labels(manifest: dict[str, Any]) -> dict[str, str]:
    meta = manifest.get("metadata") or {}
    found: dict[str, str] = {}
    for tag in meta.get("tags") or []:
        key, _, value = str(tag).partition("=")
        found[key.strip()] = value.strip()
    annotations = meta.get("annotations")
    for entry in annotations if isinstance(annotations, list) else [annotations or {}]:
        if isinstance(entry, dict):
            found.update({str(k): str(v) for k, v in entry.items()})
    return found


def matches(terms: list[tuple[str, str, tuple[str, ...]]], manifest: dict[str, Any]) -> bool:
    have = labels(manifest)
    for op, key, values in terms:
        value = have.get(key)
        ok = {
            "present": value is not None,
            "absent": value is None,
            "eq": value == values[0] if values else False,
            "ne": value != values[0] if values else True,
            "in": value in values,
            "notin": value not in values,
        }[op]
        if not ok:
            return False
    return True
