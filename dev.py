#!/usr/bin/env python3
"""Set up `.venv` and run Jusou with nothing but Python 3.11+.

    python3 dev.py up [jusou up options]   # the whole suite
    python3 dev.py test [pytest options]   # the tests (default: -q)

The project is (re)installed into `.venv` only when pyproject.toml has changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / "jusou-installed.sha256"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may meet an older python3
        sys.exit(f"Jusou needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except subprocess.CalledProcessError:
            sys.exit("could not create .venv with pip; on Debian/Ubuntu: apt-get install python3-venv")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    print("installing the project into .venv (pip install -e '.[test]')", flush=True)
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "-e", ".[test]"], cwd=ROOT, check=True)
    STAMP.write_text(digest + "\n")


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("up", "test"):
        sys.exit(__doc__)
    command, rest = argv[0], argv[1:]
    ensure_venv()
    os.chdir(ROOT)
    if command == "up":
        os.execv(BIN / "jusou", [str(BIN / "jusou"), "up", *rest])
    os.execv(BIN / "python", [str(BIN / "python"), "-m", "pytest", *(rest or ["-q"])])


if __name__ == "__main__":
    main(sys.argv[1:])
