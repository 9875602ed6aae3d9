"""Dead letters: read them from `JUSOU_DLQ`, and replay one to the consumer that parked it.

A replay is published on the stream `JUSOU_REPLAY`, subject
`jusou-replay.<consumer>.<source>.<EventType>`, with the original body and the header
`Jusou-Replay-Of: <dead-letter sequence>`; it never goes back on `JUSOU`, where every event is
exactly once. Each service with consumers has one more durable pull consumer,
`<service>--replay`, on its own replay subjects only, so a replay reaches that consumer and no
other. It is handled as the inbox handles an event: parsed, applied through `app.receive` with
its tracking record in the same transaction, acked after the commit, retried with back-off and
parked again (with `Jusou-Replay-Of`) after `max_deliver` tries.

Its tracking record is its own, `replay:<source>:<source_position>`, not the source's: the
consumer went on with the source's later events after parking this one, so the source's record
is already past its position and would take the replay for a duplicate. A second replay of
the same event finds that record and changes nothing; a message can only be parked after the
normal road failed to apply it, so the two roads never both apply it.

The original subject counts, as on the stream (shared/messaging/inbox.py, `refusal`): it is the replay's
own subject without `jusou-replay.<consumer>.` (only the operator publishes replays). A replay
whose envelope disagrees with it, or whose `Jusou-Original-Subject` header names another, is
parked again with the reason and never applied.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, PullSub
from nats.js.api import DeliverPolicy

from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    REPLAY_PREFIX,
    REPLAY_STREAM,
    STREAM,
    SUBJECT_PREFIX,
    PoisonMessage,
)
from shared.messaging.inbox import ACK_WAIT_SECONDS, Inbox, read, reason_header, refusal
from shared.messaging.natsauth import pull_inbox_prefix
from shared.messaging.natsheaders import BODY_OMITTED, within_max_payload
from shared.messaging.reasons import japanese
from shared.observe.logs import bind_event, unbind_event
from shared.observe.tracing import TRACE_HEADERS, consuming, trace_headers

log = structlog.get_logger()

REASON = "Jusou-Dead-Letter-Reason"
REASON_JA = "Jusou-Dead-Letter-Reason-Ja"  # the reason in Japanese (shared/messaging/reasons.py), where it is one of ours
ORIGINAL_SUBJECT = "Jusou-Original-Subject"
CONSUMER = "Jusou-Consumer"
REPLAY_OF = "Jusou-Replay-Of"

STATUS_LABELS = {
    "parked": "未処理 / parked",
    "replay_pending": "再処理待ち / replay pending",
    "replayed": "再処理済み / replayed",
    "failed_again": "再処理失敗 / failed again",
}


def replay_consumer(service: str) -> str:
    return f"{service}--replay"


def replay_subject(consumer: str, original_subject: str) -> str:
    """`jusou-replay.<consumer>.<source>.<EventType>`."""
    return f"{REPLAY_PREFIX}.{consumer}.{original_subject.removeprefix(SUBJECT_PREFIX + '.')}"


def replay_tracking(source: str, position: int) -> str:
    """The tracking record of a replayed event (see the module's docstring)."""
    return f"replay:{source}:{position}"


# --- the service's side: its replay consumer ------------------------------------------------


def subscribe_replays(inbox: Inbox) -> None:
    """Add the durable pull consumer `<service>--replay` to the inbox's broker (before it starts)."""
    service = inbox.app.service
    if not inbox.app.subscriptions:
        return  # consumes nothing, so parks nothing
    durable = replay_consumer(service)

    subscriber = inbox.broker.subscriber(
        f"{REPLAY_PREFIX}.{service}.>",
        stream=JStream(REPLAY_STREAM, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=1, timeout=2.0),
        inbox_prefix=pull_inbox_prefix(service),  # its NATS user may read no other inbox
        config=ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=1,
            ack_wait=ACK_WAIT_SECONDS,
            max_deliver=-1,
        ),
        ack_policy=AckPolicy.MANUAL,
        title=durable,
        description=f"{service} applies the dead letters replayed to it (`jusou deadletters replay`)",
    )

    @subscriber
    async def handle(msg: NatsMessage) -> None:
        await handle_replay(inbox, msg)

    # Delivered through a standing pull request, as the inbox's consumers are (issue 19, docs/capacity.md §5.7.2):
    # FastStream's loop asked for one message every 2 s and was answered `408` when none came, six services idle
    # making 3 requests and 3 answers a second; standing, a request and its `408` every 15 s per service.
    inbox.stand(subscriber, durable, REPLAY_STREAM)


async def handle_replay(inbox: Inbox, msg: NatsMessage) -> None:
    """Apply one replayed dead letter exactly once, as the inbox applies an event."""
    unbind_event()  # this consumer's task handles one replay after another
    raw = msg.raw_message
    headers = raw.headers or {}
    original = f"{SUBJECT_PREFIX}.{raw.subject.split('.', 2)[-1]}"  # the subject is the authority
    replay_of = headers.get(REPLAY_OF, "")
    try:
        envelope, payload = read(raw.data)
    except PoisonMessage as exc:
        await park_again(inbox, msg, original, replay_of, exc.reason)
        return
    refused = refusal(original, envelope)
    if refused is None and headers.get(ORIGINAL_SUBJECT, original) != original:
        refused = (f"replayed on {raw.subject}, but its {ORIGINAL_SUBJECT} header says {headers[ORIGINAL_SUBJECT]}: "
                   f"not applied")
    if refused is not None:
        await park_again(inbox, msg, original, replay_of, refused)
        return
    bind_event(envelope)  # case_id, event_id, correlation_id on every line until the next replay
    tries = raw.metadata.num_delivered
    tracking = replay_tracking(envelope.source, envelope.source_position)
    began = time.perf_counter()
    try:
        with consuming(inbox.app.service, envelope, headers):
            applied = await anyio.to_thread.run_sync(inbox.app.receive, envelope, payload, tracking)
    except Exception as exc:  # noqa: BLE001 — the dead-letter boundary, as in the inbox
        inbox.observe(envelope, "failed", time.perf_counter() - began, tries, "replay")
        reason = f"{type(exc).__name__}: {exc}"
        if tries >= inbox.max_deliver:
            await park_again(inbox, msg, original, replay_of, f"replay failed {tries} times; last error {reason}")
        else:
            log.warning("inbox.replay_retry", service=inbox.app.service, subject=original, tries=tries, error=reason)
            await msg.nack(delay=min(0.2 * 2**tries, 10.0))
        return
    inbox.observe(envelope, "applied" if applied else "duplicate", time.perf_counter() - began, tries, "replay")
    if applied:
        inbox.applied += 1
    else:
        inbox.duplicates += 1
    log.info("inbox.replayed" if applied else "inbox.replay_duplicate", subject=original, replay_of=replay_of,
             position=envelope.source_position)
    await msg.ack()


async def park_again(inbox: Inbox, msg: NatsMessage, original: str, replay_of: str, reason: str) -> None:
    """The replay failed too: park it again, saying which dead letter it replayed."""
    raw = msg.raw_message
    service = inbox.app.service
    data, headers = within_max_payload(raw.data, {  # a body too large to park beside its reason stays where it was
        REASON: reason_header(reason),  # its Japanese is read from it (reason_ja): a header is ASCII
        ORIGINAL_SUBJECT: original,
        CONSUMER: service,
        REPLAY_OF: replay_of,
        "Nats-Msg-Id": f"{service}:replay:{raw.metadata.sequence.stream}",
        **trace_headers(raw.headers),
    }, inbox.broker.connection.max_payload, f"{REPLAY_STREAM} seq {raw.metadata.sequence.stream}")
    await inbox.broker.publish(
        data,
        f"{DEAD_LETTER_PREFIX}.{service}.{original.removeprefix(SUBJECT_PREFIX + '.')}",
        headers=headers,
        stream=DEAD_LETTER_STREAM,
    )
    inbox.dead_lettered += 1
    log.error("inbox.replay_dead_lettered", service=service, subject=original, replay_of=replay_of, reason=reason)
    await msg.reject()


# --- the operator's side: reading and replaying (`jusou deadletters`) ------------------------


@dataclass
class Replay:
    seq: int
    time: datetime | None
    consumer: str
    replay_of: int


@dataclass
class DeadLetter:
    seq: int
    time: datetime | None
    consumer: str
    subject: str
    reason: str
    headers: dict[str, str]
    data: bytes
    replay_of: int | None = None  # this one is a replay that failed again
    status: str = "parked"
    replay: Replay | None = None
    parked_again_as: int | None = None

    @property
    def reason_ja(self) -> str | None:
        """The reason in Japanese: as parked (its header), else as shared/messaging/reasons.py reads the English one;
        None for a reason Jusou does not write."""
        given = self.headers.get(REASON_JA)  # a replay parked again wrote it raw: it reads back as U+FFFD
        return japanese(self.reason) or (given if given and "\ufffd" not in given else None)

    def summary(self) -> dict[str, Any]:
        """What `list --json` prints: no body (`show` has it)."""
        return {
            "seq": self.seq,
            "time": self.time.isoformat() if self.time else None,
            "consumer": self.consumer,
            "subject": self.subject,
            "reason": self.reason,
            "reason_ja": self.reason_ja,
            "replay_of": self.replay_of,
            "status": self.status,
            "replay_seq": self.replay.seq if self.replay else None,
            "parked_again_as": self.parked_again_as,
        }

    def body(self) -> Any:
        """The original message: its JSON if it is JSON, else its text, else its bytes in hex."""
        try:
            return json.loads(self.data.decode("utf-8"))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, a number over 4300 digits, nested too deep
            try:
                return self.data.decode("utf-8")
            except UnicodeDecodeError:
                return self.data.hex()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def dead_letter_of(msg: Any) -> DeadLetter:
    """A `JUSOU_DLQ` message (nats-py RawStreamMsg) as a DeadLetter: its consumer and original subject are read from its
    own subject, `jusou-dlq.<service>.<source>.<EventType>`, where only that service's NATS user may publish, never from
    the headers whoever published it wrote (`replay` refuses a letter whose headers say otherwise)."""
    headers = {k: str(v) for k, v in (msg.headers or {}).items()  # str: nats-py reads a non-ASCII value as a Header
               if k.startswith("Jusou-") or k in ("Nats-Msg-Id", *TRACE_HEADERS)}
    subject = msg.subject or ""
    consumer = subject.split(".")[1] if subject.count(".") >= 1 else ""
    original = f"{SUBJECT_PREFIX}.{subject.split('.', 2)[-1]}"
    return DeadLetter(seq=msg.seq, time=msg.time, consumer=consumer, subject=original,
                      reason=headers.get(REASON, ""), headers=headers, data=msg.data or b"",
                      replay_of=_int(headers.get(REPLAY_OF)))


async def stream_messages(js: Any, stream: str, limit: int | None = None) -> list[Any]:
    """The stream's messages in order (the last `limit` of them), skipping deleted ones."""
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    if not info.state.messages:
        return []
    first = info.state.first_seq
    if limit is not None:
        first = max(first, info.state.last_seq - limit + 1)
    found = []
    for seq in range(first, info.state.last_seq + 1):
        try:
            found.append(await js.get_msg(stream, seq))
        except NotFoundError:
            continue
    return found


async def replays(js: Any) -> list[Replay]:
    return [
        Replay(seq=m.seq, time=m.time,
               consumer=(m.headers or {}).get(CONSUMER) or (m.subject or "").removeprefix(f"{REPLAY_PREFIX}.").split(".")[0],
               replay_of=_int((m.headers or {}).get(REPLAY_OF)) or 0)
        for m in await stream_messages(js, REPLAY_STREAM) if (m.subject or "").startswith(f"{REPLAY_PREFIX}.")
    ]


async def replay_floor(js: Any, consumer: str) -> int:
    """The last `JUSOU_REPLAY` sequence the consumer's replay consumer has finished with (0: none)."""
    from nats.js.errors import NotFoundError

    try:
        info = await js.consumer_info(REPLAY_STREAM, replay_consumer(consumer), timeout=2)
    except NotFoundError:
        return 0
    return int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0


async def dead_letters(js: Any, limit: int | None = None) -> list[DeadLetter]:
    """The dead letters (the last `limit`), each with what became of its replay.

    Read in this order: the replays, their consumers' ack floors, then the dead letters. A replay that fails
    again is parked (published to JUSOU_DLQ, acknowledged by the stream) before it is terminated (its floor
    moves), so a floor read past a replay means that its new letter, if any, is on JUSOU_DLQ when the letters
    are read: a replay that failed is never taken for one processed. (Letters read first could miss a park
    that happens between the two reads, and show `replayed`.)
    """
    by_origin: dict[int, Replay] = {}
    for sent in await replays(js):
        by_origin.setdefault(sent.replay_of, sent)  # the first replay of each; a later copy changes nothing
    floors = {c: await replay_floor(js, c) for c in sorted({r.consumer for r in by_origin.values()})}
    # only what was published on `jusou-dlq.…`: a pull request's reply subject may name `jusou-dlq.<service>.…`, and the
    # stream then keeps the messages delivered there under their own `jusou.…` subjects (no permission sees a reply
    # subject: the read-only integrator did it), which are no one's dead letters
    letters = [dead_letter_of(m) for m in await stream_messages(js, DEAD_LETTER_STREAM, limit)
               if (m.subject or "").startswith(f"{DEAD_LETTER_PREFIX}.")]
    parked_again = {d.replay_of: d.seq for d in letters if d.replay_of is not None}
    for letter in letters:
        letter.replay = by_origin.get(letter.seq)
        if letter.replay is None:
            continue
        if letter.seq in parked_again:
            letter.status, letter.parked_again_as = "failed_again", parked_again[letter.seq]
        elif floors.get(letter.replay.consumer or letter.consumer, 0) >= letter.replay.seq:
            letter.status = "replayed"
        else:
            letter.status = "replay_pending"
    return letters


async def dead_letter(js: Any, seq: int) -> DeadLetter:
    """One dead letter by its `JUSOU_DLQ` sequence, with its replay's status; LookupError if none."""
    from nats.js.errors import NotFoundError

    try:
        await js.get_msg(DEAD_LETTER_STREAM, seq)
    except NotFoundError:
        raise LookupError(seq) from None
    for letter in await dead_letters(js):
        if letter.seq == seq:
            return letter
    raise LookupError(seq)


class NotParkedFromJusou(ValueError):
    """A dead letter that is not what its consumer parked from `JUSOU`: replayed to no one (`replay`)."""

    def __init__(self, seq: int, ja: str, en: str) -> None:
        super().__init__(f"#{seq} は{ja}ため再送しません（その事業の NATS パスワードを持つ者が置いた可能性があります）/ "
                         f"#{seq} is not replayed: {en} (someone holding that service's NATS password may have put it "
                         "there; README, A forged message on the bus)")


class ParkedWithoutItsBody(NotParkedFromJusou):
    """A dead letter parked without its body (`Jusou-Dead-Letter-Body-Omitted`: the body and the letter's headers went
    over NATS's max_payload): there is nothing to send back; the original stays on `JUSOU`."""

    def __init__(self, seq: int, omitted: str) -> None:
        ValueError.__init__(self, f"#{seq} は本文が大きすぎて退避されていないため再送しません（元のメッセージ: {omitted}）/ "
                                  f"#{seq} is not replayed: it was parked without its body, too large for NATS beside its "
                                  f"reason ({omitted})")


async def parked_from_jusou(js: Any, letter: DeadLetter) -> None:
    """Raise NotParkedFromJusou unless `letter` is what its consumer parked: its headers agree with its own subject,
    and the message it parked is on `JUSOU` at the sequence its `Nats-Msg-Id` names (`<service>:<sequence>`, as
    shared/messaging/inbox.py parks), with the same subject and bytes. A letter parked again by a replay is traced
    back through `Jusou-Replay-Of` to the first letter, whose message must be its own. Each service's NATS user may
    publish its own dead letters with any headers and body: without this, one password made the operator's replay
    deliver to another service whatever it wrote (a meeting's approval no meeting made)."""
    from nats.js.errors import NotFoundError

    first, hops = letter, 0
    while first.replay_of is not None and hops < 20:
        try:
            first = dead_letter_of(await js.get_msg(DEAD_LETTER_STREAM, first.replay_of))
        except NotFoundError:
            raise NotParkedFromJusou(letter.seq, f"再送元の退避メッセージ #{first.replay_of} がない",
                                     f"the dead letter it replayed, #{first.replay_of}, is not on {DEAD_LETTER_STREAM}") from None
        hops += 1
    for one in {letter.seq: letter, first.seq: first}.values():
        claimed = (one.headers.get(CONSUMER, one.consumer), one.headers.get(ORIGINAL_SUBJECT, one.subject))
        if claimed != (one.consumer, one.subject) or one.consumer != letter.consumer or one.data != letter.data:
            raise NotParkedFromJusou(letter.seq, f"見出し（{CONSUMER}: {claimed[0]}、{ORIGINAL_SUBJECT}: {claimed[1]}）が"
                                     f"置かれた件名 {one.subject}（{one.consumer}）と合わない",
                                     f"its headers ({CONSUMER} {claimed[0]}, {ORIGINAL_SUBJECT} {claimed[1]}) disagree with "
                                     f"the subject it was parked on ({one.consumer}, {one.subject})")
    service, _, sequence = first.headers.get("Nats-Msg-Id", "").rpartition(":")
    original = None
    if service == first.consumer and sequence.isdigit():
        try:
            original = await js.get_msg(STREAM, int(sequence))
        except NotFoundError:
            original = None
    if original is None or original.subject != first.subject or (original.data or b"") != first.data:
        raise NotParkedFromJusou(letter.seq, f"{STREAM} に届いたメッセージ（{first.headers.get('Nats-Msg-Id', '')}）と一致しない",
                                 f"it is not the message {first.consumer} parked from {STREAM} "
                                 f"(Nats-Msg-Id {first.headers.get('Nats-Msg-Id', '')!r})")


async def replay(js: Any, seq: int) -> tuple[DeadLetter, int, bool]:
    """Send dead letter `seq` back to its consumer; (letter, replay sequence, whether it was new).

    A dead letter is replayed once: asked again, it answers with the first replay's sequence. Only what its consumer
    parked from `JUSOU` is replayed (`parked_from_jusou`, else NotParkedFromJusou and nothing is sent).
    """
    letter = await dead_letter(js, seq)
    if letter.replay is not None:
        return letter, letter.replay.seq, False
    if BODY_OMITTED in letter.headers:  # nothing to send back (a forger may set it too: then nothing is sent either)
        raise ParkedWithoutItsBody(seq, letter.headers[BODY_OMITTED])
    await parked_from_jusou(js, letter)
    ack = await js.publish(
        replay_subject(letter.consumer, letter.subject),
        letter.data,
        stream=REPLAY_STREAM,
        headers={
            "Nats-Msg-Id": f"replay:{letter.consumer}:{seq}",
            REPLAY_OF: str(seq),
            ORIGINAL_SUBJECT: letter.subject,
            CONSUMER: letter.consumer,
            **trace_headers(letter.headers),  # the replay's effects join the case's trace
        },
        timeout=5,
    )
    return letter, int(ack.seq), not ack.duplicate


# --- the operator's side: discarding (`jusou deadletters discard`) ---------------------------


class NotDiscarded(ValueError):
    """A dead letter `discard` leaves where it is: its replay is still being processed, or it was parked again."""

    def __init__(self, seq: int, ja: str, en: str) -> None:
        super().__init__(f"#{seq} は{ja}ため破棄しません / #{seq} is not discarded: {en}")


@dataclass
class Discarded:
    """What `discard` took off the streams: the letter (and the letters it was parked again from) and their replays."""

    letter: DeadLetter
    letters: list[int]
    replays: list[int]


async def discard(js: Any, seq: int, dry_run: bool = False) -> Discarded:
    """Take dead letter `seq` off `JUSOU_DLQ` for good: a letter that must never be applied (a forged one `replay`
    refuses, one parked without its body, a type no release will know) or one already replayed, whose room a full
    stream needs. It goes with what belongs to it, so that `jusou_dead_letters_unreplayed` (parked − replays sent)
    stays true: its replay on `JUSOU_REPLAY`, and, for a letter a replay parked again, the letters it was parked again
    from (same consumer, subject and body, `Jusou-Replay-Of`) with their replays. Refused (NotDiscarded) while its
    replay waits for its consumer, and for a letter parked again (discard the letter it was parked again as: that
    takes this one with it). LookupError if there is no such letter. Nothing is removed with `dry_run`."""
    letters = {d.seq: d for d in await dead_letters(js)}
    letter = letters.get(seq)
    if letter is None:
        raise LookupError(seq)
    if letter.status == "replay_pending":
        raise NotDiscarded(seq, f"再送（{REPLAY_STREAM} #{letter.replay.seq if letter.replay else '?'}）を {letter.consumer} "
                           "がまだ処理していない",
                           f"its replay ({REPLAY_STREAM} #{letter.replay.seq if letter.replay else '?'}) is not processed "
                           f"by {letter.consumer} yet: start it, or wait until `jusou deadletters list` shows it replayed")
    if letter.status == "failed_again":
        raise NotDiscarded(seq, f"再送が失敗して #{letter.parked_again_as} として退避し直された",
                           f"its replay failed and was parked again as #{letter.parked_again_as}: discard "
                           f"#{letter.parked_again_as}, which takes this one with it")
    chain = [letter]
    while (earlier := letters.get(chain[-1].replay_of or 0)) is not None and earlier not in chain and (
            earlier.parked_again_as == chain[-1].seq and earlier.consumer == letter.consumer
            and earlier.subject == letter.subject and earlier.data == letter.data):
        chain.append(earlier)
    removed = {d.seq for d in chain}
    sent = sorted(r.seq for r in await replays(js)
                  if r.replay_of in removed and (r.consumer or letter.consumer) == letter.consumer)
    if not dry_run:
        for one in sorted(removed, reverse=True):
            await js.delete_msg(DEAD_LETTER_STREAM, one)
        for one in sent:
            await js.delete_msg(REPLAY_STREAM, one)
    return Discarded(letter=letter, letters=sorted(removed), replays=sent)
