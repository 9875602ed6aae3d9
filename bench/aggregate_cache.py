"""`python bench/aggregate_cache.py`: CPU per read and per command with decoded aggregates kept or not (issue 19).

In one process, on SQLite files, intake's application twice: `JUSOU_AGGREGATE_CACHE=0` (each load selects,
decrypts, decompresses and replays every event of the aggregate) and the default (a kept aggregate reads only the
events after its version, and is copied for the caller). For cases of a given age (events recorded before), each
unit is what a staff member's visit does, each request after the policy's scope check (`case_divisions`): read the
case (`case_view`), record a consent (a command: load, event, save), read it again; its first read finds the case not kept (as after a restart) unless `--warm`. The two
applications' visits alternate (A B A B), so the machine's other work falls on both; thread CPU time per visit,
medians of the rounds, and the ratio kept ÷ not kept. `--commands`: three commands a visit and no read (an inbox).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

HERE = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(HERE / "tests"), str(HERE)]


def open_intake(folder: Path, kept: int) -> Any:
    os.environ["JUSOU_DATA_DIR"] = str(folder)
    os.environ["JUSOU_STORE"] = "sqlite"
    os.environ["JUSOU_AGGREGATE_CACHE"] = str(kept)
    from services.intake.application import IntakeApplication
    from shared.kernel.store import store_env
    from shared.settings import Settings

    return IntakeApplication(env={**store_env(Settings.from_env("intake")), "JUSOU_READMODELS_FOLLOW": "0"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python bench/aggregate_cache.py", description=__doc__.split("\n")[0])
    parser.add_argument("--ages", default="1,5,15,40", help="events each case has before the measured visits")
    parser.add_argument("-n", type=int, default=150, help="cases (one visit each) per round and age")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--commands", action="store_true",
                        help="each visit three commands and no read (as an inbox's handlers), not the page's")
    parser.add_argument("--warm", action="store_true",
                        help="the cases stay kept from their recording (a busy service), not read anew (a restart)")
    args = parser.parse_args(argv)
    from support.municipality import HARDSHIP

    staff = {"staff_id": "s-014", "division": HARDSHIP.division}
    apps = {kept: open_intake(Path(tempfile.mkdtemp(prefix=f"jusou-kept{kept}-")), kept) for kept in (0, 1000)}
    print(f"{'events before':>14} {'not kept (us)':>14} {'kept (us)':>10} {'kept ÷ not':>11}   per visit: 3 scope checks, read, command, read")
    for age in (int(a) for a in args.ages.split(",")):
        cpu: dict[int, list[float]] = {0: [], 1000: []}
        for _ in range(args.rounds):
            cases: dict[int, list[UUID]] = {}
            for kept, app in apps.items():
                cases[kept] = []
                for _ in range(args.n):
                    case_id = app.receive_consultation(staff, HARDSHIP.code, HARDSHIP.division, "電話", ["生活困窮"],
                                                       {"name": "調布 花子", "kana": "ちょうふ はなこ",
                                                        "birth_date": "1950-04-01"}, None, True)
                    for i in range(age - 1):
                        app.record_consent(staff, case_id, "関係機関との情報共有", i % 2 == 0, "書面")
                    cases[kept].append(case_id)
                if kept and not args.warm:
                    app.repository.clear()  # each visit's first read finds the case not kept, as after a restart
            spent = {0: 0.0, 1000: 0.0}
            for i in range(args.n):  # visits alternate between the two applications
                for kept, app in apps.items():
                    case_id = cases[kept][i]
                    start = time.thread_time()
                    if args.commands:  # as an inbox's handlers: commands, no page
                        for granted in (True, False, True):
                            app.record_consent(staff, case_id, "関係機関との情報共有", granted, "書面")
                        spent[kept] += time.thread_time() - start
                        continue
                    app.case_divisions(case_id)  # each request's scope check (shared/web/policy.py), then its work
                    app.case_view(case_id)
                    app.case_divisions(case_id)
                    app.record_consent(staff, case_id, "関係機関との情報共有", True, "書面")
                    app.case_divisions(case_id)
                    app.case_view(case_id)
                    spent[kept] += time.thread_time() - start
            for kept in apps:
                cpu[kept].append(spent[kept] / args.n * 1e6)
        off, on = statistics.median(cpu[0]), statistics.median(cpu[1000])
        print(f"{age:>14} {off:>14.0f} {on:>10.0f} {on / off:>11.2f}")
    for app in apps.values():
        app.close()


if __name__ == "__main__":
    main()
