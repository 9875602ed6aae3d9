"""A request holding an aggregate to the version its client read (`If-Match`) has it refused at the command's save
when the command loaded another version (shared/kernel/expected.py): two PUTs with one tag cannot both be recorded."""

from __future__ import annotations

from uuid import uuid4

import pytest

from services.participation.application import ParticipationApplication
from services.participation.domain import Support
from shared.kernel.expected import expecting
from shared.kernel.journey import acting
from unit.builders import COUNTER_STAFF, in_memory


class Refused(Exception):
    pass


def refuse(loaded: int) -> None:
    raise Refused(loaded)


def support_at_version_2(app: ParticipationApplication) -> Support:
    with acting(COUNTER_STAFF):
        return _started(app)


def _started(app: ParticipationApplication) -> Support:
    support = Support(case_id=uuid4(), referred_by="meeting", needs=["居場所"])
    support.record_needs(["居場所", "住まい"])
    app.save(support)
    return support


def test_a_save_of_the_version_the_client_read_is_recorded_and_of_another_refused() -> None:
    app = in_memory(ParticipationApplication)
    first = support_at_version_2(app)
    read = app.repository.get(first.id)
    with acting(COUNTER_STAFF), expecting(read.id, read.version, refuse):
        mine = app.repository.get(first.id)
        mine.record_needs(["就労体験"])
        app.save(mine)  # loaded at the version read: recorded
    with acting(COUNTER_STAFF), expecting(read.id, read.version, refuse):  # the client's tag is now one version old
        stale = app.repository.get(first.id)
        stale.record_needs(["住まい"])
        with pytest.raises(Refused) as refused:
            app.save(stale)
    assert refused.value.args == (read.version + 1,)
    assert app.repository.get(first.id).needs == ["就労体験"]  # nothing recorded


def test_nothing_is_held_outside_the_block_nor_for_another_aggregate() -> None:
    app = in_memory(ParticipationApplication)
    one, other = support_at_version_2(app), support_at_version_2(app)
    with acting(COUNTER_STAFF), expecting(one.id, 0, refuse):  # a version `one` never had, but `other` is saved
        again = app.repository.get(other.id)
        again.record_needs(["就労体験"])
        app.save(again)
    with acting(COUNTER_STAFF):
        later = app.repository.get(one.id)
        later.record_needs(["就労体験"])
        app.save(later)
    assert app.repository.get(one.id).needs == ["就労体験"]
