"""The package layout is the architecture: these tests fail when an import
crosses it (see docs/architecture.md and [tool.importlinter] in pyproject.toml)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUEST_FUNCTIONS = ("prompt", "passthrough", "usage")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize("function", REQUEST_FUNCTIONS)
def test_request_functions_never_import_the_admin_package(function):
    assert "smarter_admin" not in _imported_roots(ROOT / "functions" / function / "app.py")


def test_the_domains_function_is_the_admin_package_s_only_lambda():
    assert "smarter_admin" in _imported_roots(ROOT / "functions/domains/app.py")


def test_the_console_function_never_loads_the_cli_framework():
    """The console's function imports smarter_admin.console (manifests, export) from the
    AdminLayer, which has no Typer or Rich: those imports must not reach them."""
    code = "import sys, smarter_admin.console; print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_domains_function_never_loads_the_cli_framework():
    """Typer and Rich are the CLI's; the AdminLayer is built without dependencies,
    so the DomainsFunction's import of smarter_admin.domains must not reach them."""
    code = "import sys, smarter_admin.domains; print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr
