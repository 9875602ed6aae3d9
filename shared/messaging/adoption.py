"""No service adopts a durable consumer that would not deliver what it has still to apply (D15: nothing the bus carried
is lost silently; session 20, HA).

A service consumes `JUSOU` through durable consumers of fixed names: `<service>--<source>` (shared/messaging/inbox.py,
made by FastStream when missing) and, partitioned, `<service>--<source>--p<k>` (shared/messaging/partitions.py). One
that exists is adopted, its delivered and acknowledged state kept: that is how a restarted service resumes. Someone
else may have made it first: the integrator's NATS user before its rights covered every name a service could ever use
(shared/messaging/natsauth.py `reserved_consumers`: a partition name above the P of the rendered config, a pair a later
release subscribes to), or anyone with the operator's password. Made with `deliver_policy` new, a late start, a filter
that skipped the service's types, or with messages acknowledged through it, it would decide what the service is never
delivered, and nothing would say so.

So before adopting, `examine` asks of the consumer what the service needs of it, against the service's own tracking
position T for that source (or partition: T is the higher of `<source>#p<k>` and the unpartitioned `<source>` it
started from):

- its config: a pull consumer (no `deliver_subject`), explicit acks, a deliver policy that delivers everything after its
  start (not `last_per_subject`), `max_deliver` unlimited (or at least the service's own), the whole message
  (`headers_only` off), no `inactive_threshold` (a durable the server deletes when idle), not paused;
- what it has already passed: the first message after T on each subject the service takes (`jusou.<source>.<Type>`,
  found by bisection with `next_by_subj` gets: a source's positions rise with the stream's sequence) is S. Every message
  the service still owes an application to (a position above T, its partition's where partitioned, one `read` and
  `refusal` of shared/messaging/inbox.py would not park) at or below the consumer's ack floor was acknowledged through
  it without being applied here, and one between the ack floor and its last delivery is lost unless it is among the
  consumer's pending messages (`num_ack_pending`). Such messages are forgiven only as far as the service's dead letters
  of that subject account for them (`jusou-dlq.<service>.<source>.<Type>`, counted with STREAM.INFO: a message the
  service parked is acknowledged and stays behind its tracking; the last event of a source parked is the usual case).

A consumer that fails is reported (log `inbox.consumer_replaced`, readyz `degraded` naming it, /metrics) and replaced:
deleted (each service's user may delete its own consumers of `JUSOU`, and no other: natsauth.py) and made again with
the service's config, starting at S (`deliver_policy` by_start_sequence; after the stream's last message when none is
owed yet). Messages from S on of other partitions or at or below T are skipped as before: nothing is applied twice.
A healthy consumer (every consumer a service made itself, of this version or an older one) is adopted unchanged.
Two cases of the service's own are replaced too, rightly, and reported the same way: a store restored to a point
before what its consumers acknowledged (the events after that point delivered again), and a release that takes a new
event type of a source it consumed already (that type's events after the tracking, which the old filter skipped).

Two replicas starting at once (unpartitioned replicas share `<service>--<source>`): each examines the consumer; before
deleting, it reads the consumer again and deletes only the one it judged (same `created` time), and a replacement
another replica made first (the create refused, or a newer `created`) is examined in turn rather than deleted.

Limits: positions are taken to rise with the stream's sequence on a subject (the relay publishes in order and the
stream drops a copy within its duplicate window); a forged position (session 19, item 2) can mislead the bisection as
it misleads the tracking. Forgiveness by dead-letter counts is a count per subject, not per message: a consumer that
skipped no more messages of a subject than the service ever parked of it is adopted. A scan beyond `SCAN_LIMIT`
messages is not finished: the consumer is replaced, which costs re-reading those messages (skipped as before).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from shared.contract.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, STREAM, SUBJECT_PREFIX, PoisonMessage
from shared.messaging.reading import read, refusal

log = structlog.get_logger()

#: Messages read at most, per consumer examined, between the first owed message and its last delivery.
SCAN_LIMIT = 10_000
#: Times a replica examines a consumer another replica replaced meanwhile, before it gives up (reported).
ATTEMPTS = 4


@dataclass
class Verdict:
    """What `examine` found: `problems` (empty: adopt it) and where a replacement starts (`start_seq`)."""

    consumer: str
    tracking: int
    start_seq: int
    problems: list[str] = field(default_factory=list)
    forgiven: dict[str, int] = field(default_factory=dict)  # subject → owed messages its dead letters account for

    replaced: bool = False
    gone: bool = False  # deleted and not made again (the stream's consumer limit): nothing delivered until it is

    def report(self, service: str) -> str:
        done = (f"replaced, starting at JUSOU seq {self.start_seq}, after {service}'s tracking {self.tracking}"
                if self.replaced else "deleted, not made again" if self.gone else "kept as it is")
        return (f"{self.consumer}: {'; '.join(self.problems)}: {done} (a consumer of {service}'s name made by someone "
                "else? Or a store restored to an earlier point than the bus, or a release that takes a new event type "
                "of that source? README, \"A forged message on the bus\")")


def position_of(subject: str, data: bytes) -> int | None:
    """The source position a consumer would apply this message at; None for one the inbox parks (poison, refused)."""
    try:
        envelope, _ = read(data)
    except PoisonMessage:
        return None
    except Exception:  # noqa: BLE001 - anything `read` refuses is parked, not applied
        return None
    return None if refusal(subject, envelope) is not None else envelope.source_position


async def _next(js: JetStreamContext, subject: str, seq: int) -> Any:
    """The first message on `subject` at or after `seq`; None past the end."""
    try:
        found = await js.get_msg(STREAM, seq, subject=subject, next=True)
    except NotFoundError:
        return None
    return found if found.seq else None


async def first_after(js: JetStreamContext, subject: str, tracking: int, first_seq: int, last_seq: int) -> int | None:
    """The stream sequence of the first message on `subject` the service would apply with a position above `tracking`
    (bisection; messages it would park are stepped over); None when there is none up to `last_seq`."""

    async def at_or_after(seq: int) -> tuple[int, int] | None:
        while seq <= last_seq:
            found = await _next(js, subject, seq)
            if found is None or found.seq > last_seq:
                return None
            position = position_of(found.subject or subject, found.data or b"")
            if position is not None:
                return found.seq, position
            seq = found.seq + 1
        return None

    lo, hi = max(first_seq, 1), last_seq + 1
    while lo < hi:
        mid = (lo + hi) // 2
        found = await at_or_after(mid)
        if found is None or found[1] > tracking:
            hi = mid
        else:
            lo = found[0] + 1
    found = await at_or_after(lo)
    return found[0] if found is not None and found[1] > tracking else None


def config_problems(config: ConsumerConfig, max_deliver: int) -> list[str]:
    """What in a consumer's config would keep a message from the service whatever its position."""
    found = []
    if config.deliver_subject:
        found.append(f"a push consumer (deliver_subject {config.deliver_subject})")
    if config.ack_policy not in (AckPolicy.EXPLICIT, None):
        found.append(f"ack_policy {config.ack_policy.value if hasattr(config.ack_policy, 'value') else config.ack_policy}"
                     " (a message counts as handled before it is applied)")
    if config.deliver_policy == DeliverPolicy.LAST_PER_SUBJECT:
        found.append("deliver_policy last_per_subject (earlier messages of each subject never delivered)")
    if config.max_deliver not in (None, -1, 0) and config.max_deliver < max_deliver:
        found.append(f"max_deliver {config.max_deliver} (a message given up before the service parks it)")
    if config.headers_only:
        found.append("headers_only (no message body delivered)")
    if config.inactive_threshold:
        found.append(f"inactive_threshold {config.inactive_threshold} s (deleted by the server when idle)")
    paused = getattr(config, "pause_until", None)
    if paused:
        found.append(f"paused until {paused}")
    return found


async def dead_letters(js: JetStreamContext, service: str, source: str) -> dict[str, int]:
    """The service's dead letters of `source` still on JUSOU_DLQ, by original subject (`jusou.<source>.<Type>`)."""
    prefix = f"{DEAD_LETTER_PREFIX}.{service}.{source}."
    try:
        info = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=f"{prefix}>")
    except (NotFoundError, APIError):
        return {}
    return {f"{SUBJECT_PREFIX}.{source}.{subject.removeprefix(prefix)}": count
            for subject, count in (info.state.subjects or {}).items()}


async def examine(js: JetStreamContext, info: ConsumerInfo, *, service: str, source: str, subjects: Sequence[str],
                  tracking: int, max_deliver: int, mine: Callable[[bytes], bool] | None = None) -> Verdict:
    """Whether the existing consumer `info` will deliver every message of `subjects` the service has still to apply
    after its tracking `tracking` (`mine`: those of its partition only). The module's docstring says what is asked."""
    stream = (await js.stream_info(STREAM)).state
    first_seq, last_seq = stream.first_seq or 1, stream.last_seq or 0
    firsts = {subject: await first_after(js, subject, tracking, first_seq, last_seq) for subject in subjects}
    owed_from = min((seq for seq in firsts.values() if seq is not None), default=last_seq + 1)
    verdict = Verdict(info.name, tracking, owed_from, problems=config_problems(info.config, max_deliver))
    acked = info.ack_floor.stream_seq if info.ack_floor is not None else 0
    delivered = max(info.delivered.stream_seq if info.delivered is not None else 0, acked)
    if owed_from > delivered:
        return verdict  # nothing it passed is owed: it delivers everything from S on
    skipped: dict[str, int] = {}  # subject → owed messages acknowledged through it (at or below the ack floor)
    pending: dict[str, int] = {}  # subject → owed messages between its ack floor and its last delivery
    read = 0
    for subject, seq in firsts.items():
        while seq is not None and seq <= delivered:
            if read >= SCAN_LIMIT:
                verdict.problems.append(f"not verified: more than {SCAN_LIMIT} messages to read between JUSOU seq "
                                        f"{owed_from} and its last delivery {delivered}")
                return verdict
            found = await _next(js, subject, seq)
            if found is None or found.seq > delivered:
                break
            read += 1
            data = found.data or b""
            position = position_of(found.subject or subject, data)
            if position is not None and position > tracking and (mine is None or mine(data)):
                into = skipped if found.seq <= acked else pending
                into[subject] = into.get(subject, 0) + 1
            seq = found.seq + 1
    owed = dict(skipped)
    beyond = sum(pending.values()) - (info.num_ack_pending or 0)
    for subject, count in sorted(pending.items()):  # more owed in flight than pending: some were acknowledged
        if beyond <= 0:
            break
        taken = min(count, beyond)
        owed[subject] = owed.get(subject, 0) + taken
        beyond -= taken
    if not owed:
        return verdict
    parked = await dead_letters(js, service, source)
    unexplained = {subject: count for subject, count in owed.items() if count > parked.get(subject, 0)}
    if not unexplained:
        verdict.forgiven = owed
        log.info("inbox.consumer_owed_parked", service=service, consumer=info.name, owed=owed, dead_letters=parked)
        return verdict
    described = ", ".join(f"{count} of {subject}" for subject, count in sorted(owed.items()))
    verdict.problems.append(
        f"{described} after the tracking (from JUSOU seq {owed_from}) acknowledged through it without being applied "
        f"nor parked by {service} (ack floor {acked}, last delivered {delivered}, {info.num_ack_pending or 0} pending): "
        "it would never deliver them")
    return verdict


async def adopt(js: JetStreamContext, name: str, judge: Callable[[ConsumerInfo], Any],
                make: Callable[[int], ConsumerConfig], service: str) -> Verdict | None:
    """Adopt the existing consumer `name` if `judge` (an awaitable `examine`) finds nothing wrong; else replace it with
    `make(start_seq)` and return the verdict (also when it could not be replaced: then its `problems` say so). None when
    there is no consumer of that name (the caller makes it as always) or it is adopted."""
    verdict: Verdict | None = None
    for _ in range(ATTEMPTS):
        try:
            info = await js.consumer_info(STREAM, name)
        except NotFoundError:
            if verdict is None:
                return None
            info = None  # deleted by another replica replacing it: made here unless that one is quicker
        if info is not None:
            verdict = await judge(info)
            if not verdict.problems:
                return None
            try:
                again = await js.consumer_info(STREAM, name)
            except NotFoundError:
                again = None
            if again is not None:
                if again.created != info.created:
                    continue  # another replica replaced it meanwhile: examine that one
                try:
                    await js.delete_consumer(STREAM, name)
                except NotFoundError:
                    pass
                except Exception as exc:  # noqa: BLE001 - not this user's to delete (a NATS config of an older version)
                    verdict.problems.append(
                        f"not replaced: its deletion was refused ({type(exc).__name__}: {exc}); a service may delete its "
                        "own consumers with the NATS rights of this version (`jusou nats config`), or the operator "
                        "deletes it (`nats consumer rm`) and the service makes it anew when restarted")
                    log.error("inbox.consumer_not_replaced", service=service, consumer=name, problem=verdict.report(service))
                    return verdict
        assert verdict is not None
        try:
            await js.add_consumer(STREAM, config=make(verdict.start_seq))
        except APIError as exc:
            if limit_reached(exc):  # deleted, and not made again: nothing is delivered until it is
                verdict.gone = True
                verdict.problems.append(not_made(name, "then the service makes it when restarted", named=False))
                log.error("inbox.consumer_not_replaced", service=service, consumer=name, problem=verdict.report(service))
                return verdict
            log.warning("inbox.consumer_replaced_elsewhere", service=service, consumer=name, error=str(exc))
            continue  # made by another replica at the same moment: examined in turn
        verdict.replaced = True
        log.error("inbox.consumer_replaced", service=service, consumer=name, problem=verdict.report(service))
        return verdict
    if verdict is not None:
        verdict.problems.append(f"not replaced after {ATTEMPTS} attempts (other replicas replacing it too?)")
        log.error("inbox.consumer_not_replaced", service=service, consumer=name, problem=verdict.report(service))
    return verdict


#: nats-server's answer to a consumer create on a stream holding as many consumers as it may: since nats-server 2.15
#: every stream that sets no `max_consumers` of its own may hold 1,000 (`default_max_consumers`), and the integrator's
#: consumers count with the services' (the integrator may make any number it is allowed to: session 21, HE)
CONSUMER_LIMIT_REACHED = 10026


def limit_reached(exc: BaseException) -> bool:
    """Whether a consumer create was refused because the stream holds as many consumers as it may."""
    return isinstance(exc, APIError) and exc.err_code == CONSUMER_LIMIT_REACHED


def not_made(name: str, then: str, named: bool = True) -> str:
    """readyz's words for a consumer of the service that the stream's consumer limit keeps from being made."""
    return (f"{name + ': ' if named else ''}JUSOU の購読（consumer）が上限の数に達していて作れません（NATS: maximum "
            "consumers limit reached）。運用者が使われていない購読を削除するか（jusou status の「その他の購読」、nats "
            f"consumer rm）、JUSOU の max_consumers を上げてください / {name} cannot be made: JUSOU holds as many consumers as it may (NATS: "
            "maximum consumers limit reached; nats-server 2.15 allows 1,000 on a stream that sets no max_consumers, "
            "integrators' consumers included). The operator deletes the unused ones (jusou status, other consumers; "
            f"nats consumer rm) or raises JUSOU's max_consumers; {then}")


def start_at(start_seq: int) -> dict[str, Any]:
    """The deliver policy of a replacement starting at `start_seq`."""
    return ({"deliver_policy": DeliverPolicy.ALL} if start_seq <= 1 else
            {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": start_seq})


def subjects_of(source: str, event_types: Sequence[str] | frozenset[str]) -> list[str]:
    """The subjects of the types a service takes of `source`: what it owes an application to."""
    return [f"{SUBJECT_PREFIX}.{source}.{event_type}" for event_type in sorted(event_types)]
