"""ruff over the whole tree, as `.ci/run` runs the tests: the rules are ruff's defaults of the pinned
version with the two exceptions in pyproject.toml ([tool.ruff.lint]); a finding fails CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"


def test_ruff_finds_nothing_in_the_tree() -> None:
    done = subprocess.run([str(RUFF), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
