"""The office's words for events, records, decisions, programs and divisions (issue 15).

Pages (shared/web/labels.py re-exports these) and the audit CSV (shared/domain/audit.py) name what
happened by these labels, never by an English event name (`Case.Received`) or a code.
"""

from __future__ import annotations

from datetime import date

from shared.organisation.reference import DIVISIONS, division_display

#: Every domain event as staff say it (the store's topic's last part, `Aggregate.Event`).
EVENT_LABELS = {
    "Person.Registered": "相談者の登録",
    "Person.Erased": "個人情報の消去",
    "Person.Shown": "個人情報の表示",
    "Referral.Referred": "関係機関からの紹介",
    "Referral.ReferralReceived": "紹介の受付",
    "Case.Received": "相談の受付",
    "Case.ConsentRecorded": "本人同意の記録",
    "Case.Connected": "関係機関へのつなぎ",
    "Case.ConnectionAnswered": "つなぎ先からの回答",
    "Case.Escalated": "多機関協働事業へ",
    "Case.Returned": "相談窓口へ戻る",
    "Reception.Recorded": "主訴・相談概要の記録",
    "Reception.RecordedAgain": "主訴・相談概要の記録（紹介を受けて再び）",
    "CollaborationCase.ReturnedToIntake": "相談窓口へ戻し",
    "CollaborationCase.ReturnConfirmed": "相談窓口へ戻しの通知（会議から）",
    "Case.PersonDisclosed": "個人情報の開示",
    "Case.SittingNoted": "会議での検討",
    "Case.MeetingNoted": "会議の結果",
    "Case.Closed": "対応終了",
    "Case.PlanEnded": "プランの終結",
    "Case.PlanSuspended": "プランの中断",
    "Case.PlanResumed": "プランの再開",
    "Case.ReviewNoted": "プランの見直し予定日",
    "Case.JoinedHouseholdPlan": "世帯のプランで連携",
    "Case.ReferralTakenUp": "アウトリーチからの紹介を受けて窓口で再び対応",
    "Case.HandedToCollaboration": "アウトリーチから多機関協働へ（主担当の変更）",
    "Case.PlanApprovedAgain": "プランの再承認（中断・終結のあと）",
    "Household.Formed": "世帯の登録",
    "Household.MemberAdded": "世帯員の追加",
    "Household.MemberRemoved": "世帯員の転出・削除",
    "CollaborationCase.Opened": "多機関協働の開始",
    "CollaborationCase.Reopened": "多機関協働の再開",
    "CaseFile.Opened": "担当者・支援経過記録の開始",
    "CaseFile.Assigned": "担当者の決定",
    "CaseFile.Released": "担当者の解除",
    "CaseFile.NoteWritten": "支援経過記録",
    "CollaborationCase.PrimaryChanged": "主担当機関の変更",
    "CollaborationCase.StrandAdded": "課題の記録（課題の解きほぐし）",
    "CollaborationCase.HouseholdHeld": "世帯のケースをまとめて受ける（世帯で連携）",
    "HouseholdLink.Linked": "世帯の関連ケースの連携",
    "CollaborationCase.StrandChanged": "課題の更新",
    "ResourceGap.Reported": "推進会議の課題（資源の不足）",
    "ResourceGap.TakenUp": "推進会議の議題にする",
    "ResourceGap.Decided": "推進会議の決定",
    "CouncilSitting.Held": "推進会議の開催",
    "CouncilSitting.GapTakenUp": "推進会議の議題",
    "CouncilSitting.GapDecided": "推進会議の決定",
    "PlanReview.Listed": "会議の議題に登載",
    "PlanReview.Relisted": "会議の議題に再登載",
    "PlanReview.ClosureListed": "終結の検討を議題に登載",
    "HeldCase.Announced": "担当開始の受領（多機関協働・アウトリーチ・参加支援）",
    "HeldCase.HouseholdHeard": "世帯で一緒につないだケースの受領",
    "PlanReview.Settled": "議題の決着",
    "PlanReview.HouseholdNoted": "世帯で一緒につないだケースの記録",
    "Consent.Heard": "本人同意の受領",
    "Consent.Changed": "本人同意の変更",
    "Meeting.Convened": "会議の開催",
    "Meeting.CaseTakenUp": "会議でケースを検討",
    "Meeting.Decided": "会議の決定",
    "Meeting.ReturnedToIntake": "相談窓口へ戻す決定",
    "Meeting.Evaluated": "支援の評価",
    "Meeting.GapIdentified": "社会資源の不足を把握",
    "Meeting.SittingRecorded": "開催の記録（時刻・場所・出席者）",
    "Meeting.PutOnAgenda": "議事次第に追加",
    "Meeting.Resumed": "プランの再開",
    "CaseLearning.Recorded": "事例の学び（ノウハウの持ち帰り）",
    "Engagement.Started": "アウトリーチの開始",
    "Engagement.ContactRecorded": "接触の記録",
    "Engagement.HandedOver": "アウトリーチからの引継ぎ",
    "CatalogueEntry.Learnt": "社会資源の登録",
    "CatalogueEntry.DetailsRecorded": "案内情報の記入",
    "RegionalIssue.CouncilDecided": "推進会議の決定",
    "Support.Started": "参加支援の開始",
    "Support.NeedsRecorded": "ニーズの記録",
    "Support.ResourceMatched": "社会資源とのマッチング",
    "Support.ShortageReported": "社会資源の不足の報告",
    "Support.PlacementStarted": "参加の開始",
    "Support.PlacementReviewed": "参加の振り返り",
    "RegionalIssue.Opened": "地域課題の登録",
    "RegionalIssue.InitiativeStarted": "取組の開始",
    "RegionalIssue.Resolved": "地域課題の解決",
    "LocalResource.Developed": "社会資源の開発",
    "Place.Registered": "拠点の登録",
    "Place.Closed": "拠点の閉所",
    "ActivitySession.Recorded": "開催の記録",
    "SelfHelpGroup.Formed": "自主グループの結成",
    "Plan.Drafted": "支援プランの作成",
    "Plan.Revised": "支援プランの改訂",
    "Plan.Proposed": "支援プランを会議へ提出",
    "Plan.DecisionRecorded": "会議の決定を記録",
    "Plan.ClosureRequested": "終結の申出",
    "Plan.Evaluated": "支援プランの評価",
    "Plan.Closed": "支援プランの終結",
    "Plan.Suspended": "支援プランの中断",
    "Plan.Resumed": "支援プランの再開",
    "OpenPlan.Taken": "プランの作成（1ケース1プランの記録）",
    "OpenPlan.TakenAgain": "プランの作成（1ケース1プランの記録・次のプラン）",
}
#: The records each program keeps (the aggregate's class), as staff name them.
KIND_LABELS = {
    "Household": "世帯", "Reception": "相談受付票", "HouseholdLink": "世帯の関連ケース",
    "CaseLearning": "事例の学び",
    "ResourceGap": "推進会議の課題", "CouncilSitting": "推進会議",
    "CaseFile": "担当者・支援経過記録",
    "Person": "相談者", "Referral": "紹介", "Case": "相談ケース", "CollaborationCase": "多機関協働のケース",
    "PlanReview": "会議の議題", "HeldCase": "担当している事業", "Consent": "本人同意", "Meeting": "会議", "Engagement": "アウトリーチ",
    "CatalogueEntry": "社会資源（参加支援の一覧）", "Support": "参加支援", "RegionalIssue": "地域課題",
    "LocalResource": "社会資源", "Plan": "支援プラン", "OpenPlan": "ケースの支援プラン（1ケース1プラン）",
    "Place": "拠点・居場所", "ActivitySession": "地域づくりの開催", "SelfHelpGroup": "自主グループ",
}
DECISION_LABELS = {"approved": "承認", "revision_requested": "修正依頼", "returned_to_intake": "相談窓口へ戻す"}
MEETING_TYPE_LABELS = {"jusou_shien_kaigi": "重層的支援会議", "shien_kaigi": "支援会議"}
BASIS_LABELS = {"consent": "本人同意", "shien_kaigi": "支援会議", "own_counter": "受付窓口",
                "person_request": "本人の請求", "retention_expired": "保存期間満了"}
UNKNOWN_EVENT = "その他の記録"

#: A form's choice of boxes to tick (a checkbox group) left empty, by the field's title: why a choice is needed, in
#: Japanese and in English. A form refused for it says which boxes and why (shared/web/limits.py `_form_problem`),
#: not only 「…を入力してください」.
CHOICE_WHY: dict[str, tuple[str, str]] = {
    "相談内容の分野": ("相談の分野は、つなぎ先を選ぶ手がかりになり、2分野以上なら多機関協働の候補として示されます",
                 "the fields guide where to connect the case, and two or more mark it for collaboration"),
    "相談の分野": ("会議で学んだことを、同じ分野の相談に生かすために分野で引けるようにします",
               "what the meeting learned is found again by its fields"),
    "出席機関": ("会議の記録には出席した機関が要ります。どの機関で話し合ったかを後から確かめられるようにするためです",
             "a sitting's record names the agencies present, so that who took part can be checked later"),
    "達成した目標": ("伴走支援に移るのは、プランの目標をすべて達成したときです",
               "a plan moves to accompaniment once all its goals are met"),
    "一緒につなぐケース": ("世帯として一緒につなぐには、この方のケースと世帯のケースを合わせて2件以上選びます",
                  "a household is escalated together with two or more of its cases"),
}

#: The six programs (the services) as staff name them.
PROGRAM_LABELS = {
    "intake": "包括的相談支援", "collaboration": "多機関協働", "meeting": "会議",
    "outreach": "アウトリーチ", "participation": "参加支援", "community": "地域づくり",
}


#: An aggregate's fields on the 監査 page's "as of" view (audit_case.html), as staff name them; a field not here is
#: shown by its own name.
FIELD_LABELS = {
    "status": "状態", "route": "相談の経路", "channel": "相談の方法", "meeting_type": "会議の種類", "decision": "決定",
    "division": "担当課", "counter": "受付窓口", "primary_agency": "主担当機関", "concerns": "相談内容の分野",
    "opened_at": "開始日時", "received_at": "受付日時", "created_at": "作成日時", "updated_at": "更新日時",
    "closed_at": "終了日時", "decided_at": "決定日時", "held_on": "開催日", "since": "開始日", "revision": "版",
    "plan_id": "プランID", "case_id": "ケースID", "meeting_id": "会議ID", "person_ref": "相談者（参照番号）",
    "household_ref": "世帯（参照番号）", "program": "事業", "reason": "理由", "reasons": "理由", "attendees": "出席者",
    "support_direction": "支援の方向性", "goals": "目標", "roles": "役割分担", "consent": "本人同意", "scope": "同意の範囲",
    "referred_by": "紹介元", "need": "必要なこと", "area": "地域", "main": "主担当者", "sub": "副担当者",
    "notes": "支援経過記録", "progress": "経過", "granted": "同意", "method": "方法", "covers": "対象の会議",
    "consulted_by": "相談者の別", "consulted_on": "相談日", "connections": "つなぎ", "disclosures": "開示",
    "meetings": "会議", "sittings": "会議の回", "closure": "終了", "review_on": "見直し予定日", "primary": "主担当機関",
    "escalation_candidate": "多機関協働へのつなぎ候補", "household_plan": "世帯のプラン", "related_case_ids": "関連するケース",
    "strands": "課題の解きほぐし", "lead": "主となるケース", "related": "関連するケース",
    "taken_up": "紹介を受けて再び対応した窓口", "status_before": "それまでの状態",
    "via": "受領の経路", "source_position": "送信元での記録番号", "returns": "会議から戻った理由",
    # the plan's, the collaboration case's and the meeting's views (HD's review, session 24: shown by their code names)
    "intention": "本人の意向", "starts_on": "開始日", "next_review_on": "次回の見直し日", "history": "会議の決定の履歴",
    "revisions": "提出した版", "persons": "対象の人と目標", "label": "呼び方", "accompanying_since": "伴走支援の開始日",
    "check_ins": "伴走支援の見守り", "agency": "機関", "responsibility": "役割", "contact": "担当者",
    "agency_code": "機関コード", "strand_id": "課題ID", "concern": "分野", "description": "内容", "agenda": "議事次第",
    "minutes": "会議録", "cases": "扱ったケース", "sitting": "開催の記録", "kind": "種類", "positions": "各機関の意見",
    "position": "意見", "connect_to": "つなぎ先の事業", "member_divisions": "構成員の課", "evaluation": "評価",
    "outcome": "結果", "result": "結果", "goal": "目標", "note": "記録", "course": "経過", "on": "日付", "how": "方法",
    "next_step": "次の対応", "next_due": "次の対応の期日", "agreed": "合意事項", "content": "内容", "counterpart": "相手",
    "contacted_at": "日時", "members": "構成員・世帯員", "stage": "関係の段階", "contacts": "接触の記録",
    "handed_over_to": "引き継ぎ先", "address": "住所・所在地域", "needs": "ニーズ", "matches": "マッチング",
    "placements": "参加", "reviews": "見直し", "shortages": "不足する社会資源", "resource_id": "資源ID",
    "started_on": "開始日", "to_agency": "つなぎ先", "from_agency": "つなぎ元", "answer": "回答", "basis": "根拠",
    "present": "出席者", "chair": "議長", "recorder": "記録者", "place": "場所", "starts_at": "開始時刻",
    "ends_at": "終了時刻", "situation": "状況", "worked": "うまくいったこと", "resources": "社会資源",
    "in_charge": "担当職員", "staff_id": "職員番号", "name": "名称", "capacity": "定員", "provider": "運営主体",
    "opened_on": "開設日", "closed_on": "閉所日", "formed_on": "結成日", "place_id": "拠点ID", "ibasho": "居場所",
    "participants": "参加者数", "new_participants": "新規参加者数", "volunteers": "ボランティア数",
    "organisations": "参加団体", "summary": "内容", "forum": "取り組みの場", "initiatives": "取り組み",
    "resolution": "解決", "issue_id": "地域課題ID", "relation": "続柄", "recorded_at": "記録日時",
}
#: Codes that the records hold as values (statuses, routes, decisions…), as staff say them; a code not here is shown as is.
VALUE_LABELS = {
    "open": "対応中", "received": "受付", "escalated": "多機関協働へ", "linked": "世帯で連携", "returned": "相談窓口へ戻した",
    "plan_suspended": "プラン中断", "plan_closed": "終結", "closed": "終了", "draft": "下書き", "proposed": "会議で審議中",
    "approved": "承認", "revision_requested": "修正依頼", "suspended": "中断", "continued": "継続",
    "closure_requested": "終結の評価待ち", "accompanying": "伴走支援中", "awaiting": "待機", "waiting": "待機",
    "taken_up": "取り組み中", "resumed": "再開", "resolved": "解決済み", "started": "開始",
    "catch_up": "更新時の読み込み", "event": "受信",
    "todo": "未着手", "working": "対応中",  # a strand's 状態 (課題の解きほぐし)
    "agree": "賛成", "object": "異議", "reserve": "保留", "comment": "意見",  # each agency's position at a meeting
    "decision": "決定", "evaluation": "終結評価", "resumption": "再開", "resource_gap": "地域の課題",  # the minutes' kinds
    **DECISION_LABELS, **MEETING_TYPE_LABELS, **PROGRAM_LABELS,
}

def event_label(name: str) -> str:
    """An event as staff say it (`Case.Received` → 相談の受付); an event of no known kind as 「その他の記録」."""
    return EVENT_LABELS.get(name, UNKNOWN_EVENT)


def kind_label(kind: str) -> str:
    """A record's kind as staff name it (`CollaborationCase` → 多機関協働のケース)."""
    return KIND_LABELS.get(kind, "記録")


def division_label(code: str | None, on: date | str | None = None) -> str:
    """A division by its Japanese name (福祉総務課) as of `on` (a record's date), today's name beside it when it has
    since been renamed or merged (「高齢福祉課（現: 高齢介護課）」); an unknown code as 「他の課」."""
    return division_display(code, on) if code and code in DIVISIONS else "他の課"


def program_label(code: str | None) -> str:
    """A program (a service) by its Japanese name (`intake` → 包括的相談支援); an unknown one as its code."""
    return PROGRAM_LABELS.get(code or "", code or "")
