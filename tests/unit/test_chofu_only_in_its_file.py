"""Issue 18, "nothing in the domain, pages or reports names Chofu except the default file": the guard of
tests/unit/test_municipality_file.py (Chofu's name, its divisions' and counters' codes, its divisions', counters'
and partners' names) widened to the rest of the file (programs, forums, areas, partners' codes) and to every text a
service shows or sends: templates, scripts, string constants of Python (not docstrings), the contract's JSON schemas
(their descriptions are the AsyncAPI documents'), under services/, shared/ and jusou/.

A name or code of Chofu's file that 架空市's file shares (地域包括支援センター, `outreach`, `ibasho`…) is every city's, and
so is the domain's vocabulary (concern fields, resource kinds, referral sources, meeting kinds) and the programs
beside the 重層的支援体制整備事業 (kind `related`: 居場所づくり, 就労支援, 住居支援, the source's own words)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from shared.organisation.municipality import DATA, DEFAULT_FILE, MunicipalityFile, load

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("services", "shared", "jusou")
SHOWN = (".py", ".html", ".js", ".json", ".css", ".svg")
TABLES = ("divisions", "counters", "programs", "partners", "forums", "areas")


def _entries(model: MunicipalityFile) -> list[tuple[str, str, str]]:
    """(table, code, name) of every entry that names the municipality's organisation or places."""
    return [
        (table, e.code, e.ja)
        for table in TABLES
        for e in getattr(model, table)
        if not (table == "programs" and e.kind == "related")
    ]


def chofus_own() -> tuple[set[str], set[str]]:
    """The codes and names of Chofu's file that 架空市's file has in none of its tables."""
    chofu, kakushi = load(DEFAULT_FILE).model, load(DATA / "kakushi.toml").model
    every = [getattr(kakushi, t) for t in type(kakushi).model_fields if t != "municipality"]
    their_codes = {e.code for rows in every for e in rows}
    their_names = {e.ja for rows in every for e in rows}
    mine = _entries(chofu)
    return {c for _, c, _ in mine} - their_codes, {n for _, _, n in mine} - their_names


def texts_shown(path: Path) -> list[str]:
    """What a file can show or send: a template's or a document's whole text, a module's string constants (not its
    docstrings, which explain the code to its readers)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return [text]
    tree = ast.parse(text)
    documented = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in documented]


def files_shown() -> list[Path]:
    return sorted(
        p
        for folder in FOLDERS
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in SHOWN and "__pycache__" not in p.parts and DATA not in p.parents
    )


def naming(codes: set[str], names: set[str]) -> list[str]:
    """Each file that shows one of `codes` (as a whole token) or `names`, with what it shows."""
    code = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(codes, key=len, reverse=True))) + r")(?![\w-])")
    found = []
    for path in files_shown():
        texts = texts_shown(path)
        hits = {c for t in texts for c in code.findall(t)} | {n for n in names if any(n in t for t in texts)}
        if hits:
            found.append(f"{path.relative_to(ROOT)}: {', '.join(sorted(hits))}")
    return found


def test_issue18_nothing_but_the_default_file_names_chofus_programs_forums_areas_or_partners() -> None:
    codes, names = chofus_own()

    # Chofu's own file is the oracle here, whichever file the run has in force: its literals, never roles
    # (tests/support/municipality.py), which would name 架空市's entries on the second-file run.
    assert {"hokatsuka-kaigi", "cswc", "life-support", "elderly-support"} <= codes
    assert {"相談支援包括化推進会議", "地域福祉コーディネーター事業", "調布ライフサポート", "緑ヶ丘・滝坂エリア"} <= names
    found = naming(codes, names)
    assert not found, "Chofu's organisation named outside its municipality file:\n" + "\n".join(found)


def test_issue18_the_guard_reads_templates_scripts_python_strings_and_schemas_of_services_and_shared() -> None:
    """The guard can fail: it reads what it must (a template, a module's constant, a schema), and skips docstrings."""
    shown = files_shown()
    where = {p.relative_to(ROOT).as_posix() for p in shown}
    assert {
        "services/collaboration/templates/collaboration_council.html",
        "services/community/ui.py",
        "shared/contract/schemas/InitiativeStarted.v1.json",
        "shared/organisation/reference.py",
    } <= where
    assert not any(p.suffix == ".toml" for p in shown)  # the municipality files are where names belong
    module = ROOT / "shared/organisation/reference.py"
    assert "推進会議" in texts_shown(module)  # a constant (COUNCIL_NAME)
    assert not any("The municipality's reference data" in t for t in texts_shown(module))  # its docstring
