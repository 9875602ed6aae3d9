"""README.md's walk-through ("one case from the counter to 終結"), run as a new user runs it: the shell blocks are read
from the README itself, so the README and the suite cannot drift apart.

The blocks run in one bash (`-e -o pipefail`), with `jusou` on PATH as after `. .venv/bin/activate`, and the suite's
ports for `localhost:8101` …. As the README tells a person, a 404 or 409 from a step that needs what another program
did is sent again (for at most 30 s: on a busy machine its `sleep 1` may be short), and a line showing a plan's
`# status: X` waits until collaboration shows X; any other refusal stops the block, naming the step. The README's
comments are then checked against the answers (approved, closed, the D14 report), and the second block (中断, 再開,
伴走支援) on a case of its own, and each refusal the section lists, with the status it names. The README names
Chofu's counters: the module's suite runs on Chofu's file (the default) whatever file the test run is on.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from jusou.runner import Suite
from shared.organisation.municipality import DEFAULT_FILE

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
PORTS = dict(zip(SERVICES, range(8101, 8107), strict=True))
# the block adds staff accounts (passwords of its own): an auth folder of this module's, not the run's shared one
AUTH = Path(tempfile.mkdtemp(prefix="jusou-readme-auth-"))
atexit.register(shutil.rmtree, AUTH, True)

# The README's walk-through names Chofu's counters and divisions: its suite runs on the default file, Chofu's, as a new
# user's `python3 dev.py up` does, also in the run on another municipality's file (never skipped: that run allows none)
pytestmark = pytest.mark.own_suite(extra_env={"JUSOU_AUTH_DIR": str(AUTH), "JUSOU_MUNICIPALITY_FILE": str(DEFAULT_FILE)})

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


def test_readme_walkthrough_refusals_d4_d5_d9_d11_each_with_the_status_it_names(running_suite: Suite) -> None:
    """The walk-through's list of refusals, each sent as its step would be and answered with the status the README
    gives it: a plan without roles or with an unknown agency (422, D4), approval while an agency objects (409, D5; an
    objection without its reason 422), one agency twice (422, D5), the 重層的支援会議 without consent (409, D9),
    resuming without a consent recorded after the suspension (409, D7 D9), a plan for a case returned to intake (409,
    D11), 対応終了 while the case is escalated with an active plan (409); and 対応終了 of a case intake handled itself."""
    import time

    import httpx

    env = {key: value for key, value in os.environ.items() if not key.startswith(("NATS_", "JUSOU_"))}
    env |= {"JUSOU_AUTH_DIR": str(AUTH), "JUSOU_DATA_DIR": str(running_suite.data_dir)}
    jusou = str(Path(sys.executable).parent / "jusou")
    headers = {}
    for staff, division, role in (("kouki-012", "elderly-support", "counselor"),
                                  ("fukushi-003", "welfare-general", "coordinator"),
                                  ("kaigi-001", "welfare-general", "secretariat")):
        subprocess.run([jusou, "staff", "add", staff, "--division", division, "--role", role, "--password-stdin"],
                       input="a long password\n", env=env, check=True, capture_output=True, text=True)
        token = subprocess.run([jusou, "token", staff], env=env, check=True, capture_output=True, text=True).stdout
        headers[role] = {"authorization": f"Bearer {token.strip()}"}
    url = {name: running_suite.url(name) for name in SERVICES}
    client = httpx.Client(timeout=10, trust_env=False)

    def post(service: str, path: str, role: str, body: dict[str, Any] | None = None,
             not_yet: tuple[int, ...] = (404,)) -> httpx.Response:
        """As a person sends it: again while the program has not heard yet (the README's 404), for at most 30 s."""
        deadline = time.monotonic() + 30
        while True:
            answer = client.post(url[service] + path, headers=headers[role], json=body)
            if answer.status_code not in not_yet or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)

    def case(name: str, birth: str, consent: bool = True, escalate: bool = True) -> str:
        received = post("intake", "/consultations", "counselor", {
            "counter": "houkatsu", "channel": "窓口", "concerns": ["ひきこもり"],
            "person": {"name": name, "birth_date": birth}})
        assert received.status_code == 201, received.text
        case_id: str = received.json()["case_id"]
        if consent:
            post("intake", f"/cases/{case_id}/consent", "counselor",
                 {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}).raise_for_status()
        if escalate:
            post("intake", f"/cases/{case_id}/escalate", "counselor",
                 {"reason": "8050世帯", "primary_agency": "地域包括支援センター"}).raise_for_status()
        return case_id

    role = {"agency": "地域包括支援センター", "responsibility": "母の介護"}

    def proposed(case_id: str) -> str:
        drafted = post("collaboration", f"/cases/{case_id}/plans", "coordinator",
                       {"support_direction": "d", "goals": ["月1回の訪問"], "roles": [role]})
        assert drafted.status_code == 201, drafted.text
        plan_id: str = drafted.json()["plan_id"]
        post("collaboration", f"/plans/{plan_id}/propose", "coordinator").raise_for_status()
        return plan_id

    def decide(plan_id: str, positions: list[dict[str, str]], decision: str = "approved",
               **more: str) -> httpx.Response:
        return post("meeting", f"/meetings/{meeting}/decisions", "secretariat",
                    {"plan_id": plan_id, "decision": decision, "reasons": "協議", "positions": positions, **more})

    agree = [{"agency": "福祉総務課", "position": "agree"}, {"agency": "地域包括支援センター", "position": "agree"}]
    first = case("府中 一郎", "1955-01-01")
    for roles, code in (([], "plan_without_roles"), ([{"agency": "存在しない機関", "responsibility": "x"}], "invalid")):
        refused = post("collaboration", f"/cases/{first}/plans", "coordinator",
                       {"support_direction": "d", "goals": ["g"], "roles": roles})
        assert (refused.status_code, refused.json()["code"]) == (422, code), refused.text  # D4
    plan = proposed(first)
    convened = post("meeting", "/meetings", "secretariat", {"meeting_type": "jusou_shien_kaigi",
                                                            "held_on": "2026-12-03", "attendees": ["福祉総務課", "地域包括支援センター"]})
    assert convened.status_code == 201, convened.text
    meeting = convened.json()["meeting_id"]
    objection = [agree[0], {"agency": "地域包括支援センター", "position": "object", "reason": "まだ早い"}]
    assert decide(plan, objection).status_code == 409  # D5: an open objection blocks approval
    assert decide(plan, [agree[0], {"agency": "地域包括支援センター", "position": "object"}]).status_code == 422
    assert decide(plan, [*agree, agree[0]]).status_code == 422  # D5: one agency twice
    closing = post("intake", f"/cases/{first}/closure", "counselor", {"outcome": "resolved", "note": "n"})
    assert (closing.status_code, closing.json()["code"]) == (409, "case_still_under_plan"), closing.text

    without_consent = case("国立 春子", "1936-02-02", consent=False)
    refused = decide(proposed(without_consent), agree)
    assert (refused.status_code, refused.json()["code"]) == (409, "consent_missing"), refused.text  # D9

    assert decide(plan, agree).status_code == 201
    post("collaboration", f"/plans/{plan}/closure-request", "coordinator", {"progress": "入院"},
         not_yet=(404, 409)).raise_for_status()
    suspended = post("meeting", f"/meetings/{meeting}/evaluations", "secretariat", {
        "plan_id": plan, "outcome": "suspended", "course": "c", "result": "r", "reason": "入院",
        "goal_results": [{"goal": "月1回の訪問", "result": "partly_achieved"}]}, not_yet=(404, 409))
    assert suspended.status_code == 201, suspended.text
    resumed = post("meeting", f"/meetings/{meeting}/resumptions", "secretariat", {"plan_id": plan, "reason": "退院"})
    assert (resumed.status_code, resumed.json()["code"]) == (409, "consent_missing"), resumed.text  # D7 D9

    returned_case = case("立川 夏男", "1967-03-03")
    returned = decide(proposed(returned_case), agree, "returned_to_intake", primary_agency="地域包括支援センター")
    assert returned.status_code == 201, returned.text
    deadline = time.monotonic() + 30
    while (again := post("collaboration", f"/cases/{returned_case}/plans", "coordinator", {
            "support_direction": "d", "goals": ["g"], "roles": [role]})).json().get("code") == "open_plan_exists" \
            and time.monotonic() < deadline:  # collaboration has not heard of the return yet: its plan is still open (D4)
        time.sleep(0.2)
    assert (again.status_code, again.json()["code"]) == (409, "case_not_held"), again.text  # D11

    own = case("八王子 秋子", "1988-04-04", consent=False, escalate=False)
    closed = post("intake", f"/cases/{own}/closure", "counselor", {"outcome": "resolved", "note": "n"})
    assert closed.status_code == 200, closed.text
