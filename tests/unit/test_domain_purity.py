"""STYLE 2: the domain knows no framework: standard library, `eventsourcing.domain` and `shared.kernel.journey` only,
and `shared.domain.wareki` (和暦, how staff read a day: a refusal naming a day names it so), itself held to the same rule."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_MODULES = [*sorted(ROOT.glob("services/*/domain.py")), ROOT / "shared" / "domain" / "plan.py", ROOT / "shared" / "kernel" / "journey.py",
                  ROOT / "shared" / "kernel" / "library.py", ROOT / "shared" / "domain" / "wareki.py"]
ALLOWED = {"eventsourcing.domain", "shared.kernel.journey", "shared.kernel.library", "shared.domain.wareki"}


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, anywhere in it (also inside functions)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def allowed(module: str) -> bool:
    return module in ALLOWED or module.split(".")[0] in sys.stdlib_module_names


def test_the_purity_check_sees_every_services_domain() -> None:
    services = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "application.py").exists())

    assert sorted(p.parent.name for p in DOMAIN_MODULES if p.parent.parent.name == "services") == services


def test_the_purity_check_refuses_a_framework_import() -> None:
    assert [m for m in ("pydantic", "eventsourcing.application", "shared.contract.events", ".domain") if allowed(m)] == []


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=[str(p.relative_to(ROOT)) for p in DOMAIN_MODULES])
def test_domain_module_imports_only_the_standard_library_and_eventsourcing_domain(path: Path) -> None:
    forbidden = [m for m in imported_modules(path) if not allowed(m)]

    assert forbidden == [], f"{path.relative_to(ROOT)} imports {', '.join(forbidden)}"
