"""A pytest plugin of `python3 dev.py test` (CI's command: `-p support.second_file_early`): the run on the second
municipality's file (tests/e2e/test_municipality_second_file.py) starts as soon as this run has collected its tests and
runs beside it, instead of after the first run's e2e tests and before its security, UI and unit tests. Its test is moved
to this run's end, where it waits for the second run and reads its report, as it did when it ran the second run itself.

Both runs mostly wait (suites starting, polls, restarts): side by side on CI's two cores, the whole took less wall time
than one after the other (docs/testing.md "What it costs"). Off when the test is not collected or deselected, when
this run is on another file already, or with `JUSOU_SECOND_FILE_EARLY=0`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST = "test_second_file_every_module_that_can_depend_on_the_file_passes_on_another_municipalitys_file"
MODULE = "test_municipality_second_file.py"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.hookimpl(trylast=True)  # after -k, --deselect and the other plugins have chosen
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("JUSOU_SECOND_FILE_EARLY", "1") == "0" or config.option.collectonly:
        return
    found = [item for item in items if item.path.name == MODULE and getattr(item, "originalname", item.name) == TEST]
    if not found or any(item.get_closest_marker("skipif") and item.get_closest_marker("skipif").args[0]  # type: ignore[union-attr]
                        for item in found):
        return
    item = found[0]
    items.remove(item)
    items.append(item)  # last: by then the second run has had the first run's whole length
    item.module.start_second_run(ARTIFACTS / "kakushi-run.txt")  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    """The first run ended without waiting for the second (interrupted, -x): it is stopped, not left running."""
    import sys

    module = next((m for name, m in sys.modules.items() if name.endswith("test_municipality_second_file")), None)
    if module is not None:
        module.stop_second_run()
