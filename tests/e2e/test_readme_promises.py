"""What README.md names, checked against the tree: every dependency of pyproject.toml (runtime and test extras) has a
row in "Why each dependency", and every package a row names is one the project declares; every path the README or its
Layout names exists; every link to docs/ leads to a file; every `jusou …` line of its shell blocks is a command with
options the parser has; the figures it quotes (the suite's NATS port, the number of alerts) are the tree's. No suite is
started: these are cheap, and they keep a new user's first page true as the code moves (docs/architecture.md: "README 'Why each dependency' gets a row").
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# named in the table though not a Python package of pyproject: Debian's promtool (CI only)
NOT_IN_PYPROJECT = {"prometheus"}


def section(title: str, level: str = "##") -> str:
    """The README's section (`##`) or subsection (`###`) of that title, to the next heading of its level or above."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{level} {title}")
    ends = [i for i in (text.find(f"\n{h} ", start + 1) for h in ("##", "###")[:len(level) - 1]) if i > 0]
    return text[start:min(ends, default=len(text))]


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


def test_readme_jusou_commands_and_their_options_exist() -> None:
    """Every `jusou …` line of the README's shell blocks names a command and options the `jusou` parser has."""
    import argparse

    from jusou.cli import parser

    def commands(node: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next((dict(a.choices) for a in node._actions if isinstance(a, argparse._SubParsersAction)), {})

    def options(node: argparse.ArgumentParser) -> set[str]:
        return {option for action in node._actions for option in action.option_strings}

    wrong: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL):
        for line in block.splitlines():
            found = re.search(r"(?:^|[\s(])(?:\.venv/bin/)?jusou ([^#|)]*)", line)
            if not found or re.search(r"-n jusou|kubectl", line):
                continue
            node, path = parser(), []
            for word in found[1].replace(";", " ").split():
                if word.startswith("-"):
                    if word.split("=")[0] not in options(node):
                        wrong.append(f"jusou {' '.join(path)}: no option {word} ({line.strip()})")
                elif word in commands(node):
                    node = commands(node)[word]
                    path.append(word)
            if not path and "--version" not in found[1]:
                wrong.append(f"no jusou command in: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_readme_figures_it_names_are_the_trees() -> None:
    """The suite's own NATS port (4222 is often a system NATS's) and the number of alert rules."""
    from shared import settings

    text = README.read_text(encoding="utf-8")
    assert settings.DEFAULT_NATS_PORT == 4223 and "**4223** by default (`JUSOU_NATS_PORT` changes it)" in text
    rules = (ROOT / "deploy" / "prometheus" / "rules" / "jusou.yml").read_text(encoding="utf-8")
    alerts = len(re.findall(r"^\s*- alert:", rules, re.MULTILINE))
    assert f"`deploy/prometheus/rules/jusou.yml` holds {alerts} alerts" in text, f"the rules hold {alerts} alerts"


def test_readme_names_every_role_of_the_policy() -> None:
    """'Staff, roles and tokens' lists the roles shared/web/policy.py holds, each with its Japanese title."""
    from shared.web.policy import ROLES

    text = section("Staff, roles and tokens", "###")
    unnamed = sorted(code for code in ROLES if not re.search(rf"\b{code}\b", text))
    assert not unnamed, f"README's 'Staff, roles and tokens' does not name the roles {unnamed}"
