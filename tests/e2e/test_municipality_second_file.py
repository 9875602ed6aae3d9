"""The suite on a second municipality's file (issue 18): every test module whose outcome can depend on the municipality
file runs again on 架空市's file (shared/organisation/municipalities/kakushi.toml: other divisions, counters, partners
and names), in a pytest of its own with `JUSOU_TEST_MUNICIPALITY=kakushi`.

What runs there is everything under tests/ but the modules listed below, each with its reason:
- `READ_NO_MUNICIPALITY_FILE`: modules that provably read no municipality file; a test here checks it (their imports,
  also those of the programs they run, reach neither shared.organisation nor tests/support/municipality.py, and they
  use no suite or server fixture), so the list cannot silently rot;
- `NOT_ON_THE_SECOND_FILE`: modules that do depend on the file but are left out for a stated reason (they name their
  own file; this module).

The tests name divisions, counters, concern fields and partners by role (tests/support/municipality.py), never by
Chofu's codes, so they pass on either file; this run proves it in CI. To run any test on the second file yourself:

    JUSOU_TEST_MUNICIPALITY=kakushi .venv/bin/python -m pytest tests/e2e/test_journey.py

(`JUSOU_TEST_MUNICIPALITY` takes a shipped file's name or a path; every suite the tests start inherits the file.)
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from support.municipality import IS_DEFAULT, TEST_VARIABLE

from shared.organisation.reference import VARIABLE

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

#: Left out of the second run because they read no municipality file: neither directly, nor through a running suite,
#: nor through shared.organisation (`test_second_file_left_out_modules_read_no_municipality_file` checks each).
READ_NO_MUNICIPALITY_FILE: tuple[tuple[str, str], ...] = (
    ("tests/contracts/test_contract_package.py", "builds the contract package (shared/contract) and parses events in a venv"),
    ("tests/contracts/test_import_layers.py", "import-linter and grimp over the source: the import graph"),
    ("tests/contracts/test_lint.py", "ruff over the source tree"),
    ("tests/contracts/test_schemas.py", "the event models of shared/contract against the checked-in JSON schemas"),
    ("tests/contracts/test_types.py", "mypy over the source tree"),
    ("tests/integration/test_bench_recorder_runs.py", "the bench's raw SQLite recorder"),
    ("tests/security/test_secrets.py", "scans the committed files for keys and secrets"),
    ("tests/unit/test_bench_profile.py", "the bench's profile reader on a sample"),
    ("tests/unit/test_domain_purity.py", "reads the imports of the services' domain modules"),
    ("tests/unit/test_library_adapter.py", "the eventsourcing adapter of shared/kernel"),
    ("tests/unit/test_logs.py", "log formats of shared/observe"),
    ("tests/unit/test_tracing.py", "tracing of shared/observe on a bare FastAPI app"),
    ("tests/unit/test_wareki.py", "Japanese era dates"),
)
#: Left out though their outcome can depend on the file, each for the reason given.
NOT_ON_THE_SECOND_FILE: tuple[tuple[str, str], ...] = (
    (THIS, "this module: it starts the second run"),
    ("tests/e2e/test_other_municipality.py",
     "runs on 架空市's file already, set by itself (reorganised on a day of its own) for every suite it starts"),
    # for now: still name Chofu's community programs and divisions (kaigo-yobo, kinryoku-10, children-policy); to be
    # named by role (support/municipality.py program_of), then taken off this list
    ("tests/unit/test_community.py", "names Chofu's community programs by code (to be made role-based)"),
    ("tests/unit/test_community_activities.py", "names Chofu's community programs and divisions (to be made role-based)"),
    # for CI's time (each would add minutes; each runs on the default file): the machinery under faults, replicas and
    # backups, the walks of every route and page; the journeys they drive run on the second file in test_journey,
    # test_scenarios and test_branches, and the pages in the tests of tests/ui
    ("tests/faults/test_faults.py", "services, NATS and stores killed under journeys: the bus and stores' machinery"),
    ("tests/faults/test_stream_tail.py", "the stream's tail lost and republished: the relay's chain"),
    ("tests/faults/test_way_back.py", "partitions switched off under journeys (only with JUSOU_FAULTS_PARTITIONS, by hand)"),
    ("tests/scaleout/test_scaleout.py", "replicas killed behind a balancer: the processes' machinery"),
    ("tests/scaleout/test_shared_store.py", "replicas sharing one PostgreSQL store"),
    ("tests/e2e/test_backup_restore.py", "backup, restore, rebuild and verify: files, dumps and the stream"),
    ("tests/e2e/test_verify.py", "jusou audit verify against the stream: stores and seals"),
    ("tests/security/test_schemathesis.py", "generated requests against each OpenAPI document: the HTTP layer"),
    ("tests/ui/test_accessibility.py", "axe over every page: markup; the pages' content on the file runs in tests/ui"),
    ("tests/ui/test_narrow_screen_ui.py", "every page at 360 px: the style sheet's layout; the content runs in tests/ui"),
    ("tests/ui/test_ui_test_timeout.py", "the UI tests' per-test timeout, on a probe of its own: pytest's machinery"),
    ("tests/ui/test_closing_a_tab_ui.py", "chromium closing tabs against a server of the test's own: no suite, no file"),
    ("tests/integration/test_bench_smoke.py", "the bench's harness"),
)
#: Tests of the modules that run, deselected on the second file for CI's time (organisation-independent walks).
DESELECTED_ON_THE_SECOND_FILE: tuple[tuple[str, str], ...] = (
    ("tests/security/test_policy.py::test_policy_every_role_on_every_endpoint_of_every_service",
     "every role on every route: the policy's table; the tests of its division rules run"),
    ("tests/security/test_policy.py::test_policy_every_page_shows_only_the_forms_its_reader_may_use",
     "every page as every role: the policy's table"),
    (("tests/security/test_trust_boundaries.py::"
      "test_trust_scope_every_case_route_of_every_service_refuses_another_divisions_supervisor"),
     "every case route as another division's supervisor: the scope's refusals by code are the same on any file"),
)


def left_out() -> list[str]:
    return [path for path, _ in (*READ_NO_MUNICIPALITY_FILE, *NOT_ON_THE_SECOND_FILE)]


def second_run_arguments() -> list[str]:
    """pytest's arguments for the second run: everything under tests/ but the modules left out, with their reasons."""
    return ["tests", *(f"--ignore={path}" for path in left_out()),
            *(f"--deselect={test}" for test, _ in DESELECTED_ON_THE_SECOND_FILE)]


#: Set by `python3 dev.py test` (CI's command): the second run starts when the first has collected its tests and runs
#: beside it (tests/support/second_file_early.py); this module's test, moved to the first run's end, waits for it.
#: The tests mostly wait (suites starting, polls), so the two runs share CI's two cores: see docs/testing.md.
EARLY = "JUSOU_SECOND_FILE_EARLY"
#: seconds the second run may take, from its start
SECOND_RUN_SECONDS = 1800
_running: dict[str, tuple[subprocess.Popen[bytes], Path, float]] = {}


def start_second_run(report: Path) -> subprocess.Popen[bytes]:
    """Start the second run (a pytest of its own on 架空市's file), its output into `report`; it is not waited for."""
    if "run" in _running:
        return _running["run"][0]
    # its own accounts and keys (JUSOU_AUTH_DIR): the same staff ids sit in other divisions there
    env = {k: v for k, v in os.environ.items() if k not in (VARIABLE, "JUSOU_AUTH_DIR", EARLY)} | {TEST_VARIABLE: "kakushi"}
    report.parent.mkdir(parents=True, exist_ok=True)
    with report.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rfE", "--durations=15",
             *second_run_arguments()],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    _running["run"] = (process, report, time.monotonic())
    return process


def stop_second_run() -> None:
    """The first run ends without having waited for the second (interrupted, -x, deselected): stop it."""
    if "run" in _running:
        process = _running.pop("run")[0]
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


# Only when this whole run is already on another file (`JUSOU_TEST_MUNICIPALITY=kakushi pytest tests`): its modules run
# there themselves, and running them again here would test the same file twice. CI runs on the default file, where this
# never skips.
@pytest.mark.skipif(not IS_DEFAULT, reason="this whole run is on another municipality's file already")
def test_second_file_every_module_that_can_depend_on_the_file_passes_on_another_municipalitys_file(
    artifacts: Path,
) -> None:
    report = artifacts / "kakushi-run.txt"
    process = start_second_run(report)  # or, under dev.py test, the one started beside this run at its beginning
    _, report, started = _running["run"]
    try:
        process.wait(timeout=max(1.0, SECOND_RUN_SECONDS - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        stop_second_run()
        pytest.fail(f"the run on kakushi.toml took more than {SECOND_RUN_SECONDS} s ({report})")
    _running.pop("run", None)
    said = report.read_text(encoding="utf-8", errors="replace")
    # pytest's last line: "1581 passed, 3 deselected, 73 warnings in 481.15s (0:08:01)" (-q: no "=" around it)
    summary = next((line.strip("= ") for line in reversed(said.strip().splitlines())
                    if re.search(r"\d+ (passed|failed|error)", line) and " in " in line), "")
    print(f"\non 架空市's file: {summary}")
    assert process.returncode == 0, f"on kakushi.toml ({report}):\n{said[-8000:]}"
    assert " passed" in summary and "skipped" not in summary, summary


# The guard: what is left out must stay left out for its reason.

#: Where a module's import may lead to reading the municipality file.
READS_THE_FILE = ("shared.organisation", "support.municipality")
#: Fixtures a module that reads no municipality file may use: pytest's own and the artifacts folder. The suite
#: fixtures (shared_suite, module_suite, running_suite, journey, ui_suite, walk_suite, own_suite, seeded …), the
#: browser and the servers (nats, postgres …) are not here.
FIXTURES_WITHOUT_THE_FILE = frozenset({
    "request", "tmp_path", "tmp_path_factory", "tmpdir", "tmpdir_factory", "monkeypatch", "capsys", "capsysbinary",
    "capfd", "capfdbinary", "caplog", "recwarn", "pytestconfig", "record_property", "record_testsuite_property",
    "cache", "doctest_namespace", "artifacts",
})


def module_file(name: str) -> Path | None:
    """The file of project or test-support module `name` (None: the standard library or a dependency)."""
    for base in (ROOT, TESTS):
        path = base.joinpath(*name.split("."))
        if (path / "__init__.py").is_file():
            return path / "__init__.py"
        if path.with_suffix(".py").is_file():
            return path.with_suffix(".py")
    return None


def module_name(path: Path) -> str:
    resolved = path.resolve()
    base = next((b for b in (TESTS, ROOT) if resolved.is_relative_to(b)), resolved.parent)
    relative = resolved.relative_to(base).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def console_scripts() -> dict[str, str]:
    """The project's commands (pyproject.toml [project.scripts]) by name → their module."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return {name: target.split(":")[0] for name, target in tomllib.load(file)["project"]["scripts"].items()}


def imports_in(tree: ast.AST, package: str) -> Iterator[str]:
    """Every module a tree imports, anywhere in it (functions included), with the names imported from it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def runs_in(tree: ast.AST, scripts: dict[str, str]) -> Iterator[str]:
    """Modules a test file runs in another process: the Python programs in its strings, `-m module` in its argument
    lists, and the project's commands (`jusou`) at the head of an argument list or at the end of a path."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "import " in node.value:
            try:
                program = ast.parse(node.value)
            except SyntaxError:
                continue
            yield from imports_in(program, "")
        elif isinstance(node, ast.List | ast.Tuple) and node.elts:
            values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            for flag, after in pairwise(values):
                if flag == "-m" and isinstance(after, str):
                    yield from (after, f"{after}.__main__")
            if values[0] in scripts:
                yield scripts[str(values[0])]
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant)
              and node.right.value in scripts):
            yield scripts[str(node.right.value)]


def reached_from(path: Path) -> dict[str, str]:
    """Every project and test-support module `path` reaches by importing or running it → the module that leads there."""
    scripts = console_scripts()
    reached: dict[str, str] = {}
    todo = [(module_name(path), path, "")]
    while todo:
        name, file, via = todo.pop()
        if name in reached:
            continue
        reached[name] = via
        tree = ast.parse(file.read_text(encoding="utf-8"))
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        runs = runs_in(tree, scripts) if not file.resolve().is_relative_to(ROOT) or file.resolve().is_relative_to(TESTS) \
            else ()
        for found in {*imports_in(tree, package), *runs}:
            parts = found.split(".")
            for end in range(1, len(parts) + 1):  # a package's __init__ runs before its module
                prefix = ".".join(parts[:end])
                target = module_file(prefix)
                if target is not None and prefix not in reached:
                    todo.append((prefix, target, name))
    return reached


def way_to(reached: dict[str, str], name: str) -> str:
    chain = [name]
    while reached.get(chain[-1]):
        chain.append(reached[chain[-1]])
    return " ← ".join(chain)


def fixtures_used(path: Path) -> set[str]:
    """The fixtures a module's tests ask for that the module does not define itself out of allowed ones: its tests'
    and fixtures' parameters, `usefixtures`, and the autouse fixtures of the conftest.py files above it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own: dict[str, set[str]] = {}
    wanted: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            params = {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]} - {"self", "cls"}
            decorators = [ast.unparse(d) for d in node.decorator_list]
            params -= {name.strip() for d in node.decorator_list if "parametrize" in ast.unparse(d)
                       for name in _parametrized_names(d)}
            if any("fixture" in d for d in decorators):
                own[node.name] = params
            elif node.name.startswith("test"):
                wanted |= params
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("usefixtures"):
            wanted |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    for conftest in _conftests_above(path):
        for node in ast.walk(ast.parse(conftest.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                    "autouse=True" in ast.unparse(d) for d in node.decorator_list):
                wanted.add(node.name)
    seen: set[str] = set()
    while wanted - seen:
        name = (wanted - seen).pop()
        seen.add(name)
        wanted |= own.get(name, set())
    return {name for name in seen if name not in own}


def _parametrized_names(decorator: ast.expr) -> list[str]:
    if isinstance(decorator, ast.Call) and decorator.args and isinstance(decorator.args[0], ast.Constant):
        return str(decorator.args[0].value).split(",")
    if isinstance(decorator, ast.Call) and decorator.args and isinstance(decorator.args[0], ast.List | ast.Tuple):
        return [e.value for e in decorator.args[0].elts if isinstance(e, ast.Constant)]
    return []


def _conftests_above(path: Path) -> list[Path]:
    folders = [folder for folder in path.resolve().parents if folder.is_relative_to(TESTS)]
    return [folder / "conftest.py" for folder in folders if (folder / "conftest.py").is_file()]


@pytest.mark.parametrize("path", [path for path, _ in READ_NO_MUNICIPALITY_FILE])
def test_second_file_left_out_modules_read_no_municipality_file(path: str) -> None:
    module = ROOT / path
    assert module.is_file(), f"{path} is gone: take it off READ_NO_MUNICIPALITY_FILE"
    reached = reached_from(module)
    reading = sorted(name for name in reached if name.startswith(READS_THE_FILE))
    assert not reading, (f"{path} reaches the municipality file ({way_to(reached, reading[0])}): "
                         "take it off READ_NO_MUNICIPALITY_FILE so that it runs on the second file")
    fixtures = fixtures_used(module) - FIXTURES_WITHOUT_THE_FILE
    assert not fixtures, (f"{path} uses fixtures {sorted(fixtures)} (a suite or a server reads the municipality "
                          "file): take it off READ_NO_MUNICIPALITY_FILE so that it runs on the second file")


def test_second_file_the_guard_sees_a_module_that_reads_the_file(tmp_path: Path) -> None:
    """The guard itself can fail: an import through a helper, a program run with `-m`, and a suite fixture are seen."""
    reached = reached_from(TESTS / "e2e" / "test_other_municipality.py")
    assert any(name.startswith(READS_THE_FILE) for name in reached)
    sample = tmp_path / "test_sample.py"
    sample.write_text("import subprocess, sys\n\n\n@pytest.fixture\ndef mine(running_suite): ...\n\n\n"
                      "def test_x(mine, tmp_path):\n    subprocess.run([sys.executable, '-m', 'bench'])\n", encoding="utf-8")
    reached = reached_from(sample)
    assert any(name.startswith(READS_THE_FILE) for name in reached), "the imports of `-m bench` not followed"
    assert fixtures_used(sample) - FIXTURES_WITHOUT_THE_FILE == {"running_suite"}


def test_second_file_every_module_left_out_is_there_once_with_a_reason() -> None:
    listed = [*READ_NO_MUNICIPALITY_FILE, *NOT_ON_THE_SECOND_FILE]
    paths = [path for path, _ in listed]
    assert len(paths) == len(set(paths)), "a module listed twice"
    assert all(reason.strip() for _, reason in [*listed, *DESELECTED_ON_THE_SECOND_FILE])
    assert [p for p in paths if not (ROOT / p).is_file()] == []
    assert [t for t, _ in DESELECTED_ON_THE_SECOND_FILE if not (ROOT / t.split("::")[0]).is_file()] == []
    assert [t for t, _ in DESELECTED_ON_THE_SECOND_FILE if t.split("::")[0] in paths] == []


def test_second_file_under_dev_py_test_the_second_run_starts_before_the_first_runs_tests_and_is_waited_for_last(
        tmp_path: Path) -> None:
    """`python3 dev.py test` loads tests/support/second_file_early.py: the second run starts when the first has
    collected its tests (before any of them runs), and this module's test is moved to the end to wait for it."""
    mark = tmp_path / "started"
    (tmp_path / "test_municipality_second_file.py").write_text(
        "import os, pathlib\nMARK = pathlib.Path(os.environ['SECOND_RUN_MARK'])\n"
        "def start_second_run(report):\n    MARK.write_text(str(report))\n"
        "def stop_second_run():\n    pass\n"
        f"def {test_second_file_every_module_that_can_depend_on_the_file_passes_on_another_municipalitys_file.__name__}"
        "():\n    assert MARK.exists()\n", encoding="utf-8")
    (tmp_path / "test_z_after.py").write_text(
        "import os, pathlib\ndef test_the_second_run_started_before_this_ran():\n"
        "    assert pathlib.Path(os.environ['SECOND_RUN_MARK']).exists()\n", encoding="utf-8")
    env = os.environ | {"SECOND_RUN_MARK": str(mark), "PYTHONPATH": str(TESTS)}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "support.second_file_early",
                          "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    order = [line.split("::")[0].rsplit("/", 1)[-1] for line in ran.stdout.splitlines() if " PASSED" in line]
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert order == ["test_z_after.py", "test_municipality_second_file.py"], ran.stdout[-3000:]
    assert mark.read_text() == str(ROOT / "test-artifacts" / "kakushi-run.txt")
