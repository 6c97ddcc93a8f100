"""The shape of a chat completion the prompt path relies on, checked with
pydantic. A module of its own, imported on the first buffered completion: the
passthrough forwards provider answers as they are and never loads pydantic."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smarter.schema import describe_validation_error


# What the chat loop reads of an answer; anything else in it is kept as sent.
class _Function(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    name: str
    arguments: str | dict[str, Any] | None = None


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    id: str | None = None
    function: _Function


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    content: str | list[Any] | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    message: _Message


class _Usage(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class ProviderCompletion(BaseModel):
    """The shape of a chat completion the prompt path relies on."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


def problem(body: dict[str, Any]) -> str | None:
    """What is wrong with a chat completion body, naming each field; None when it has the shape."""
    try:
        ProviderCompletion.model_validate(body)
    except ValidationError as exc:
        return describe_validation_error(exc)
    return None
