"""README.md's walk-through ("one case from the counter to 終結"), run as a new user runs it: the shell blocks are read
from the README itself, so the README and the suite cannot drift apart.

The blocks run in one bash (`-e -o pipefail`), with `jusou` on PATH as after `. .venv/bin/activate`, and the suite's
ports for `localhost:8101` …. As the README tells a person, a 404 or 409 from a step that needs what another program
did is sent again (for at most 30 s: on a busy machine its `sleep 1` may be short), and a line showing a plan's
`# status: X` waits until collaboration shows X; any other refusal stops the block, naming the step. The README's
comments are then checked against the answers (approved, closed, the D14 report), and the second block (中断, 再開,
伴走支援) on a case of its own. The README names Chofu's counters, so on another municipality's file the module is
skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from support.municipality import IS_DEFAULT

from jusou.runner import Suite

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
PORTS = dict(zip(SERVICES, range(8101, 8107), strict=True))
# the block adds staff accounts (passwords of its own): an auth folder of this module's, not the run's shared one
AUTH = Path(tempfile.mkdtemp(prefix="jusou-readme-auth-"))

pytestmark = [pytest.mark.skipif(not IS_DEFAULT, reason="the README's walk-through names Chofu's counters"),
              pytest.mark.own_suite(extra_env={"JUSOU_AUTH_DIR": str(AUTH)})]

# The README: "a 404 … or a 409 `consent_missing` … means 'not heard yet': send it again". curl as a person uses it,
# who sends again what answered so (for at most 30 s), sees each answer on a line, and stops at any other refusal.
CURL = r"""
curl() {
  local out code
  for _ in $(seq 100); do
    out=$(command curl -w '\n%{http_code}' "$@")
    code=${out##*$'\n'}
    case "$code" in 404|409) sleep 0.3 ;; *) break ;; esac
  done
  printf '%s\n' "${out%$'\n'*}"
  [ "$code" -lt 400 ] || { echo "refused: $code $*" >&2; return 22; }
}
"""
# "sleep 1; curl … /plans/$PLAN   # status: X": the status is what collaboration shows once it has heard
STATUS_LINE = re.compile(r"^sleep 1; (curl -s \$W localhost:8102/plans/\$PLAN) +# status: (\w+).*$", re.MULTILINE)


def blocks() -> list[str]:
    """The walk-through section's shell blocks, as written."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## A walk-through")
    section = text[start:text.index("\n## ", start + 1)]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def as_run(block: str, suite: Suite) -> str:
    """The block with the suite's ports and, where it shows a plan's status, a wait until collaboration shows it."""
    block = STATUS_LINE.sub(lambda m: f"for _ in $(seq 300); do {m[1]} | grep '\"status\":\"{m[2]}\"' >/dev/null && break; "
                                      f"sleep 0.1; done; {m[1]}", block)
    for name, port in PORTS.items():
        block = block.replace(f"localhost:{port}", suite.url(name).removeprefix("http://"))
    return block


def run(script: str, suite: Suite) -> list[Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NATS_", "JUSOU_"))}
    env |= {"JUSOU_AUTH_DIR": str(AUTH), "JUSOU_DATA_DIR": str(suite.data_dir),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}  # `. .venv/bin/activate`
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", CURL + script], check=False, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"the README's block stopped ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith(("{", "["))]


def test_readme_walkthrough_d1_to_d7_from_the_counter_to_shuuketsu(running_suite: Suite) -> None:
    """Step by step as the README says: consent (D9), escalation (D3), a plan proposed (D4), the 重層的支援会議's
    consensus (D5) reaching collaboration, the closure request and evaluation ending the plan (D7), the trend (D14)."""
    first, *_ = blocks()
    assert [status for _, status in STATUS_LINE.findall(first)] == ["approved", "closed"], "the README's checks moved"
    answers = run(as_run(first, running_suite), running_suite)
    assert [a.get("status") for a in answers[:2]] == ["consent recorded", "escalated"], answers[:2]
    assert answers[2]["revision"] == 1, answers[2]  # proposed
    assert answers[3]["decision"] == "approved", answers[3]
    assert answers[4]["status"] == "approved", "README: '# status: approved — the decision reached collaboration'"
    assert answers[5]["status"] == "closure_requested", answers[5]
    assert answers[6]["outcome"] == "closed", answers[6]
    assert answers[7]["status"] == "closed", "README: '# status: closed'"
    [trend] = [row for row in answers[8] if row["counter"] == "houkatsu"]
    assert (trend["consultations"], trend["escalations"], trend["meeting_cases"]) == (1, 1, 1), trend


def test_readme_walkthrough_d7_d9_suspension_resumption_and_accompaniment(running_suite: Suite) -> None:
    """The README's "instead of step 5" block on a case of its own (another person: the README says a second run
    finds 調布 花子 already known): 中断, consent recorded again (D9), 再開, then 伴走支援 and a dated check-in."""
    first, second, *_ = blocks()
    steps_1_to_4 = first[:first.index("# 5.")].replace('"調布 花子","birth_date":"1944-05-01"',
                                                       '"狛江 次郎","birth_date":"1950-02-01"')
    assert steps_1_to_4 != first[:first.index("# 5.")], "the README's person changed: update this test"
    answers = run(as_run(steps_1_to_4, running_suite) + "\n" + as_run(second, running_suite), running_suite)
    assert answers[5]["status"] == "closure_requested", answers[5]
    assert answers[6]["outcome"] == "suspended", answers[6]
    assert answers[7]["status"] == "consent recorded", answers[7]
    assert answers[8]["status"] == "resumed", answers[8]
    assert answers[9]["status"] == "accompanying", answers[9]
    assert answers[10]["status"] == "accompanying", answers[10]
