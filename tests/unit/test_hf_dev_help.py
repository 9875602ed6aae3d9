"""`python3 dev.py --help` is a request, not a mistake (HF, session 20): it prints the usage on stdout and exits 0.
Before, it exited 1 with the usage on stderr, as for a command dev.py does not know (which still exits non-zero)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEV = Path(__file__).resolve().parents[2] / "dev.py"


def test_dev_py_help_prints_the_usage_and_exits_0() -> None:
    for asked in ("--help", "-h", "help"):
        done = subprocess.run([sys.executable, str(DEV), asked], capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, (asked, done.returncode, done.stderr)
        assert "python3 dev.py up" in done.stdout


def test_an_unknown_dev_py_command_still_fails_with_the_usage() -> None:
    done = subprocess.run([sys.executable, str(DEV), "upp"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "python3 dev.py up" in done.stderr
