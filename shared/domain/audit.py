"""Audit of a case's journey (D15): every program's events in order, as a causation tree.

Rows come from each service's `GET /cases/{id}/history`. A policy's event names the integration
event that caused it (`caused_by`); a person's command has none and starts a branch. Every showing
of personal information appears with its legal basis.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from shared.domain.labels import DECISION_LABELS, MEETING_TYPE_LABELS, division_label, event_label, program_label


def inert(cell: Any) -> Any:
    """A text cell Excel would run as a formula (=, +, -, @, tab, CR first) is kept as text (CSV injection)."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def inert_row(row: list[Any]) -> list[Any]:
    return [inert(cell) for cell in row]


BASIS_JA = {"consent": "本人同意", "shien_kaigi": "支援会議", "own_counter": "受付窓口",
            "search_before_create": "受付時の重複確認（検索候補）",
            "search": "相談者の検索"}
#: legal bases of an erasure (crypto-shredding of the person's key)
ERASURE_JA = {"person_request": "本人の請求", "retention_expired": "保存期間満了"}


def as_of(rows: list[dict[str, Any]], moment: datetime | None) -> list[dict[str, Any]]:
    """The journey as it stood at `moment`: only what had been recorded by then."""
    if moment is None:
        return rows
    return [r for r in rows if datetime.fromisoformat(r["occurred_at"]) <= moment]


def causation_tree(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(depth, row) in time order, each effect under the event that caused it."""
    ids = {r["event_id"] for r in rows}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        parent = row.get("caused_by")
        children[parent if parent in ids else None].append(row)
    ordered: list[tuple[int, dict[str, Any]]] = []

    def walk(parent: str | None, depth: int) -> None:
        for row in children.get(parent, []):
            ordered.append((depth, row))
            walk(row["event_id"], depth + 1)

    walk(None, 0)
    return ordered


def describe(row: dict[str, Any]) -> str:
    actor = row.get("actor") or {}
    who = f"{actor['staff_id']} ({actor.get('division')})" if actor.get("staff_id") else f"policy:{actor.get('service')}"
    fields = row.get("fields") or {}
    extra = []
    if "decision" in fields:
        extra.append(f"decision={fields['decision']}")
    if "meeting_type" in fields:
        extra.append(f"meeting={fields['meeting_type']}")
    if row["event"] == "Person.Erased":
        extra.append(f"personal information erased / 個人情報を消去, basis={ERASURE_JA.get(fields['basis'], fields['basis'])}")
    elif "basis" in fields:
        extra.append(f"personal information shown, basis={BASIS_JA.get(fields['basis'], fields['basis'])}")
    return f"{row['occurred_at'][:19]} [{row['service']}] {row['event']} by {who}" + (f" ({', '.join(extra)})" if extra else "")


def render_text(rows: list[dict[str, Any]]) -> str:
    return "\n".join("  " * depth + ("└ " if depth else "") + describe(row) for depth, row in causation_tree(rows))


#: The audit CSV's columns: what staff read (Japanese, the office's words: no English event name), then the
#: codes an integrator joins on (event ids; program, division, decision, meeting type and basis codes).
#: The event's code (`Case.Received`) is in the JSON answer (`event`) and `jusou audit --format json`.
CSV_COLUMNS = ["日時", "事業", "記録", "職員", "所属課", "自動処理をした事業", "会議の決定", "会議の種類", "個人情報の開示の根拠",
               "event_id", "caused_by", "service", "staff_id", "division", "policy", "decision", "meeting_type", "basis"]


def render_csv(rows: list[dict[str, Any]]) -> str:
    """The journey as a CSV for Excel (BOM, CRLF): Japanese columns first, then the codes (CSV_COLUMNS)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for _, row in causation_tree(rows):
        actor, fields = row.get("actor") or {}, row.get("fields") or {}
        decision, meeting, basis = fields.get("decision", ""), fields.get("meeting_type", ""), fields.get("basis", "")
        basis_ja = (ERASURE_JA if row["event"] == "Person.Erased" else BASIS_JA).get(basis, basis)
        writer.writerow(inert_row([
            row["occurred_at"], program_label(row["service"]), event_label(row["event"]),
            actor.get("staff_id", ""), division_label(actor["division"]) if actor.get("division") else "",
            program_label(actor.get("service", "")), DECISION_LABELS.get(decision, decision),
            MEETING_TYPE_LABELS.get(meeting, meeting), basis_ja,
            row["event_id"], row.get("caused_by") or "", row["service"], actor.get("staff_id", ""),
            actor.get("division", ""), actor.get("service", ""), decision, meeting, basis]))
    return "\ufeff" + buffer.getvalue()


def render_states(states: list[dict[str, Any]], moment: datetime | None) -> str:
    """Each program's view of the case (as it stood at `moment`), one block per aggregate."""
    when = moment.isoformat() if moment else "now / 現在"
    lines = [f"== each program's view as of {when} / 各事業から見たケース（{when} 時点）"]
    if not states:
        lines.append("  (nothing recorded by then / 記録なし)")
    for state in states:
        lines.append(f"[{state['service']}] {state['kind']} {state['aggregate_id'][:8]} v{state['version']} "
                     f"(last change {state['recorded_at'][:19]})")
        for key, value in sorted(state["state"].items()):
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"    {key}: {shown[:160]}")
    return "\n".join(lines)


DISCLOSURE_COLUMNS = ["occurred_at", "case_id", "staff_id", "division", "basis", "basis_ja", "meeting_id", "event_id",
                      "action", "recent_basis"]


def disclosure_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who was shown a person's information, when, on what legal basis (個人情報の開示の記録); and
    the erasure of that information (`action` "erased", with its legal basis and reason)."""
    found = []
    for row in rows:
        fields = row.get("fields") or {}
        action, basis_ja = "shown", BASIS_JA.get(fields.get("basis", ""), "")
        if row["event"] == "Person.Shown":  # a candidate of a search: who is in the event itself
            actor = {"staff_id": fields.get("staff_id", ""), "division": fields.get("division", "")}
            fields = {**fields, "basis": fields.get("purpose", "")}
            basis_ja = BASIS_JA.get(fields["basis"], "")
        elif row["event"] == "Person.Erased":
            actor = {"staff_id": fields.get("staff_id", ""), "division": fields.get("division", "")}
            action = "erased"
            basis_ja = f"消去: {ERASURE_JA.get(fields.get('basis', ''), fields.get('basis', ''))}（{fields.get('reason', '')}）"
        elif row["event"].endswith(".PersonDisclosed"):
            actor = row.get("actor") or {}
        else:
            continue
        found.append({
            "occurred_at": row["occurred_at"], "case_id": row.get("case_id") or "",
            "staff_id": actor.get("staff_id", ""), "division": actor.get("division", ""),
            "basis": fields.get("basis", ""), "basis_ja": basis_ja,
            "meeting_id": fields.get("meeting_id") or "", "event_id": row["event_id"], "action": action,
            # issue 13: an own-counter basis the reader created shortly before (search → new case → read)
            "recent_basis": bool(fields.get("recent_basis")),
        })
    return found


def render_disclosures_text(person_ref: str, rows: list[dict[str, Any]]) -> str:
    shown = [r for r in rows if r["action"] == "shown"]
    lines = [f"個人情報の開示記録 / disclosures of person {person_ref}: {len(shown)}"]
    for r in rows:
        meeting = f" meeting={r['meeting_id'][:8]}" if r["meeting_id"] else ""
        if r["action"] == "erased":
            lines.append(f"{r['occurred_at'][:19]} {r['staff_id']} ({r['division']}) ERASED 個人情報を消去 / "
                         f"information erased, basis={r['basis_ja']}")
            continue
        recent = " 要確認: 直前に本人が作成した根拠 / basis created just before by the reader" if r.get("recent_basis") else ""
        lines.append(f"{r['occurred_at'][:19]} {r['staff_id']} ({r['division']}) case={r['case_id'][:8]} "
                     f"basis={r['basis_ja'] or r['basis']}{meeting}{recent}")
    return "\n".join(lines)


def render_disclosures_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DISCLOSURE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: inert(v) for k, v in row.items()} for row in rows)
    return "\ufeff" + buffer.getvalue()
