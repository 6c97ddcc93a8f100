"""The Tracer each function creates at init: Powertools' when tracing is on,
a no-op with the same decorators when it is off.

Powertools' `Tracer()` imports the X-Ray SDK in its constructor even when
tracing is disabled (it builds the provider before it looks at `disabled`),
and that import is 0.1-0.2 s of every cold start. Tracing is off outside
Lambda, under `sam local`, and wherever POWERTOOLS_TRACE_DISABLED is set, so
there the SDK is not imported at all. The decision is Powertools' own rule
(`Tracer._is_tracer_disabled`), restated here so that deciding costs no import;
tests/unit/test_tracing.py checks the two agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

# The environment variables Powertools reads (aws_lambda_powertools.shared.constants).
TRACE_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"
LAMBDA_TASK_ROOT_ENV = "LAMBDA_TASK_ROOT"
SAM_LOCAL_ENV = "AWS_SAM_LOCAL"
CHALICE_LOCAL_ENV = "AWS_CHALICE_CLI_MODE"
TRUTHY = {"1", "y", "yes", "t", "true", "on"}  # Powertools' strtobool


def tracing_enabled(env: dict[str, str] | None = None) -> bool:
    """Whether Powertools would trace: in Lambda, not in an emulator, not disabled."""
    env = os.environ if env is None else env
    if env.get(TRACE_DISABLED_ENV, "false").lower() in TRUTHY:
        return False
    if not env.get(LAMBDA_TASK_ROOT_ENV) or env.get(SAM_LOCAL_ENV) or env.get(CHALICE_LOCAL_ENV):
        return False
    return True


class NoOpTracer:
    """What the functions use of Powertools' Tracer, doing nothing: the handler
    decorators return the function unchanged, so a disabled tracer costs no
    CPU per request either."""

    disabled = True

    def capture_lambda_handler(self, lambda_handler: Callable | None = None, **_options: Any) -> Callable:
        if lambda_handler is None:
            return lambda handler: handler
        return lambda_handler

    def capture_method(self, method: Callable | None = None, **_options: Any) -> Callable:
        if method is None:
            return lambda function: function
        return method

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        pass

    def patch(self, modules: Sequence[str] | None = None) -> None:
        pass

    def ignore_endpoint(self, hostname: str | None = None, urls: list[str] | None = None) -> None:
        pass


def tracer(patch_modules: Sequence[str] = ("botocore",), env: dict[str, str] | None = None) -> Any:
    """Powertools' Tracer patching `patch_modules` when tracing is on, else a NoOpTracer."""
    if not tracing_enabled(env):
        return NoOpTracer()
    from aws_lambda_powertools import Tracer  # noqa: PLC0415  (imports the X-Ray SDK)

    return Tracer(patch_modules=tuple(patch_modules))
