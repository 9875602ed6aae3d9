"""A municipality or tenants file that cannot be read is refused naming the variable that named it (README,
Configuration: "a message naming the variable"): it named the path only (the operator review, session 20)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start(variable: str, value: str, call: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, variable: value, "PYTHONPATH": str(ROOT)}
    env.pop("JUSOU_TENANTS_FILE" if variable != "JUSOU_TENANTS_FILE" else "JUSOU_MUNICIPALITY_FILE", None)
    return subprocess.run([sys.executable, "-c", call], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_municipality_file_that_cannot_be_read_is_refused_naming_its_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.toml"
    done = _start("JUSOU_MUNICIPALITY_FILE", str(missing),
                  "from shared.organisation.reference import exit_if_invalid; exit_if_invalid()")
    assert done.returncode == 2, done.stderr
    assert str(missing) in done.stderr and "JUSOU_MUNICIPALITY_FILE" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_tenants_file_that_cannot_be_read_is_refused_naming_its_variable(tmp_path: Path) -> None:
    missing = tmp_path / "tenants.toml"
    done = _start("JUSOU_TENANTS_FILE", str(missing), "from shared.tenancy import exit_if_invalid; exit_if_invalid()")
    assert done.returncode == 2, done.stderr
    assert str(missing) in done.stderr and "JUSOU_TENANTS_FILE" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
