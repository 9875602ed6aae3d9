"""mypy over the three packages, as `.ci/run` runs the tests: its defaults of the pinned version with the
settings and the one override in pyproject.toml ([tool.mypy]); a type error, or a `type: ignore` that no
longer silences anything, fails CI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MYPY = Path(sys.executable).parent / "mypy"


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MYPY), "--config-file", str(ROOT / "pyproject.toml"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def test_mypy_finds_nothing_in_the_packages() -> None:
    done = _mypy()
    assert done.returncode == 0, done.stdout + done.stderr
    # the configuration checks the whole tree, not a corner of it
    checked = re.search(r"no issues found in (\d+) source files", done.stdout)
    assert checked and int(checked.group(1)) >= 90, done.stdout


def test_mypy_configuration_reports_a_type_error(tmp_path: Path) -> None:
    """The same configuration on a module with a wrong return type and a needless ignore: both reported."""
    bad = tmp_path / "bad.py"
    bad.write_text('def f() -> int:\n    return "one"\n\n\nx: int = 1  # type: ignore[assignment]\n', encoding="utf-8")
    done = _mypy(str(bad))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[return-value]" in done.stdout and "[unused-ignore]" in done.stdout, done.stdout
