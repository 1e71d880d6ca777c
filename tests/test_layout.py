"""The layout's rules (DESIGN.md "Layout") hold, and the contracts that state them bite.

``lint-imports`` checks the import-linter contracts in ``.importlinter``. A copy of
the tree with one forbidden import added must fail them: a contract that never
fails would keep nothing true.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "workers", "storage", "providers")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--config", str(root / ".importlinter"), "--no-cache"], cwd=root,
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(root),
                                                                          "PATH": "/usr/bin:/bin"})


def test_the_import_contracts_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "forbidden"), [
    ("storage/users.py", "import app.errors"),
    ("providers/openai.py", "import app.config"),
    ("app/gateway/pipeline.py", "import workers.actors"),
    ("app/identity/passwords.py", "import app.api.auth"),
    ("app/dashboard/pages.py", "import storage.loop_events"),
    ("app/dashboard/webhooks.py", "import storage.webhooks"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, forbidden):
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.json"))
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{forbidden}  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_no_import_cycle_counting_imports_inside_functions():
    import grimp

    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = [(module, imported) for module in graph.modules
              for imported in graph.find_modules_directly_imported_by(module)
              if graph.chain_exists(importer=imported, imported=module)]
    assert cycles == []


# Imports that run late on purpose, each for the reason given beside it.
LATE_IMPORTS = {
    ("app/__init__.py", "create_app"),  # importing the package must do nothing
    ("storage/database.py", "_make_psycopg_cooperative"),  # only under gevent's patching
    ("app/compliance/bias/stats.py", "_scipy"),  # SciPy in the workers that test, not in web processes
    ("app/compliance/reports/jobs.py", "run"),  # reportlab in the worker that writes reports
}


def test_imports_run_at_the_top_of_modules_except_where_late_on_purpose():
    import ast

    found = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for function in ast.walk(tree):
                if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    if any(isinstance(node, ast.Import | ast.ImportFrom) for node in ast.walk(function)):
                        found.add((str(path.relative_to(REPO)), function.name))
    assert found <= LATE_IMPORTS


def test_the_web_app_loads_no_library_only_a_worker_needs(tmp_path):
    # SciPy (bias statistics) and reportlab (PDF reports) add tens of MiB to every web process.
    probe = ("import sys; from app import create_app; from app.config import Settings; "
             f"create_app(Settings(database_url='sqlite:///{tmp_path}/web.db', secret_key='k' * 32)); "
             "print(sorted(m for m in ('scipy', 'numpy', 'reportlab') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                            check=True, timeout=120).stdout.split("\n")[-2]
    assert loaded == "[]"
