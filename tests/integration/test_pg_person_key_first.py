"""PostgreSQL: a new person's data key (services/intake/keys.py `first`, issue 19) is made in one statement, outside any
transaction (autocommit: on disk before the person's first event is recorded), and the same first event stored again
gets the key already made; erasure deletes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from support.servers import Postgres

from services.intake.application import IntakeApplication
from services.intake.keys import PostgresKeys
from shared.kernel.store import store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def intake(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeApplication]:
    prefix = f"pk_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    app = IntakeApplication(env=store_env(Settings.from_env("intake")) | {"JUSOU_READMODELS_FOLLOW": "0"})
    try:
        yield app
    finally:
        app.close()
        postgres.drop_schemas(prefix)


def test_d9_a_new_persons_key_is_one_statement_and_the_same_first_event_again_gets_it(intake: IntakeApplication) -> None:
    keys = PostgresKeys(b"k" * 32, intake.recorder.datastore)

    def no_transaction(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("BEGIN … COMMIT: three round trips for one statement")

    keys.datastore.transaction = no_transaction  # type: ignore[method-assign]
    person = uuid4()
    key = keys.first(person)
    assert keys.first(person) == key == keys.get(person)
    keys.delete(person)
    assert keys.get(person) is None
