"""The layout's import rules: the core knows nothing of HTTP servers.

``gateway/http/`` is the only package that imports ``aiohttp.web``; the core (config,
composition, supergraph, operation, planner, executor, subscriptions, events, the
transports) never imports the HTTP edge, so it can be driven without a server.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gateway

PACKAGE = Path(gateway.__file__).parent

EDGE = ("gateway.http",)
"""The HTTP edge: may import ``aiohttp.web``."""

ENTRY_POINTS = ("gateway.__main__", "gateway.cli", "gateway.local.standalone")
"""Command lines: start a server, so they may import the edge (never aiohttp.web)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield _module_name(path), path


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``path`` imports, anywhere in it (functions included)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_walk_sees_every_layer() -> None:
    names = {name for name, _ in _modules()}
    assert {"gateway.engine", "gateway.http.app", "gateway.local.subgraph"} <= names
    imported = set(_imports("gateway.http.app", PACKAGE / "http" / "app.py"))
    assert "aiohttp.web" in imported  # the walk finds `from aiohttp import web`


def test_only_gateway_http_imports_aiohttp_web() -> None:
    offenders = [
        f"{name} imports {imported}"
        for name, path in _modules()
        if not _within(name, EDGE)
        for imported in _imports(name, path)
        if _within(imported, ("aiohttp.web",)) or imported.startswith("aiohttp.web_")
    ]
    assert offenders == []


def test_core_never_imports_the_http_edge() -> None:
    offenders = [
        f"{name} imports {imported}"
        for name, path in _modules()
        if not _within(name, EDGE) and name not in ENTRY_POINTS
        for imported in _imports(name, path)
        if _within(imported, EDGE)
    ]
    assert offenders == []


def test_importing_the_core_loads_no_http_server() -> None:
    core = [
        name
        for name, _ in _modules()
        if not _within(name, EDGE) and name not in ENTRY_POINTS
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules"
        " if m == 'aiohttp.web' or m.startswith(('gateway.http', 'aiohttp.web_'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
