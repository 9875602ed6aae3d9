"""A spent idempotency key: a program is told to use a new key; a member of staff whose form was already sent from
another tab is told what happened and what to do (shared/kernel/idempotency.py `KeyReused`)."""

from __future__ import annotations

import inspect

from shared.kernel import idempotency
from shared.kernel.idempotency import FORM_SENT_ALREADY, KeyReused


def test_a_program_is_told_to_use_a_new_key() -> None:
    assert "Idempotency-Key" in str(KeyReused()) and KeyReused().status == 422


def test_a_form_sent_again_from_another_tab_says_so_in_words_staff_can_act_on() -> None:
    words = str(KeyReused(form=True))
    assert words == FORM_SENT_ALREADY
    assert "別のタブ" in words and "記録されています" in words and "Idempotency-Key" not in words


def test_the_dependency_tells_a_form_post_apart() -> None:
    source = inspect.getsource(idempotency.idempotent)
    assert "KeyReused(form=form is not None)" in source, source
