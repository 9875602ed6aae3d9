"""A dead letter can be taken off `JUSOU_DLQ` with the suite's own tools (HC's operator review, session 24).

Before, `jusou deadletters` had `list`, `show` and `replay` and nothing else. A letter that must never be applied — a
forged one `replay` refuses (「…ため再送しません」), one parked without its body, a type no release will know — stayed
未処理 for ever: `jusou_dead_letters_unreplayed` (parked − replays sent) never fell to 0 and JusouDeadLettersPresent,
whose annotation says it "clears by itself once every one is sent back", fired for good. And a full `JUSOU_DLQ` was
answered, in the consumer's /readyz, "replay or remove dead letters": a replay removes no letter (it adds one to
`JUSOU_REPLAY`), and there was no way to remove one but a NATS client the suite does not ship.

`jusou deadletters discard SEQ` now takes a letter off for good, with its replay (so that parked − sent stays true) and,
for a letter a replay parked again, the letters it was parked again from. It refuses a letter whose replay its consumer
has not processed yet, and one parked again (the newer letter is the one to discard). `--dry-run` removes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats as nats_py
import pytest
from support.servers import Nats

from jusou.cli import main as jusou
from jusou.runner import create_streams
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging.deadletters import replay_consumer

ORIGINAL = "jusou.intake.CaseEscalated"
BODY = b'{"event_type": "CaseEscalated", "source": "intake", "note": "a body no release will read"}'


@pytest.fixture
def on_nats(nats: Nats, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Nats]:
    for name in ("NATS_USER", "NATS_PASSWORD", "JUSOU_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NATS_URL", nats.url)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    asyncio.run(create_streams(nats.url))
    yield nats


def run(url: str, work: Any) -> Any:
    async def connected() -> Any:
        nc = await nats_py.connect(url, allow_reconnect=False, connect_timeout=5)
        try:
            return await work(nc.jetstream(timeout=5))
        finally:
            await nc.close()

    return asyncio.run(connected())


async def park(js: Any, replay_of: int | None = None) -> int:
    """What collaboration's consumer parks: the message on `JUSOU` and its letter (a replay's, parked again)."""
    original = await js.publish(ORIGINAL, BODY, stream=STREAM)
    headers = {"Jusou-Dead-Letter-Reason": "unknown event CaseEscalated v9", "Jusou-Consumer": "collaboration",
               "Jusou-Original-Subject": ORIGINAL, "Nats-Msg-Id": f"collaboration:{original.seq}"}
    if replay_of is not None:
        headers["Jusou-Replay-Of"] = str(replay_of)
    ack = await js.publish("jusou-dlq.collaboration.intake.CaseEscalated", BODY, stream=DEAD_LETTER_STREAM,
                           headers=headers)
    return int(ack.seq)


async def replay_processed(js: Any, letter: int) -> int:
    """`jusou deadletters replay` sent the letter back and collaboration's replay consumer processed it (acked)."""
    sent = await js.publish("jusou-replay.collaboration.intake.CaseEscalated", BODY, stream=REPLAY_STREAM,
                            headers={"Jusou-Replay-Of": str(letter), "Jusou-Original-Subject": ORIGINAL,
                                     "Jusou-Consumer": "collaboration", "Nats-Msg-Id": f"replay:collaboration:{letter}"})
    subscription = await js.pull_subscribe("jusou-replay.collaboration.>", durable=replay_consumer("collaboration"),
                                           stream=REPLAY_STREAM)
    for msg in await subscription.fetch(1, timeout=5):
        await msg.ack_sync()
    return int(sent.seq)


def held(url: str) -> tuple[list[int], list[int]]:
    """The sequences left on JUSOU_DLQ and JUSOU_REPLAY."""
    async def read(js: Any) -> tuple[list[int], list[int]]:
        found: list[list[int]] = []
        for stream in (DEAD_LETTER_STREAM, REPLAY_STREAM):
            info = await js.stream_info(stream)
            seqs = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
                try:
                    seqs.append((await js.get_msg(stream, seq)).seq)
                except nats_py.js.errors.NotFoundError:
                    continue
            found.append(seqs)
        return found[0], found[1]

    result: tuple[list[int], list[int]] = run(url, read)
    return result


def unreplayed(url: str) -> int:
    """`jusou_dead_letters_unreplayed` of collaboration as shared/web/metrics.py reads it: parked − replays sent."""
    async def read(js: Any) -> int:
        parked = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter="jusou-dlq.collaboration.>")
        sent = await js.stream_info(REPLAY_STREAM, subjects_filter="jusou-replay.collaboration.>")
        return max(0, sum((parked.state.subjects or {}).values()) - sum((sent.state.subjects or {}).values()))

    count: int = run(url, read)
    return count


def test_a_letter_never_to_be_applied_is_discarded_and_counts_no_more(
        on_nats: Nats, capsys: pytest.CaptureFixture[str]) -> None:
    letter = run(on_nats.url, park)
    assert unreplayed(on_nats.url) == 1

    code = jusou(["deadletters", "discard", str(letter)])

    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    assert f"#{letter}" in out and "未処理 / parked" in out and "discarded" in out, out
    assert "collaboration" in out and "stays unapplied" in out, out
    assert held(on_nats.url) == ([], []), "the letter is still on JUSOU_DLQ"
    assert unreplayed(on_nats.url) == 0, "JusouDeadLettersPresent would go on firing"
    assert jusou(["deadletters", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_dry_run_removes_nothing_and_json_keeps_the_message(on_nats: Nats, capsys: pytest.CaptureFixture[str]) -> None:
    letter = run(on_nats.url, park)

    code = jusou(["deadletters", "discard", str(letter), "--dry-run", "--json"])

    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    shown = json.loads(out)
    assert shown["dry_run"] is True and shown["dead_letters_removed"] == [letter] and shown["replays_removed"] == []
    assert shown["message"]["note"] == "a body no release will read", shown
    assert held(on_nats.url) == ([letter], [])


def test_a_replayed_letter_goes_with_its_replay_and_the_count_stays_true(
        on_nats: Nats, capsys: pytest.CaptureFixture[str]) -> None:
    replayed = run(on_nats.url, park)
    replay = run(on_nats.url, lambda js: replay_processed(js, replayed))
    waiting = run(on_nats.url, park)  # another letter, not replayed: it must go on counting
    assert unreplayed(on_nats.url) == 1

    code = jusou(["deadletters", "discard", str(replayed)])

    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    assert "再処理済み / replayed" in out, out
    assert held(on_nats.url) == ([waiting], []), f"replay {replay} or letter {replayed} left"
    assert unreplayed(on_nats.url) == 1, "the letter still waiting was hidden"


def test_a_letter_parked_again_is_discarded_with_the_one_it_came_from(
        on_nats: Nats, capsys: pytest.CaptureFixture[str]) -> None:
    first = run(on_nats.url, park)
    replay = run(on_nats.url, lambda js: replay_processed(js, first))
    again = run(on_nats.url, lambda js: park(js, replay_of=first))

    refused = jusou(["deadletters", "discard", str(first)])  # failed again: the newer letter is the one to discard

    out, err = capsys.readouterr()
    assert refused == 1, (out, err)
    assert f"#{again}" in err and "is not discarded" in err and "破棄しません" in err, err
    assert held(on_nats.url) == ([first, again], [replay])

    assert jusou(["deadletters", "discard", str(again), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dead_letters_removed"] == [first, again] and shown["replays_removed"] == [replay], shown
    assert held(on_nats.url) == ([], [])
    assert unreplayed(on_nats.url) == 0


def test_a_letter_whose_replay_waits_is_not_discarded(on_nats: Nats, capsys: pytest.CaptureFixture[str]) -> None:
    letter = run(on_nats.url, park)

    async def sent_only(js: Any) -> None:  # replayed, and collaboration not running to process it
        await js.publish("jusou-replay.collaboration.intake.CaseEscalated", BODY, stream=REPLAY_STREAM,
                         headers={"Jusou-Replay-Of": str(letter), "Jusou-Consumer": "collaboration",
                                  "Jusou-Original-Subject": ORIGINAL})

    run(on_nats.url, sent_only)

    code = jusou(["deadletters", "discard", str(letter)])

    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert "collaboration" in err and "not processed" in err, err
    assert held(on_nats.url)[0] == [letter]


def test_no_such_letter_is_said(on_nats: Nats, capsys: pytest.CaptureFixture[str]) -> None:
    run(on_nats.url, park)

    code = jusou(["deadletters", "discard", "99"])

    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert "no dead letter 99" in err, err
