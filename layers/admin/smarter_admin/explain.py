"""`smarter explain KIND[.FIELD...]`: kubectl's explain, read off the pydantic
models the manifests are validated with (smarter_admin.models), so it cannot
drift from what `apply` accepts. Plugin and connection kinds have their spec
models in the plugins layer; explain names their top-level fields."""

from __future__ import annotations

import types
import typing
from typing import Any

from smarter_admin import failures


def _kinds() -> dict[str, tuple[str, Any]]:
    from smarter_admin import models

    return {
        "account": ("Account", models.AccountSpec),
        "llmclient": ("LLMClient", models.ClientSpec),
        "client": ("LLMClient", models.ClientSpec),
        "chatbot": ("Chatbot", models.ClientSpec),
        "apikey": ("ApiKey", models.ApiKeySpec),
        "secret": ("Secret", models.SecretSpec),
    }


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (list, tuple):
        return f"[]{_type_name(args[0]) if args else 'any'}"
    if origin is dict:
        return f"map[{_type_name(args[0])}]{_type_name(args[1])}" if len(args) == 2 else "map"
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return "object"
    return getattr(annotation, "__name__", str(annotation)).replace("Decimal", "number").replace("str", "string").replace("int", "integer").replace("float", "number").replace("bool", "boolean")


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and hasattr(candidate, "model_fields"):
            return candidate
        inner = _model_of(candidate) if typing.get_args(candidate) else None
        if inner is not None:
            return inner
    return None


def explain(path: str) -> str:
    from smarter.llm import plugins

    from smarter_admin.models import Metadata

    parts = [p for p in path.split(".") if p]
    if not parts:
        raise failures.UsageProblem("explain what? e.g. smarter explain llmclient.spec.config")
    kinds = _kinds()
    word = parts[0].lower()
    plugin_kinds = {k.lower(): k for k in (*plugins.plugin_manifest_kinds(), *plugins.connection_manifest_kinds())}
    if word not in kinds and word not in plugin_kinds:
        from smarter.schema import did_you_mean

        known = sorted({*(k for k, _ in kinds.values()), *plugin_kinds.values()})
        raise failures.UsageProblem(f"no manifest kind {parts[0]!r}{did_you_mean(parts[0], [k.lower() for k in known])}", f"one of: {', '.join(known)}")
    kind, spec = kinds.get(word) or (plugin_kinds[word], None)
    top = {"apiVersion": ("string", "smarter.sh/v1"), "kind": ("string", kind), "metadata": ("object", Metadata), "spec": ("object", spec)}
    lines = [f"KIND:     {kind}", "VERSION:  smarter.sh/v1", ""]
    if len(parts) == 1:
        lines += ["FIELDS:"] + [f"  {name}\t<{t}>" + ("" if name in ("metadata", "spec") else f"  {value}") for name, (t, value) in top.items()]
        return "\n".join(lines).expandtabs(24)
    if parts[1] not in top:
        raise failures.UsageProblem(f"{kind} has no field {parts[1]!r}", f"fields: {', '.join(top)}")
    model = top[parts[1]][1]
    if model is None:
        return "\n".join([*lines, f"FIELD:    {parts[1]}", "", f"The spec of a {kind} is validated by its plugin kind (see `smarter plugin kinds`) and by the"
                          " examples in docs/plugins.md; `smarter apply --dry-run` checks a manifest without storing it."])
    for i, name in enumerate(parts[2:], start=2):
        field = model.model_fields.get(name)
        inner = _model_of(field.annotation) if field is not None else None
        if inner is None:
            raise failures.UsageProblem(f"{'.'.join(parts[:i])} has no object field {name!r}", f"fields: {', '.join(model.model_fields)}")
        model = inner
    lines += [f"FIELD:    {'.'.join(parts[1:])} <object>", ""]
    doc = " ".join((model.__doc__ or "").split())
    if doc and not doc.startswith(("Create a new model", "A base class")):
        lines += ["DESCRIPTION:", f"  {doc}", ""]
    lines.append("FIELDS:")
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        note = "" if default in (None, [], {}) else f"  (default {default!r})"
        lines.append(f"  {name}\t<{_type_name(field.annotation)}>{' required' if field.is_required() else ''}{note}")
        if field.description:
            lines.append(f"    {field.description}")
    return "\n".join(lines).expandtabs(28)
