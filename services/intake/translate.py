"""Intake's public events: which domain events leave the service, and as what."""

from services.intake.domain import Case
from shared.contract.events import codes_of as _codes
from shared.kernel.translate import translator

translate = translator(
    "intake",
    {
        Case.Received: lambda e: (
            "ConsultationReceived",
            {"counter": e.counter, "division": e.division, "channel": e.channel,
             "concerns": e.concerns, "person_ref": e.person_ref, "primary_agency": e.primary_agency}
            # issue 15: the codes only (never the 相談日 nor the texts); absent from cases received before
            | {k: v for k in ("route", "consulted_by") if (v := getattr(e, k, None)) is not None}
            # issue 18: the municipality file's codes beside the names; absent from events recorded before
            | _codes(e, "concern_codes", "primary_agency_code"),
        ),
        # D3 D11 D12: a case intake held, taken up again at a counter from an outreach referral: received at that
        # counter as a referral of a case intake did not hold is (its primary from now on, shared/domain/primary.py)
        Case.ReferralTakenUp: lambda e: (
            "ConsultationReceived",
            {"counter": e.counter, "division": e.division, "channel": e.channel,
             "concerns": e.concerns, "person_ref": e.person_ref, "primary_agency": e.primary_agency}
            | {k: v for k in ("route", "consulted_by") if (v := getattr(e, k, None)) is not None}
            | _codes(e, "concern_codes", "primary_agency_code"),
        ),
        Case.ConsentRecorded: lambda e: (
            "ConsentRecorded", {"scope": e.scope, "granted": e.granted, "method": e.method}
            | ({"covers": e.covers} if getattr(e, "covers", None) is not None else {})
        ),
        Case.Connected: lambda e: (
            "CaseConnected", {"to_agency": e.to_agency, "reason": e.reason} | _codes(e, "to_agency_code")
        ),
        Case.ConnectionAnswered: lambda e: (
            "CaseConnectionAnswered",
            {"to_agency": e.to_agency, "accepted": e.accepted, "reason": e.reason} | _codes(e, "to_agency_code"),
        ),
        Case.Closed: lambda e: ("IntakeCaseClosed", {"outcome": e.outcome}),  # 対応終了: the note stays here
        Case.Escalated: lambda e: (
            "CaseEscalated", {"reason": e.reason, "concerns": e.concerns, "primary_agency": e.primary_agency}
            # D16 (issue 15, added in place): the household's pseudonymous ref and its other cases' ids, no more
            | ({"household_ref": ref, "related_case_ids": list(getattr(e, "related_case_ids", None) or [])}
               if (ref := getattr(e, "household_ref", None)) else {})
            | _codes(e, "concern_codes", "primary_agency_code")
        ),
    },
)
