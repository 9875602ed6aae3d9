#!/usr/bin/env python3
"""Set up `.venv` and run Jusou with nothing but Python 3.11+.

    python3 dev.py up [jusou up options]   # the whole suite
    python3 dev.py test [pytest options]   # the tests (default: -q --durations=25: the slowest steps at the end;
                                           # the second municipality file's run beside them)
    python3 dev.py lock [uv options]       # refresh the lock files from pyproject.toml (e.g. --upgrade)

Every dependency is installed at the version and hash the lock file pins (requirements-test.lock;
the image installs requirements.lock), then the project itself with no dependencies of its own.
`.venv` is (re)installed only when pyproject.toml or the lock has changed since the last install.
After a change to pyproject.toml's dependencies, run `python3 dev.py lock` and commit both lock
files: versions already pinned stay as they are unless you ask (`--upgrade-package NAME`, `--upgrade`).
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
LOCK = ROOT / "requirements.lock"  # the runtime dependencies: deploy/Dockerfile
TEST_LOCK = ROOT / "requirements-test.lock"  # and the test extras: this script, so CI (.ci/run)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may meet an older python3
        sys.exit(f"Jusou needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except subprocess.CalledProcessError:
            sys.exit("could not create .venv with pip; on Debian/Ubuntu: apt-get install python3-venv")


def install() -> None:
    ensure_venv()
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + TEST_LOCK.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    print(f"installing the locked dependencies into .venv (pip install -r {TEST_LOCK.name})", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(TEST_LOCK)], cwd=ROOT, check=True)
    subprocess.run([*pip, "--no-deps", "-e", "."], cwd=ROOT, check=True)
    STAMP.write_text(digest + "\n")


def lock(options: list[str]) -> None:
    """Both lock files from pyproject.toml with uv, for every platform, with hashes: the runtime first,
    then the test extras constrained by it, so both pin the same release of every shared dependency."""
    ensure_venv()
    if not (BIN / "uv").exists():
        uv_requirement = next(r for r in _test_extras() if r.split(">")[0].split("=")[0].strip() == "uv")
        subprocess.run([str(BIN / "python"), "-m", "pip", "install", uv_requirement], cwd=ROOT, check=True)
    compile_ = [str(BIN / "uv"), "pip", "compile", "pyproject.toml", "--universal", "--python-version", "3.11",
                "--generate-hashes", "--quiet", "--custom-compile-command", "python3 dev.py lock", *options]
    subprocess.run([*compile_, "-o", LOCK.name], cwd=ROOT, check=True)
    subprocess.run([*compile_, "--extra", "test", "-c", LOCK.name, "-o", TEST_LOCK.name], cwd=ROOT, check=True)
    print(f"wrote {LOCK.name} and {TEST_LOCK.name}; commit them with pyproject.toml")


def _test_extras() -> list[str]:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as file:
        return list(tomllib.load(file)["project"]["optional-dependencies"]["test"])


def main(argv: list[str]) -> None:
    if argv and argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return
    if not argv or argv[0] not in ("up", "test", "lock"):
        sys.exit(__doc__)
    command, rest = argv[0], argv[1:]
    if command == "lock":
        lock(rest)
        return
    install()
    os.chdir(ROOT)
    if command == "up":
        os.execv(BIN / "jusou", [str(BIN / "jusou"), "up", *rest])
    # the slowest setups and tests at the end of every run: where CI's time goes (a suite started per module shows);
    # the run on the second municipality's file starts beside this one, as soon as it has collected its tests
    # (tests/support/second_file_early.py; docs/testing.md): its plugin is imported from tests/
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p)
    os.execv(BIN / "python", [str(BIN / "python"), "-m", "pytest", "-p", "support.second_file_early",
                              *(rest or ["-q", "--durations=25"])])


if __name__ == "__main__":
    main(sys.argv[1:])
