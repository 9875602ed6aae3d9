"""A UI test that hangs fails on its own, named, and the run goes on (tests/ui/conftest.py UI_TEST_TIMEOUT, with
pytest-timeout): before, one waiting click held the whole run until CI's 80-minute limit. Runs tests/ui/hang_probe.py
in a pytest of its own with a 15-second timeout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest_timeout  # noqa: F401 - installed with the project's tests (requirements-test.lock): the timeout needs it

ROOT = Path(__file__).resolve().parents[2]


def test_a_hanging_ui_test_fails_named_after_its_timeout_and_the_next_one_runs() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/ui/hang_probe.py"],
        check=False, cwd=ROOT, env={**os.environ, "JUSOU_UI_TEST_TIMEOUT": "15", "COLUMNS": "300"}, capture_output=True,
        text=True, timeout=240)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert "FAILED tests/ui/hang_probe.py::test_a_click_that_waits_for_ever - Failed: Timeout (>15.0s)" in out, out[-3000:]
    assert "1 failed, 2 passed" in out, out[-3000:]
