"""The layers of shared/ and the operator tooling (issue 14, README "Layout"), checked on every run.

`lint-imports` checks the contracts in pyproject.toml ([tool.importlinter]): shared/'s layers point
one way (web → messaging → observe → domain → kernel → organisation → contract → settings), no service imports
another, shared/ never imports a service, and neither imports the operator tooling (jusou/). The
import graph of shared/, jusou/ and services/ has no cycle, typing-only imports included; and only the
runner loads a service's modules by the service's name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_layers_import_contracts_are_kept() -> None:
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "4 kept" in done.stdout, done.stdout


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_layers_no_import_cycle() -> None:
    graph = grimp.build_graph("shared", "jusou", "services", cache_dir=None)
    assert cycles(graph) == []


#: The modules that may import a module by a name computed at run time: the runner (the one place that maps
#: a service's name to its modules) and the table of moved stored topics (shared modules, named in the table).
DYNAMIC_IMPORTS_ALLOWED = {"jusou/runner.py", "shared/kernel/moved.py"}


def dynamic_imports(path: Path) -> list[int]:
    """The lines of `path` that import a module by a computed name (importlib.import_module, __import__)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                found.append(node.lineno)
    return found


def test_layers_nothing_loads_a_service_by_name_but_the_runner() -> None:
    """shared/ is given what it needs of the services (natsauth, asyncapi); verify, status and the CLI ask
    jusou/runner.py, which is the one place that loads services/<name>/ modules by the service's name."""
    found = {str(path.relative_to(ROOT)): lines for package in ("shared", "jusou", "services")
             for path in sorted((ROOT / package).rglob("*.py")) if (lines := dynamic_imports(path))}
    assert set(found) <= DYNAMIC_IMPORTS_ALLOWED, {p: n for p, n in found.items() if p not in DYNAMIC_IMPORTS_ALLOWED}
    assert "jusou/runner.py" in found  # the check sees the runner's own import_module
