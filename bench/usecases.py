"""`python bench/usecases.py [--tree DIR …]`: the CPU of the meeting's and collaboration's use cases for a journey, in
process (issue 19).

No HTTP, no bus, no suite: each tree's `MeetingApplication` and `CollaborationApplication` on SQLite files of their
own with the services' recorders and codec (shared/kernel/store.py `store_env`'s topics, AES-GCM and zlib), fed
upstream events through `receive` as their inboxes apply them, and driven through the use cases the bench journey's
requests call (tests/support/journey.py), with its polls: collaboration escalated, its case read twice, a plan
drafted, proposed, read three times, revised after the meeting's revision request, proposed again, read after the
approval, its closure requested, PlanClosed received; the meeting told of the consent and each proposal, a sitting
convened, its agenda item, sitting and consent read before each decision, two decisions, the closure's agenda item
read and the plan evaluated. `-n` journeys a round, this thread's CPU (`time.thread_time`) per journey; each tree in
a child process of its own, the trees alternating (A B, B A …) `--rounds` times; the table gives the medians and
each tree's ratio to the first. `--turns K`: one process per tree, kept for the run, the trees taking turns of `-n`
journeys K times each (A B, B A …), each turn's figure beside the first tree's of the same pair: on a loaded machine
the load changes between rounds more than the trees differ, within a pair of turns much less. What is left is our
use cases, the library and SQLite, on one thread with the store's pages warm: what a profile of a service mixes with
the HTTP stack's, the bus's and the other threads' (there a statement costs 5-20 times its in-process CPU: measure
statements in the suite).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]


def child(tree: Path, n: int, warm: int, serve: bool = False) -> dict[str, float]:
    """In the child: `n` journeys through `tree`'s two applications, thread CPU per journey in ms (each app apart)."""
    import logging
    import time
    from datetime import date
    from uuid import uuid4

    os.chdir(tree)
    for extra in (str(tree / "tests"), str(tree)):
        sys.path.insert(0, extra)
    from support.municipality import ELDERLY, HARDSHIP, LEAD_NAME
    from unit.builders import COORDINATOR, ROLES, SECRETARIAT, Upstream, consent_recorded, plan_proposed

    from services.collaboration.application import CollaborationApplication
    from services.meeting.application import MeetingApplication
    from shared.kernel.lean import KeptKeyAESCipher  # noqa: F401  (the tree's codec: imported as the services do)

    logging.disable(logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="jusou-usecases-"))
    store = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "JUSOU_READMODELS_FOLLOW": "0",
             "PROCESS_RECORDER_TOPIC": "shared.kernel.store:LeanSQLiteProcessRecorder",
             "APPLICATION_RECORDER_TOPIC": "shared.kernel.store:LeanSQLiteApplicationRecorder",
             "CIPHER_TOPIC": "shared.kernel.lean:KeptKeyAESCipher",
             "CIPHER_KEY": base64.b64encode(os.urandom(32)).decode(),  # a fresh key per run (never one committed)
             "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
             "TRANSCODER_TOPIC": "shared.kernel.lean:OrjsonTranscoder"}
    collaboration = CollaborationApplication({**store, "SQLITE_DBNAME": str(folder / "collaboration.sqlite")})
    meeting = MeetingApplication({**store, "SQLITE_DBNAME": str(folder / "meeting.sqlite")})
    intake, to_collaboration, from_meeting = Upstream("intake"), Upstream("collaboration"), Upstream("meeting")
    attendees = [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]
    agree = [{"agency": a, "position": "agree"} for a in attendees]
    spent = {"meeting": 0.0, "collaboration": 0.0}

    def timed(service: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return call(*args, **kwargs)
        finally:
            spent[service] += time.thread_time() - started

    def decided(sitting: Any, plan_id: Any, decision: str, revision: int) -> dict[str, Any]:
        return {"meeting_id": str(sitting), "meeting_type": "jusou_shien_kaigi", "plan_id": str(plan_id),
                "decision": decision, "attendees": attendees, "reasons": "合議の結果", "program": "collaboration",
                "revision": revision}

    def journey() -> None:
        case_id = uuid4()
        c, m = "collaboration", "meeting"
        timed(m, meeting.receive, *intake.emit("ConsentRecorded", consent_recorded(True), case_id))
        escalated = intake.emit("CaseEscalated", {
            "reason": "母の介護と本人のひきこもり", "concerns": ["高齢・介護"], "primary_agency": ELDERLY.ja}, case_id)
        timed(c, collaboration.receive, *escalated)
        timed(m, meeting.receive, *escalated)  # the meeting hears it too: it lists collaboration's plans for it (D4)
        for _ in range(2):
            timed(c, collaboration.case_view, case_id)
        plan_id = timed(c, collaboration.draft_plan, COORDINATOR, case_id, "方向性", ["目標"], ROLES)
        timed(c, collaboration.propose_plan, COORDINATOR, plan_id)
        timed(m, meeting.receive, *to_collaboration.emit("PlanProposed", plan_proposed(plan_id, 1), case_id))
        sitting = timed(m, meeting.convene, SECRETARIAT, "jusou_shien_kaigi", date(2026, 11, 28), attendees)
        for revision, decision in ((1, "revision_requested"), (2, "approved")):
            for _ in range(2):
                timed(m, lambda: meeting.listed(plan_id).view())
            timed(m, meeting.meeting_view, SECRETARIAT, sitting)
            timed(m, meeting.consent_view, case_id)
            timed(m, meeting.decide, SECRETARIAT, sitting, plan_id, decision, "合議の結果", agree,
                  ["participation"] if decision == "approved" else [], None)
            timed(c, collaboration.receive, *from_meeting.emit("MeetingDecided",
                                                               decided(sitting, plan_id, decision, revision), case_id))
            for _ in range(3 if revision == 1 else 1):
                timed(c, collaboration.plan_view, plan_id)
            if revision == 1:
                timed(c, collaboration.revise_plan, COORDINATOR, plan_id, "方向性", ["目標", "居場所に月2回"], ROLES)
                timed(c, collaboration.propose_plan, COORDINATOR, plan_id)
                timed(m, meeting.receive, *to_collaboration.emit(
                    "PlanProposed", plan_proposed(plan_id, 2, goals=["目標", "居場所に月2回"]), case_id))
        timed(c, collaboration.request_plan_closure, COORDINATOR, plan_id, "本人が居場所に定着した")
        timed(m, meeting.receive, *to_collaboration.emit("PlanClosureRequested", {
            "plan_id": str(plan_id), "program": "collaboration", "progress": "本人が居場所に定着した"}, case_id))
        goals = timed(m, lambda: meeting.listed(plan_id).view())["goals"]
        timed(m, meeting.evaluate, SECRETARIAT, sitting, plan_id, "closed", "訪問12回", "目標を達成", "", None,
              [{"goal": g, "result": "achieved", "note": "月次で確認"} for g in goals])
        timed(c, collaboration.receive, *from_meeting.emit("PlanClosed", {
            "meeting_id": str(sitting), "plan_id": str(plan_id), "program": "collaboration",
            "meeting_type": "jusou_shien_kaigi", "evaluation": {"course": "訪問12回", "outcome": "目標を達成"}},
            case_id))
        assert collaboration.plan_view(plan_id)["status"] == "closed", "the journey went as the bench's"
        assert meeting.listed(plan_id).status == "closed"

    for _ in range(warm):
        journey()
    if serve:  # the parent's turns: a line "N" runs N journeys and answers their CPU (ms); an empty line ends
        print("ready", flush=True)
        for line in sys.stdin:
            if not line.strip():
                break
            spent.update(meeting=0.0, collaboration=0.0)
            for _ in range(int(line)):
                journey()
            print(json.dumps(spent), flush=True)
        collaboration.close()
        meeting.close()
        return {}
    spent.update(meeting=0.0, collaboration=0.0)
    for _ in range(n):
        journey()
    collaboration.close()
    meeting.close()
    return {k: v / n * 1000 for k, v in spent.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="journeys a round (with --turns: a turn)")
    parser.add_argument("--warm", type=int, default=20, help="journeys before the measured ones")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--turns", type=int, default=0,
                        help="instead of rounds: one process per tree, kept, the trees taking turns of -n journeys "
                             "this many times each (a loaded machine's changes fall on all alike)")
    parser.add_argument("--tree", action="append", default=[], metavar="DIR", help="another source tree (repeatable)")
    parser.add_argument("--one", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(child(Path(args.one), args.n, args.warm, args.serve)))
        return
    trees = [HERE, *[Path(t).resolve() for t in args.tree]]
    found: dict[Path, list[dict[str, float]]] = {t: [] for t in trees}
    if args.turns:
        children = {t: subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--one", str(t), "--warm",
                                         str(args.warm), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True) for t in trees}
        for proc in children.values():
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for i in range(args.turns):
            for tree in (trees if i % 2 == 0 else list(reversed(trees))):
                proc = children[tree]
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(f"{args.n}\n")
                proc.stdin.flush()
                figures = json.loads(proc.stdout.readline())
                found[tree].append({k: v / args.n * 1000 for k, v in figures.items()})
        for proc in children.values():
            proc.communicate("\n")
        print(f"{args.turns} turns of {args.n} journeys each (load {os.getloadavg()[0]:.1f} at the end)")
    for i in range(args.rounds if not args.turns else 0):
        for tree in (trees if i % 2 == 0 else list(reversed(trees))):
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", str(tree), "-n", str(args.n),
                                   "--warm", str(args.warm)], capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            found[tree].append(figures)
            load = os.getloadavg()[0]
            print(f"round {i + 1} {tree.name}: meeting {figures['meeting']:.2f} ms, collaboration "
                  f"{figures['collaboration']:.2f} ms a journey (load {load:.1f})", flush=True)
    print(f"{'ms of thread CPU a journey':40}" + "".join(f"{t.name:>14}" for t in trees) + "   ÷ first")
    for service in ("meeting", "collaboration"):
        for label, pick in (("median", statistics.median), ("mean", statistics.fmean)):
            figures = [pick(r[service] for r in found[t]) for t in trees]
            print(f"{service + ' (' + label + ')':40}" + "".join(f"{m:14.2f}" for m in figures)
                  + "".join(f"{m / figures[0]:8.2f}" for m in figures[1:]))
    if args.turns and len(trees) > 1:  # each turn beside the first tree's in the same pair of turns
        for service in ("meeting", "collaboration"):
            for tree in trees[1:]:
                ratios = [b[service] / a[service] for a, b in zip(found[trees[0]], found[tree], strict=True)]
                print(f"{service}: {tree.name} ÷ {trees[0].name}, turn by turn: median {statistics.median(ratios):.3f}, "
                      f"{sum(r > 1 for r in ratios)} of {len(ratios)} turns dearer")


if __name__ == "__main__":
    main()
