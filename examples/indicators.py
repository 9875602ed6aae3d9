#!/usr/bin/env python3
"""MHLW indicators (重層的支援体制整備事業の実施状況) from the JUSOU stream, with nats-py and the contract package.

A new program integrates by subscribing: its own durable consumer on `jusou.>` from the first
event, its own view, caught up and then kept live. Of Jusou it needs only `jusou-contract`
(packages/jusou-contract: the envelope, the event models and their upcasters), nothing else.

    python examples/indicators.py [NATS_URL] [--user U --password P | --creds FILE | --nkey SEED]
                                  [--inbox-prefix P] [--durable NAME] [--state FILE] [--count N | --once]

NATS_URL is the argument, else $NATS_URL, else nats://127.0.0.1:4223 (`jusou up`). It signs in with the
first of these that is given (a flag, else its variable):
- --creds FILE ($NATS_CREDS): a NATS `.creds` file (a user JWT and its NKey seed, as `nsc` writes them)
  for a NATS with decentralised JWT authentication;
- --nkey SEED ($NATS_NKEY): an NKey user seed (`SU…`), or a file holding one, for a NATS whose
  authorization lists the user by its public key (`{nkey: U…}`);
- --user/--password ($NATS_USER/$NATS_PASSWORD): on Jusou's NATS, the read-only user `integrator`
  (`jusou nats credentials integrator`).
.creds and NKeys need nats-py's `nkeys` extra (`pip install "nats-py[nkeys]"`). Replies come on the inbox
prefix --inbox-prefix ($NATS_INBOX_PREFIX), by default `_INBOX_<user>`, or `_INBOX_integrator` with a
.creds file or an NKey (Jusou's integrator may subscribe to that one only).
A refused sign-in stops it at once with status 2 and why. After each batch it prints the
view as one JSON line; it stops after N messages (--count), once caught up (--once), on Ctrl-C or
on SIGTERM (also while it waits for NATS). The view, the last stream sequence and the `event_id` of each
event counted are saved to FILE before the batch is acked, so a restart resumes where it stopped, a
redelivered message changes nothing, and neither does a copy of an event already counted (the same
`event_id` at a later stream sequence: a republish after the stream's two-minute duplicate window, or a body
copied by whoever holds that service's NATS password); a copy is counted in `skipped`. (Not the highest
`source_position` per source: one forged message claiming a far position would make every real event after
it look counted.)
"""

import argparse
import asyncio
import importlib.util
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import nats
from jusou_contract import PRODUCERS, STREAM, PoisonMessage, parse, upcast
from nats.js.api import ConsumerConfig, DeliverPolicy

EMPTY = {"last_seq": 0, "consultations_by_counter": {}, "cases_escalated": 0, "escalations_by_reason": {},
         "person_of_case": {}, "participation_cases": [], "plans_closed": 0, "skipped": 0, "counted": {}}


#: the event types the view counts (each once, by its event_id)
COUNTED = ("ConsultationReceived", "CaseEscalated", "ParticipationStarted", "PlanClosed")


def apply(view: dict, subject: str, body: bytes) -> None:
    """Fold one message into the view; PoisonMessage for an event this contract does not know, whose envelope does
    not agree with its subject (docs/integrating.md §1: trust the subject, not the body), or whose source is not a
    producer of its type (`PRODUCERS`: whoever holds outreach's password may publish `jusou.outreach.PlanClosed`)."""
    envelope, payload = upcast(*parse(body))  # validated; CaseEscalated v1 arrives as v2 (reason_code)
    if subject != f"jusou.{envelope.source}.{envelope.event_type}":  # only `source` may publish on jusou.<source>.>
        raise PoisonMessage(f"the envelope claims {envelope.source}.{envelope.event_type} on {subject}")
    if envelope.source not in PRODUCERS.get(envelope.event_type, ()):  # a type only its producers publish (CONTRACT.md)
        raise PoisonMessage(f"{envelope.source} does not publish {envelope.event_type}: only {PRODUCERS.get(envelope.event_type)}")
    kind, case, event_id = envelope.event_type, str(envelope.case_id), str(envelope.event_id)
    counted = view.setdefault("counted", {})  # event_id → 1 (a view saved by an earlier version has none)
    if kind in COUNTED and event_id in counted:
        raise PoisonMessage(f"{kind} {event_id} is counted already: a copy (a republish, or copied)")
    if kind in COUNTED:
        counted[event_id] = 1
    if kind == "ConsultationReceived":  # 相談受付件数, per counter
        by_counter = view["consultations_by_counter"]
        by_counter[payload.counter] = by_counter.get(payload.counter, 0) + 1
        view["person_of_case"][case] = payload.person_ref
    elif kind == "CaseEscalated":  # 多機関協働へつないだ件数, by reason (未分類 for a v1 event: free text only)
        view["cases_escalated"] += 1
        view["escalations_by_reason"][payload.reason_code] = view["escalations_by_reason"].get(payload.reason_code, 0) + 1
    elif kind == "ParticipationStarted" and case not in view["participation_cases"]:  # 参加支援の対象者
        view["participation_cases"].append(case)
    elif kind == "PlanClosed":  # プランの終結
        view["plans_closed"] += 1


def indicators(view: dict, caught_up: bool) -> dict:
    people = {view["person_of_case"].get(case, case) for case in view["participation_cases"]}
    return {"caught_up": caught_up, "stream_seq": view["last_seq"],
            "consultations_by_counter": dict(sorted(view["consultations_by_counter"].items())),
            "cases_escalated": view["cases_escalated"], "escalations_by_reason": view["escalations_by_reason"],
            "people_supported_by_participation": len(people), "plans_closed": view["plans_closed"],
            "skipped": view["skipped"]}


REFUSED = 2  # exit status: NATS refused the sign-in, or what to sign in with cannot be used


class SignIn:
    """How to sign in to NATS: a .creds file, an NKey seed, or a user and password (the first given), or none."""

    def __init__(self, user: str | None = None, password: str | None = None, creds: str | None = None,
                 nkey: str | None = None, inbox_prefix: str | None = None) -> None:
        self.user, self.password, self.creds, self.nkey = user, password, creds, nkey
        self.inbox_prefix = inbox_prefix

    def options(self) -> dict:
        """nats.connect's keyword arguments; ValueError saying what to do when they cannot be used."""
        if self.creds or self.nkey:
            if importlib.util.find_spec("nkeys") is None:  # nats-py signs the server's nonce with it
                raise ValueError('a .creds file or an NKey needs nats-py\'s nkeys extra: pip install "nats-py[nkeys]"'
                                 " / .creds・NKey には nkeys が必要です")
            prefix = {"inbox_prefix": self.inbox_prefix or "_INBOX_integrator"}
            if self.creds:
                if not Path(self.creds).is_file():
                    raise ValueError(f"no .creds file at {self.creds!r} (NATS_CREDS) / .creds ファイルがありません")
                return {"user_credentials": self.creds, **prefix}
            if Path(self.nkey).is_file():
                return {"nkeys_seed": self.nkey, **prefix}
            if not self.nkey.startswith("SU"):
                raise ValueError("--nkey (NATS_NKEY) is a user seed, SU…, or a file holding one; the public key U… is "
                                 "the server's half / NKey はユーザーのシード（SU…）かそのファイルです")
            return {"nkeys_seed_str": self.nkey, **prefix}
        if self.user:
            return {"user": self.user, "password": self.password or "",
                    "inbox_prefix": self.inbox_prefix or f"_INBOX_{self.user}"}
        return {"inbox_prefix": self.inbox_prefix} if self.inbox_prefix else {}

    def who(self) -> tuple[str, str]:
        """Whom NATS refused, and what to check."""
        if self.creds:
            return f"the credentials file {self.creds!r}", "Check NATS_CREDS"
        if self.nkey:
            return "the NKey seed given", "Check NATS_NKEY"
        return (f"the user {self.user or '(none)'!r}",
                "Check NATS_USER and NATS_PASSWORD (`jusou nats credentials` prints them)")


async def connect(url: str, sign_in: SignIn, stop: asyncio.Event, refused: list[str]) -> "nats.NATS | None":
    """Connect (retrying while NATS is away), or None once stopped or refused (said on stderr, in `refused`)."""

    async def say(error: Exception) -> None:
        if "authorization violation" in str(error).lower() or "authentication" in str(error).lower():
            if not refused:  # wrong credentials: trying again will not help
                refused.append(str(error))
                whom, check = sign_in.who()
                print(f"NATS refused {whom}: {error}. {check} / NATS がサインインを拒否しました",
                      file=sys.stderr, flush=True)
            stop.set()
            return
        print(f"NATS: {error}", file=sys.stderr, flush=True)

    try:
        credentials = sign_in.options()
    except ValueError as unusable:
        refused.append(str(unusable))
        print(unusable, file=sys.stderr, flush=True)
        return None
    connecting = asyncio.ensure_future(nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=2,
                                                    error_cb=say, **credentials))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not connecting.done():
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        return None
    return connecting.result()


def kept_view(state: Path) -> dict[str, Any] | None:
    """The view saved in `state` (a new one when there is none), or None, said on stderr, when the file cannot keep
    it: its folder is not there or may not be written (each ended in a traceback at the first save, after catching up),
    or it holds no JSON."""
    if not state.parent.is_dir():
        print(f"--state {state}: the folder {state.parent} is not there: make it, or name a file in another one",
              file=sys.stderr)
        return None
    try:  # the view is saved as <state>.tmp, then put in its place: a folder it may not write (or a name too long for
        # it) ended in a traceback at the first save, after catching up
        saved = state.with_suffix(".tmp")
        made = not saved.exists()
        with saved.open("a"):
            pass
        if made:
            saved.unlink()
        there = state.exists()
    except OSError as exc:
        print(f"--state {state}: the view cannot be saved there ({type(exc).__name__}: {exc.strerror or exc}): name a "
              f"file in a folder this program may write", file=sys.stderr)
        return None
    if not there:
        return dict(json.loads(json.dumps(EMPTY)))
    try:
        return dict(json.loads(state.read_text()))
    except (OSError, ValueError, TypeError) as exc:  # TypeError: JSON, but not an object
        print(f"--state {state}: the saved view cannot be read ({type(exc).__name__}: {exc}): restore it from a "
              f"backup, or name a new file (the view is then counted again from the first event)", file=sys.stderr)
        return None


async def run(url: str, durable: str, state: Path, count: int | None, user: str | None = None,
              password: str | None = None, once: bool = False, sign_in: SignIn | None = None) -> int:
    if count is not None and count < 1:  # it connected, read nothing and ended with status 0, saying nothing
        print(f"--count {count}: give 1 or more messages to read (or --once to stop once caught up)", file=sys.stderr)
        return REFUSED
    view = kept_view(state)
    if view is None:
        return REFUSED
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    refused: list[str] = []
    nc = await connect(url, sign_in or SignIn(user, password), stop, refused)
    if nc is None:
        return REFUSED if refused else 0  # refused, or stopped before NATS answered
    try:
        sub = await nc.jetstream().pull_subscribe(
            "jusou.>", durable=durable, stream=STREAM, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    except Exception as exc:  # noqa: BLE001 - refused (not this user's consumer) or NATS away
        print(f"cannot subscribe with the durable consumer {durable!r}: {type(exc).__name__} {exc}", file=sys.stderr)
        await nc.close()
        return 1
    seen, printed = 0, False
    while not stop.is_set() and (count is None or seen < count):
        try:
            batch = await sub.fetch(min(100, count - seen) if count else 100, timeout=1)
        except TimeoutError:  # nothing new within a second (nats-py raises asyncio's or its own subclass)
            batch = []
        except nats.errors.Error:  # NATS away: the connection reconnects by itself
            await asyncio.sleep(1)
            continue
        for msg in batch:
            if msg.metadata.sequence.stream <= view["last_seq"]:
                continue  # already in the saved view
            try:
                apply(view, msg.subject, msg.data)
            except Exception:  # noqa: BLE001 - PoisonMessage, or a body no JSON reader takes: passed over, counted
                view["skipped"] += 1  # not an event this contract knows (a newer version), or forged
            view["last_seq"] = msg.metadata.sequence.stream
        if batch:
            state.with_suffix(".tmp").write_text(json.dumps(view))
            state.with_suffix(".tmp").replace(state)  # saved before acked: a crash redelivers, changes nothing
            for msg in batch:
                await msg.ack()
            seen += len(batch)
        caught_up = not batch or batch[-1].metadata.num_pending == 0
        if batch or not printed:
            print(json.dumps(indicators(view, caught_up), ensure_ascii=False), flush=True)
            printed = True
        if once and caught_up:
            break
    try:
        await nc.flush(timeout=2)  # the last acks
    except (nats.errors.Error, TimeoutError):
        pass  # unacked: redelivered next time, and skipped (already in the saved view)
    await nc.close()
    return 0


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("url", nargs="?", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4223"))
    cli.add_argument("--durable", default="mhlw-indicators", help="this program's own durable consumer")
    cli.add_argument("--state", default=None, help="where the view is kept (default: ./<durable>.json)")
    cli.add_argument("--count", type=int, default=None, help="stop after this many messages")
    cli.add_argument("--once", action="store_true", help="stop once caught up (a report run from cron)")
    cli.add_argument("--user", default=os.environ.get("NATS_USER"), help="NATS user (default $NATS_USER)")
    cli.add_argument("--password", default=os.environ.get("NATS_PASSWORD"), help="its password (default $NATS_PASSWORD)")
    cli.add_argument("--creds", default=os.environ.get("NATS_CREDS"),
                     help="a NATS .creds file: user JWT and NKey seed (default $NATS_CREDS); before --nkey and --user")
    cli.add_argument("--nkey", default=os.environ.get("NATS_NKEY"),
                     help="an NKey user seed SU…, or a file holding one (default $NATS_NKEY); before --user")
    cli.add_argument("--inbox-prefix", default=os.environ.get("NATS_INBOX_PREFIX"),
                     help="where replies come (default $NATS_INBOX_PREFIX, else _INBOX_<user>, or _INBOX_integrator "
                          "with --creds or --nkey)")
    args = cli.parse_args()
    sign_in = SignIn(args.user, args.password, args.creds, args.nkey, args.inbox_prefix)
    sys.exit(asyncio.run(run(args.url, args.durable, Path(args.state or f"{args.durable}.json"), args.count,
                             once=args.once, sign_in=sign_in)))
