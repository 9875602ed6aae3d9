"""The read models' seal chain goes on from what this process committed, without reading the seals back (issue 19,
docs/capacity.md §5.18).

Each page the read models index read the seal before it and the seals within it (two statements), to chain on and
to re-check what was sealed already. When the view's position, read at the catch-up, is the one this process last
committed, the view holds no seal past it and its link is the one this process computed: the page chains on from
it. Anything else (another replica indexed meanwhile, a rebuild) reads them as before. Two services on one SQLite
store (and one views file) stand for two replicas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.deliveries import decided

from services.outreach.application import OutreachApplication
from shared.kernel.readmodel import GENESIS, link

LEAN = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "PROCESS_RECORDER_TOPIC": "shared.kernel.store:LeanSQLiteProcessRecorder",
        "JUSOU_READMODELS_FOLLOW": "0"}


def outreach(path: Path) -> Any:
    app: Any = OutreachApplication({**LEAN, "SQLITE_DBNAME": str(path)})
    reads: list[str] = []
    view = app.readmodels.view
    before, between = view.seal_before, view.seals_between

    def seal_before(position: int) -> str:
        reads.append("seal_before")
        return before(position)

    def seals_between(first: int, last: int) -> dict[int, str]:
        reads.append("seals_between")
        return between(first, last)

    view.seal_before, view.seals_between = seal_before, seals_between
    app.seal_reads = reads
    return app


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    one, other = outreach(tmp_path / "outreach.sqlite"), outreach(tmp_path / "outreach.sqlite")
    yield one, other
    one.close()
    other.close()


def the_chain(app: Any) -> list[tuple[int, str]]:
    """The seal chain as `jusou audit verify` recomputes it from the store."""
    chain, links = GENESIS, []
    for n in app.notifications():
        chain = link(chain, n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
        links.append((n.id, chain))
    return links


def test_a_page_after_the_one_this_process_committed_reads_no_seals(pair: Any) -> None:
    one, _ = pair
    assert one.receive(*decided(1, connect_to=["outreach"]))
    assert one.readmodels.catch_up() > 0
    one.seal_reads.clear()

    for position in (2, 3, 4):
        assert one.receive(*decided(position, connect_to=["outreach"]))
        assert one.readmodels.catch_up() > 0

    assert one.seal_reads == []  # was seal_before and seals_between for each page
    assert one.readmodels.view.seals(1, 100) == the_chain(one)
    assert one.readmodels.seal_mismatches == []


def test_a_page_after_another_replicas_reads_the_seals_and_the_chain_stays_whole(pair: Any) -> None:
    one, other = pair
    assert one.receive(*decided(1, connect_to=["outreach"]))
    one.readmodels.catch_up()
    assert other.receive(*decided(2, connect_to=["outreach"]))
    other.readmodels.catch_up()  # the other replica indexed past what `one` committed
    assert one.receive(*decided(3, connect_to=["outreach"]))
    one.seal_reads.clear()

    one.readmodels.catch_up()

    assert one.seal_reads == ["seal_before", "seals_between"]
    assert one.readmodels.view.seals(1, 100) == the_chain(one)
    assert one.readmodels.seal_mismatches == [] and other.readmodels.seal_mismatches == []


def test_after_a_rebuild_elsewhere_the_chain_stays_whole(pair: Any) -> None:
    """A rebuild keeps the seals and indexes up to the head again: where it ends at the position this process
    committed, nothing past it is sealed and the link there is unchanged (seals are never rewritten)."""
    one, other = pair
    for position in (1, 2):
        assert one.receive(*decided(position, connect_to=["outreach"]))
    one.readmodels.catch_up()
    other.readmodels.rebuild()  # `jusou replay` beside the running service: the view cleared, indexed again
    assert one.receive(*decided(3, connect_to=["outreach"]))

    one.readmodels.catch_up()

    assert one.readmodels.view.seals(1, 100) == the_chain(one)
    assert one.readmodels.seal_mismatches == [] and other.readmodels.seal_mismatches == []
    other.readmodels.rebuild()  # and a later re-check finds the chain whole
    assert other.readmodels.seal_mismatches == []
