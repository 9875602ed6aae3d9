"""`jusou status` prints a service's problems as text, never as the operator's terminal commands.

The review from outside (an attacker with intake's NATS password): a message on `jusou.intake.Evil<ESC>[31m…` is one
intake's store never recorded, and intake's /readyz names it among its problems, subject and all; `jusou status`
printed that line as it came, so the escape sequences reached the operator's terminal (a colour here; a cleared
screen, an OSC 8 link to another site elsewhere). As `jusou deadletters` does (tests/security/test_hc_dead_letter_
display.py): each control character shows as a visible escape (`\\x1b`), markup as written.
"""

from __future__ import annotations

from rich.console import Console

from jusou import ops

SUBJECT = "jusou.intake.Evil\x1b[31mRED\x1b[0m\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\[bold]x[/bold]"
PROBLEM = f"1 message(s) on jusou.intake.> that intake's store never recorded: seq 2 {SUBJECT}: not an envelope"


def printed(status: dict) -> str:
    console = Console(record=True, width=400, force_terminal=True, color_system="truecolor")
    with console.capture() as captured:
        console.print(ops.render_status(status))
    return captured.get()


def test_a_problem_naming_a_forged_subject_reaches_the_terminal_as_text() -> None:
    row = {"health": "degraded", "url": "http://127.0.0.1:8101", "consumers": [], "problems": [PROBLEM],
           "error": PROBLEM}
    status = {"services": {"intake": row}, "other_consumers": [], "missing_consumers": [],
              "nats": {"up": False, "url": "nats://127.0.0.1:4223", "error": "", "advice": ""}}

    out = printed(status)

    assert "\x1b]8;;http://evil.example" not in out and "\x1b[31mRED" not in out, repr(out)
    assert "\\x1b[31mRED" in out and "\\x1b]8;;http://evil.example" in out
    assert "[bold]x[/bold]" in out  # markup as written


def test_a_consumer_named_by_the_integrator_reaches_the_terminal_as_text() -> None:
    """The integrator's NATS user (shared by every program) may create a consumer of JUSOU under any name but Jusou's;
    a name is a subject token, so `mhlw<ESC>[2J<ESC>[31mRED[red]x` is one: `jusou status` lists it among the other
    consumers, where the screen was cleared and `[red]` read as markup."""
    name = "mhlw\x1b[2J\x1b[31mRED[red]x"
    consumer = {"name": name, "stream": "JUSOU", "delivered": 27, "pending": 0, "redelivered": 0, "ack_pending": 0}
    status = {"services": {}, "other_consumers": [consumer], "missing_consumers": [],
              "nats": {"up": False, "url": "nats://127.0.0.1:4223", "error": "", "advice": ""}}

    out = printed(status)

    assert "\x1b[2J" not in out and "\x1b[31mRED" not in out, repr(out)
    assert "\\x1b[2J" in out and "[red]x" in out
