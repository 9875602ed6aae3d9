"""The municipality look-ups' caches (shared/organisation/reference.py `_table`, `_remembered`; scope.py
`PROGRAM_DIVISIONS`) answer only for the very organisation they were made of. They are keyed by the organisation's
`id`, and an id is reused once its object is freed (a test's file, a tenant's file loaded again): found by HE's review
(session 19). Two municipality files are made to share one id here (the module's `id` replaced), so a cache that
trusted the id alone would answer 架空市's look-ups with 調布市's."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.organisation import reference, scope

FILES = Path(reference.__file__).resolve().parent / "municipalities"


def _same_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reference, "id", lambda _: 1, raising=False)  # every organisation "the same id"
    monkeypatch.setattr(scope, "id", lambda _: 1, raising=False)


def test_a_table_made_of_one_municipality_is_not_served_for_another_with_the_same_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _same_id(monkeypatch)
    with reference.in_force(FILES / "chofu.toml"):
        chofu = set(reference.divisions())
    with reference.in_force(FILES / "kakushi.toml"):
        kakushi = set(reference.divisions())
    with reference.in_force(FILES / "chofu.toml"):
        assert set(reference.divisions()) == chofu
    assert chofu != kakushi


def test_a_remembered_answer_is_not_served_for_another_municipality_with_the_same_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _same_id(monkeypatch)
    with reference.in_force(FILES / "chofu.toml"):
        chofu = reference.agencies()
    with reference.in_force(FILES / "kakushi.toml"):
        kakushi = reference.agencies()
    assert chofu != kakushi


def test_which_divisions_run_a_program_follows_the_organisation_not_its_id(monkeypatch: pytest.MonkeyPatch) -> None:
    _same_id(monkeypatch)
    with reference.in_force(FILES / "chofu.toml"):
        chofu = dict(scope.PROGRAM_DIVISIONS)
    with reference.in_force(FILES / "kakushi.toml"):
        kakushi = dict(scope.PROGRAM_DIVISIONS)
    assert chofu != kakushi
