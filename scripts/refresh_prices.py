"""Refresh the vendored model price map from LiteLLM's published data.

LiteLLM keeps a maintained price map (`model_prices_and_context_window.json`,
shipped in the `litellm` package as `model_prices_and_context_window_backup.json`).
We vendor a trimmed copy at a pinned version: chat models only, and only the
fields pricing needs. `make prices` runs this against the LiteLLM the bench
installs (.venv-litellm); `--from PATH` reads any copy of the file.

    python scripts/refresh_prices.py [--from PATH] [--version X.Y.Z]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "layers" / "core" / "smarter" / "tenancy" / "model_prices.json"
# The providers smarter has built in (smarter.llm.providers), by LiteLLM's provider names.
PROVIDERS = ("openai", "anthropic", "gemini", "mistral", "together_ai", "fireworks_ai", "groq")
FIELDS = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost", "max_output_tokens", "litellm_provider")
SOURCE_NAME = "model_prices_and_context_window_backup.json"


def _find_litellm() -> tuple[Path, str]:
    for venv in (ROOT / ".venv-litellm", ROOT / ".venv"):
        for found in glob.glob(str(venv / "lib" / "python3*" / "site-packages" / "litellm" / SOURCE_NAME)):
            version = "unknown"
            for meta in glob.glob(str(Path(found).parent.parent / "litellm-*.dist-info")):
                version = Path(meta).name.removeprefix("litellm-").removesuffix(".dist-info")
            return Path(found), version
    raise SystemExit(f"no {SOURCE_NAME} found: run `make bench` once (it installs LiteLLM in .venv-litellm) or pass --from PATH")


def trim(data: dict) -> dict[str, dict]:
    models = {}
    for name, entry in sorted(data.items()):
        if name == "sample_spec" or not isinstance(entry, dict) or entry.get("mode") != "chat":
            continue
        if entry.get("litellm_provider") not in PROVIDERS:
            continue
        if not isinstance(entry.get("input_cost_per_token"), (int, float)) or not isinstance(entry.get("output_cost_per_token"), (int, float)):
            continue
        models[name] = {k: entry[k] for k in FIELDS if k in entry}
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help=f"a copy of LiteLLM's {SOURCE_NAME}")
    parser.add_argument("--version", help="the LiteLLM version the file comes from")
    args = parser.parse_args(argv)
    source, version = (args.source, args.version or "unknown") if args.source else _find_litellm()
    models = trim(json.loads(source.read_text(encoding="utf-8")))
    out = {
        "source": f"LiteLLM {version}, litellm/{SOURCE_NAME} (https://github.com/BerriAI/litellm), trimmed by scripts/refresh_prices.py",
        "litellm_version": version,
        "unit": "USD per token",
        "models": models,
    }
    # One model per line: small to load at cold start, readable in a diff.
    lines = [f"{json.dumps(name)}: {json.dumps(entry, separators=(',', ':'))}" for name, entry in models.items()]
    head = json.dumps({k: v for k, v in out.items() if k != "models"}, separators=(",", ": "))[:-1]
    TARGET.write_text(head + ', "models": {\n' + ",\n".join(lines) + "\n}}\n", encoding="utf-8")
    print(f"{len(models)} chat models from LiteLLM {version} written to {TARGET.relative_to(ROOT)} ({TARGET.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
