"""The same tests on a second municipality's file (issue 18): the e2e journeys, the trust boundaries and a whole
journey through the pages run again on 架空市's file (shared/organisation/municipalities/kakushi.toml: other divisions,
counters, partners and names), in a pytest of their own with `JUSOU_TEST_MUNICIPALITY=kakushi`.

The tests name divisions, counters, concern fields and partners by role (tests/support/municipality.py), never by
Chofu's codes, so they pass on either file; this run proves it in CI. To run any test on the second file yourself:

    JUSOU_TEST_MUNICIPALITY=kakushi .venv/bin/python -m pytest tests/e2e/test_journey.py

(`JUSOU_TEST_MUNICIPALITY` takes a shipped file's name or a path; every suite the tests start inherits the file.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.municipality import IS_DEFAULT, TEST_VARIABLE

from shared.organisation.reference import VARIABLE

ROOT = Path(__file__).resolve().parents[2]
#: What runs on both files (the rest of the suite runs on the default file only: CI's time is counted). The security
#: modules stay together (they share one suite), the page walk last.
ON_BOTH_FILES = (
    "tests/e2e/test_journey.py::test_whole_journey_over_http_watched_on_the_bus[sqlite]",  # not the restarts, nor PostgreSQL
    "tests/e2e/test_scenarios.py",
    "tests/e2e/test_branches.py",
    "tests/security/test_trust_boundaries.py",
    # of test_policy.py, the tests that name divisions (its walks of every role × every endpoint and page take minutes
    # and name none): the division scope, D3 つなぎ, D11, a division without a counter
    *(
        "tests/security/test_policy.py::test_policy_" + name
        for name in (
            "a_childcare_counselor_cannot_read_a_disability_counters_case",
            "a_case_connected_to_childcare_becomes_readable_there",
            "writing_needs_a_division_that_runs_the_program",
            "d11_only_the_agency_connected_to_answers_and_the_case_page_shows_it_only_its_forms",
            "scope_a_list_shows_a_reader_only_the_cases_that_name_their_division",
            "scope_a_refusal_names_the_divisions_that_hold_the_record_and_is_marked_as_the_scopes",
            "scope_a_history_row_names_its_actor_upstream_and_agencies_by_division_code",
        )
    ),
    "tests/ui/test_whole_journey_ui.py",  # a whole journey through the pages, in chromium
)
#: Left out on the second file for time: a walk of every case route as another division's supervisor (the scope's
#: refusals, by code, are the same on any file; the tests above name the divisions).
NOT_ON_THE_SECOND_FILE = (
    (
        "tests/security/test_trust_boundaries.py::"
        "test_trust_scope_every_case_route_of_every_service_refuses_another_divisions_supervisor"
    ),
)


# Only when this whole run is already on another file (`JUSOU_TEST_MUNICIPALITY=kakushi pytest tests`): its modules run
# there themselves, and running them again here would test the same file twice. CI runs on the default file, where this
# never skips.
@pytest.mark.skipif(not IS_DEFAULT, reason="this whole run is on another municipality's file already")
def test_the_journeys_trust_boundaries_and_a_page_walk_pass_on_another_municipalitys_file(artifacts: Path) -> None:
    # its own accounts and keys (JUSOU_AUTH_DIR): the same staff ids sit in other divisions there
    env = {k: v for k, v in os.environ.items() if k not in (VARIABLE, "JUSOU_AUTH_DIR")} | {TEST_VARIABLE: "kakushi"}
    report = artifacts / "kakushi-run.txt"
    with report.open("w", encoding="utf-8") as out:
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-rfE",
             *ON_BOTH_FILES, *(f"--deselect={test}" for test in NOT_ON_THE_SECOND_FILE)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False,
        )
    said = report.read_text(encoding="utf-8")
    summary = said.strip().splitlines()[-1] if said.strip() else ""
    print(f"\non 架空市's file: {summary}")
    assert ran.returncode == 0, f"on kakushi.toml ({report}):\n{said[-8000:]}"
    assert " passed" in summary and "skipped" not in summary, summary

