"""The caseworker's day walked in the browser with every service on PostgreSQL (issue 15, "Done when").

The walks are the SQLite ones (their modules' `ui_suite`), awaited here against ONE suite whose six services keep
their events and read models in PostgreSQL (JUSOU_STORE=postgres, a fresh schema prefix per run, dropped after):
reception with the search and the person's view, a returned case closed at intake (test_intake_day_ui); a household
formed, a member added, two cases escalated together (test_household_ui) and the household's one plan covering each
case (test_collaboration_ui); notes, assignment and 自分の担当 with an overdue item (test_casework_ui); a plan
suspended and resumed after consent given again (test_plan_resume_accompany_ui).

Where PostgreSQL is absent the module is skipped, saying why; under CI (JUSOU_REQUIRE_POSTGRES=1) it fails.
The walks' modules are imported as modules (not their test functions), so pytest does not collect them twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Page
from support.servers import Postgres, free_port, nats_server

from jusou.runner import Suite

from . import test_casework_ui as casework
from . import test_collaboration_ui as collaboration
from . import test_household_ui as household
from . import test_intake_day_ui as intake_day
from . import test_plan_resume_accompany_ui as plan_resume
from .conftest import SERVICES


@pytest.fixture(scope="module")
def pg_suite(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    """The six services on PostgreSQL (schemas `t<hex>_<service>`, dropped afterwards) and their own nats-server."""
    root = tmp_path_factory.mktemp("ui-pg")
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    ports = {name: free_port() for name in SERVICES}
    try:
        with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports=ports,
                                                       extra_env=postgres.env(prefix)) as running:
            yield running
    finally:
        postgres.drop_schemas(prefix)


async def test_the_suite_under_the_walks_keeps_its_records_in_postgres(pg_suite: Suite, postgres: Postgres) -> None:
    """The walks below are on PostgreSQL, not on a SQLite file: every service made its schemas under the prefix."""
    import psycopg

    prefix = pg_suite.extra_env["JUSOU_PG_SCHEMA_PREFIX"]
    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password,
                         dbname=postgres.dbname) as conn:
        schemas = {name for (name,) in conn.execute("select nspname from pg_namespace where nspname like %s",
                                                    (prefix + "%",)).fetchall()}
    assert {f"{prefix}{name}" for name in SERVICES} <= schemas, schemas
    assert not list(pg_suite.data_dir.rglob("*.sqlite*")) and not list(pg_suite.data_dir.rglob("*.db")), \
        "a service wrote a SQLite file although JUSOU_STORE=postgres"


async def test_reception_with_search_the_person_and_a_returned_case_closed_on_postgres(
        pg_suite: Suite, page: Page, browser: Any) -> None:
    await intake_day.test_a_counselor_searches_receives_sees_the_person_and_closes_a_returned_case(pg_suite, page, browser)


async def test_a_household_formed_and_its_cases_escalated_together_on_postgres(pg_suite: Suite, page: Page) -> None:
    await household.test_a_household_is_formed_a_member_added_and_two_of_its_cases_escalated_together(pg_suite, page)


async def test_d16_a_household_plan_covering_each_related_case_on_postgres(pg_suite: Suite, page: Page) -> None:
    await collaboration.test_d16_a_household_escalation_is_one_case_whose_plan_covers_each_related_case(pg_suite, page)


async def test_notes_assignment_and_my_work_with_an_overdue_item_on_postgres(
        pg_suite: Suite, page: Page, browser: Any) -> None:
    await casework.test_casework_assign_reassign_write_a_note_print_it_and_find_it_overdue(pg_suite, page, browser)


async def test_a_plan_suspended_and_resumed_after_consent_given_again_on_postgres(pg_suite: Suite, page: Page) -> None:
    await plan_resume.test_a_plan_filled_in_proposed_suspended_and_resumed_after_consent_given_again(pg_suite, page)
