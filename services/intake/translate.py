"""Intake's public events: which domain events leave the service, and as what."""

from services.intake.domain import Case
from shared.kernel.translate import translator

translate = translator(
    "intake",
    {
        Case.Received: lambda e: (
            "ConsultationReceived",
            {"counter": e.counter, "division": e.division, "channel": e.channel,
             "concerns": e.concerns, "person_ref": e.person_ref, "primary_agency": e.primary_agency}
            # issue 15: the codes only (never the 相談日 nor the texts); absent from cases received before
            | {k: v for k in ("route", "consulted_by") if (v := getattr(e, k, None)) is not None},
        ),
        Case.ConsentRecorded: lambda e: (
            "ConsentRecorded", {"scope": e.scope, "granted": e.granted, "method": e.method}
            | ({"covers": e.covers} if getattr(e, "covers", None) is not None else {})
        ),
        Case.Connected: lambda e: ("CaseConnected", {"to_agency": e.to_agency, "reason": e.reason}),
        Case.ConnectionAnswered: lambda e: (
            "CaseConnectionAnswered", {"to_agency": e.to_agency, "accepted": e.accepted, "reason": e.reason}
        ),
        Case.Closed: lambda e: ("IntakeCaseClosed", {"outcome": e.outcome}),  # 対応終了: the note stays here
        Case.Escalated: lambda e: (
            "CaseEscalated", {"reason": e.reason, "concerns": e.concerns, "primary_agency": e.primary_agency}
            # D16 (issue 15, added in place): the household's pseudonymous ref and its other cases' ids, no more
            | ({"household_ref": ref, "related_case_ids": list(getattr(e, "related_case_ids", None) or [])}
               if (ref := getattr(e, "household_ref", None)) else {})
        ),
    },
)
