"""The layers of docs/ARCHITECTURE.md, held by tests: import contracts (import-linter, in pyproject.toml)
and what imports cannot show, read from the source (AST): views read no files and open no database
sessions, layouts only assemble pages, each through one ``create_page`` of one shape, and server
lifecycle work lives in ``app/lifecycle.py``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Calls that read or write files, or talk to a database, by their (attribute) name.
FILE_AND_DB_CALLS = {
    "open",
    "read_parquet",
    "read_table",
    "read_csv",
    "read_schema",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "ParquetFile",
    "read_row_groups",
    "create_engine",
    "sessionmaker",
    "Session",
}
LIFECYCLE = {"gc", "ctypes", "tracemalloc"}
#: Modules of layouts/ that are not pages: what every page shares.
SHARED_PARTS = ("__init__.py", "common.py", "theme.py")


def _sources(*parts: str) -> list[Path]:
    return sorted(p for p in (ROOT.joinpath(*parts)).rglob("*.py"))


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


@pytest.mark.parametrize("path", _sources("app", "views"), ids=lambda p: str(p.relative_to(ROOT)))
def test_views_read_no_files_and_open_no_database_sessions(path):
    tree = ast.parse(path.read_text(), str(path))
    bad = [
        f"{path.name}:{node.lineno} {_call_name(node)}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _call_name(node) in FILE_AND_DB_CALLS
    ]
    assert not bad, f"a view reads files or talks to the database itself (call a service instead): {bad}"


@pytest.mark.parametrize("path", _sources("layouts"), ids=lambda p: str(p.relative_to(ROOT)))
def test_layouts_only_assemble(path):
    tree = ast.parse(path.read_text(), str(path))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert not imported & LIFECYCLE, f"server lifecycle work belongs in app/lifecycle.py, not {path.name}"
    files = [_call_name(n) for n in ast.walk(tree) if isinstance(n, ast.Call) and _call_name(n) in FILE_AND_DB_CALLS]
    assert not files, f"{path.name} reads files or talks to the database: {files}"
    pages = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_page"]
    if not pages:  # a part the pages share (the template, the theme)
        assert path.name in SHARED_PARTS, f"{path.name}: a page module builds its page in create_page"
        return
    returns = [n for n in ast.walk(pages[0]) if isinstance(n, ast.Return)]
    assert returns and all(isinstance(r.value, ast.Tuple) and len(r.value.elts) == 2 for r in returns), (
        f"{path.name}: create_page returns (page, the session's state or main view) everywhere"
    )


def test_server_lifecycle_lives_in_one_module():
    users = []
    for path in [*_sources("app"), *_sources("layouts")]:
        text = path.read_text()
        if any(word in text for word in ("malloc_trim", "gc.freeze(", "gc.unfreeze(")):
            users.append(path.relative_to(ROOT).as_posix())
    assert users == ["app/lifecycle.py"], users
