"""Audit of a case's journey (D15): every program's events in order, as a causation tree.

Rows come from each service's `GET /cases/{id}/history`. A policy's event names the integration
event that caused it (`caused_by`); a person's command has none and starts a branch. Every showing
of personal information appears with its legal basis.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

BASIS_JA = {"consent": "本人同意", "shien_kaigi": "支援会議", "own_counter": "受付窓口"}


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
    if "basis" in fields:
        extra.append(f"personal information shown, basis={BASIS_JA.get(fields['basis'], fields['basis'])}")
    return f"{row['occurred_at'][:19]} [{row['service']}] {row['event']} by {who}" + (f" ({', '.join(extra)})" if extra else "")


def render_text(rows: list[dict[str, Any]]) -> str:
    return "\n".join("  " * depth + ("└ " if depth else "") + describe(row) for depth, row in causation_tree(rows))


def render_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["occurred_at", "service", "event", "event_id", "caused_by", "staff_id", "division", "policy",
                     "decision", "meeting_type", "disclosure_basis"])
    for _, row in causation_tree(rows):
        actor, fields = row.get("actor") or {}, row.get("fields") or {}
        writer.writerow([row["occurred_at"], row["service"], row["event"], row["event_id"], row.get("caused_by") or "",
                         actor.get("staff_id", ""), actor.get("division", ""), actor.get("service", ""),
                         fields.get("decision", ""), fields.get("meeting_type", ""), fields.get("basis", "")])
    return "\ufeff" + buffer.getvalue()
