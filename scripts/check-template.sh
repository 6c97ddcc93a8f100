#!/usr/bin/env bash
# Lint template.yaml and build every function and layer for arm64, without
# Docker and without AWS credentials. Exits non-zero on any lint finding
# (warnings included) or build failure.
#
# The SAM CLI lives in its own venv (.venv-sam) so its pinned dependencies
# never mix with the project's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SAM_CLI_TELEMETRY=0
# sam needs a region to resolve pseudo parameters; nothing talks to AWS here.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

SAM_VENV=.venv-sam
SAM="$SAM_VENV/bin/sam"
BUILD_DIR=.aws-sam/build

if [[ ! -x "$SAM" ]]; then
    echo "==> creating $SAM_VENV with aws-sam-cli"
    python3 -m venv "$SAM_VENV"
    "$SAM_VENV/bin/pip" install --quiet aws-sam-cli
fi

echo "==> sam validate --lint"
"$SAM" validate --lint --template template.yaml

echo "==> sam build (arm64 layers on $(uname -m), no container)"
start=$SECONDS
"$SAM" build --template template.yaml --build-dir "$BUILD_DIR"
echo "==> sam build took $((SECONDS - start))s"

# The python3.11 builder must have swapped host wheels for aarch64 ones;
# an x86_64 pydantic_core in the layer would only fail at import in Lambda.
deps="$BUILD_DIR/DepsLayer/python"
shopt -s nullglob
core_so=("$deps"/pydantic_core/_pydantic_core.*.so)
if [[ ${#core_so[@]} -eq 0 ]]; then
    echo "error: pydantic_core extension missing from $deps" >&2
    exit 1
fi
wheel_tags=$(cat "$deps"/pydantic_core-*.dist-info/WHEEL 2>/dev/null || true)
if [[ "${core_so[0]}" != *aarch64* ]] || ! grep -q "aarch64" <<<"$wheel_tags"; then
    echo "error: pydantic_core in DepsLayer is not an aarch64 build: ${core_so[0]}" >&2
    exit 1
fi
echo "==> DepsLayer has $(basename "${core_so[0]}")"

for layer in CoreLayer PluginsLayer; do
    if [[ -z "$(ls -A "$BUILD_DIR/$layer/python" 2>/dev/null)" ]]; then
        echo "error: $layer built nothing into $BUILD_DIR/$layer/python" >&2
        exit 1
    fi
done

echo "==> template OK"
