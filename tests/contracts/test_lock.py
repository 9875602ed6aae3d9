"""The lock files are in step with pyproject.toml, and what runs the tests is what they pin (issue 17).

`requirements.lock` (the runtime: deploy/Dockerfile) and `requirements-test.lock` (with the test
extras: dev.py, so `.ci/run`) are written by `python3 dev.py lock` (uv pip compile, every platform,
with hashes). A dependency added to or changed in pyproject.toml without refreshing them fails here,
naming the command. The checks are offline: the requirements and the installed packages' own metadata.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
REFRESH = "run `python3 dev.py lock` and commit requirements.lock and requirements-test.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;\s*(.+?))?\s*\\?$")


def project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pins(name: str) -> dict[str, tuple[Version, str | None]]:
    """name → (version, marker) of each `name==version [; marker]` line of a lock file."""
    found: dict[str, tuple[Version, str | None]] = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match[1])] = (Version(match[2]), match[3])
    return found


def applies(marker: str | None, extras: tuple[str, ...] = ("",)) -> bool:
    if marker is None:
        return True
    requirement = Requirement(f"x; {marker}")
    assert requirement.marker is not None
    return any(requirement.marker.evaluate({**default_environment(), "extra": extra}) for extra in extras)


def closure(requirements: list[Requirement]) -> dict[str, set[str]]:
    """Every distribution these requirements need here (this platform), with the extras asked of it,
    from the installed packages' metadata: what a resolver must have put in the lock."""
    needed: dict[str, set[str]] = {}
    queue = list(requirements)
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not requirement.marker.evaluate({**default_environment(), "extra": ""}):
            continue
        extras = set(requirement.extras)
        if name in needed and extras <= needed[name]:
            continue
        needed.setdefault(name, set()).update(extras)
        for text in metadata.requires(name) or []:
            child = Requirement(text)
            if child.marker is None or child.marker.evaluate({**default_environment(), "extra": ""}) or any(
                child.marker.evaluate({**default_environment(), "extra": extra}) for extra in needed[name]
            ):
                queue.append(Requirement(re.sub(r";.*$", "", text)))
    return needed


def test_every_dependency_of_pyproject_is_pinned_within_its_range() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    for lock, requirements in (
        (runtime, project()["dependencies"]),
        (test, [*project()["dependencies"], *project()["optional-dependencies"]["test"]]),
    ):
        for text in requirements:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            assert name in lock, f"{requirement.name} is in pyproject.toml but not locked: {REFRESH}"
            version, _ = lock[name]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{requirement.name}: the lock pins {version}, outside pyproject's {requirement.specifier}: {REFRESH}"
            )


def test_both_locks_pin_the_same_release_of_what_they_share() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert set(runtime) <= set(test), sorted(set(runtime) - set(test))
    differ = {name: (runtime[name][0], test[name][0]) for name in runtime if runtime[name][0] != test[name][0]}
    assert not differ, f"{differ}: {REFRESH}"


def test_the_lock_holds_exactly_what_pyproject_needs_on_this_platform() -> None:
    """Nothing missing (an install would fetch an unpinned release) and nothing left over (a removed dependency)."""
    test = pins("requirements-test.lock")
    requirements = [Requirement(t) for t in (*project()["dependencies"], *project()["optional-dependencies"]["test"])]
    needed = set(closure(requirements))
    locked = {name for name, (_, marker) in test.items() if applies(marker)}
    assert not needed - locked, f"needed but not locked: {sorted(needed - locked)}: {REFRESH}"
    assert not locked - needed, f"locked but needed by nothing in pyproject.toml: {sorted(locked - needed)}: {REFRESH}"


def test_every_locked_package_carries_hashes() -> None:
    for name in ("requirements.lock", "requirements-test.lock"):
        text = (ROOT / name).read_text(encoding="utf-8")
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        for entry in entries:
            if PIN.match(entry.splitlines()[0]):
                assert "--hash=sha256:" in entry, f"{name}: {entry.splitlines()[0]} has no hash"


def test_the_environment_running_these_tests_is_the_locked_one() -> None:
    """dev.py installs from the lock; a package here at another release means the venv is stale."""
    stale = {}
    for name, (version, marker) in pins("requirements-test.lock").items():
        if applies(marker):
            installed = Version(metadata.version(name))
            if installed != version:
                stale[name] = f"installed {installed}, locked {version}"
    assert not stale, f"{stale}: `python3 dev.py test` reinstalls .venv from the lock"


def test_jusou_version_is_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from jusou.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"jusou {project()['version']}"
