"""What README.md names, checked against the tree: every dependency of pyproject.toml (runtime and test extras) has a
row in "Why each dependency", and every package a row names is one the project declares; every path the README or its
Layout names exists; every link to docs/ leads to a file. No suite is started: these are cheap, and they keep a new
user's first page true as the code moves (docs/architecture.md: "README 'Why each dependency' gets a row").
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# named in the table though not a Python package of pyproject: Debian's promtool (CI only)
NOT_IN_PYPROJECT = {"prometheus"}


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def canonical(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;,(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"runtime": {canonical(r) for r in project["dependencies"]}}
    groups |= {extra: {canonical(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    return groups


def named_in_table() -> set[str]:
    rows = [line for line in section("Why each dependency").splitlines()
            if line.startswith("| ") and not line.startswith("| dependency |")]
    names: set[str] = set()
    for row in rows:
        cell = re.sub(r"\([^)]*\)|\[[^]]*\]", "", row.split("|")[1])  # "(with cryptography)", "(tests)", "[binary,pool]"
        names |= {canonical(name) for name in cell.split(",") if name.strip()}
    return names


def test_readme_names_why_each_dependency_of_pyproject() -> None:
    table = named_in_table()
    for group, packages in declared().items():
        missing = sorted(packages - table)
        assert not missing, f"README 'Why each dependency' lacks a row for {group} dependencies {missing}"


def test_readme_dependency_rows_name_declared_packages() -> None:
    everything = set().union(*declared().values()) | {"cryptography"}  # eventsourcing[cryptography]'s extra
    unknown = sorted(named_in_table() - everything - NOT_IN_PYPROJECT)
    assert not unknown, f"README 'Why each dependency' names packages pyproject.toml does not declare: {unknown}"


def test_readme_layout_names_paths_that_exist() -> None:
    """Each top-level entry of the Layout block, each `shared/` sub-package, and each file it names under them."""
    block = re.search(r"```\n(.*?)```", section("Layout"), re.DOTALL)
    assert block
    missing: list[str] = []
    top = ""
    for line in block[1].splitlines():
        entry = re.match(r"^(\S+)\s", line + " ")
        sub = re.match(r"^  (\S+/)\s", line)
        if entry:
            top = entry[1].replace("<name>", "intake")
            if not (ROOT / top).exists():
                missing.append(top)
        elif sub and top == "shared/" and not (ROOT / top / sub[1]).exists():
            missing.append(top + sub[1])
    assert not missing, f"README's Layout names what is not in the tree: {missing}"


def test_readme_paths_and_docs_links_exist() -> None:
    text = README.read_text(encoding="utf-8")
    links = {m for m in re.findall(r"\]\(([^)#\s]+)", text) if not m.startswith("http")}
    paths = set(re.findall(r"(?<![\w/.<-])((?:tests|docs|shared|services|jusou|deploy|bench|examples|packages)/"
                           r"[A-Za-z0-9_./-]*[A-Za-z0-9_])(?![\w*<])", text))
    missing = sorted(p for p in links | paths if not (ROOT / p).exists())
    assert not missing, f"README.md names paths that do not exist: {missing}"
