"""Intake's use cases (包括的相談支援事業)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID, uuid4

from eventsourcing.application import ProcessingEvent

from services.intake.access import (
    Reader,
    answering_division,
    case_readers,
    case_writers,
    may_read_case,
    require_case_writer,
)
from services.intake.domain import (
    RELATIONS,
    UNDER_PLAN,
    Case,
    Household,
    NotAMember,
    Person,
    PersonErased,
    PossibleDuplicate,
    Reception,
    Referral,
    UnknownPrimaryAgency,
    check_reception,
    due_at_intake,
)
from services.intake.keys import PersonalMapper, open_keys
from services.intake.people import HouseholdIndex, PersonIndex
from services.intake.trend import TOPICS as TREND_TOPICS
from services.intake.trend import TrendCount
from shared.contract.events import (
    CaseReturnedToIntakeV1,
    Envelope,
    MeetingCaseTakenUpV1,
    MeetingDecidedV1,
    OutreachHandedOverV1,
    PlanClosedV1,
    PlanContinuedV1,
    PlanProposedV1,
    PlanResumedV1,
    PlanSuspendedV1,
    PoisonMessage,
)
from shared.domain.access import OutOfScope
from shared.domain.casework import JST, case_file_id
from shared.domain.casework_owner import CaseworkOwner, DueItem, RecordEntry
from shared.domain.kept_reads import KeptReads, own_copy
from shared.domain.wareki import today_in_japan
from shared.kernel import decoded_once
from shared.kernel.app import KeptAggregates, handles
from shared.kernel.journey import DomainError, Invalid, NotFound, acting
from shared.organisation.reference import (
    AGENCY_KINDS,
    CONCERN_FIELDS,
    COUNTERS,
    DIVISIONS,
    Counter,
    agency_code,
    agency_name,
    concern_codes,
    concern_field,
)
from shared.organisation.scope import PROGRAM_DIVISIONS, sees_every_division


class CounterOfAnotherDivision(DomainError):
    """D2 (issue 13): a counselor receives consultations at their own division's counters (the division scope of
    writes, so marked as the scope's refusal like the policy's own)."""

    status = 403
    headers = {"X-Jusou-Refused-By": "scope"}


class HeldCaseOfAnotherPerson(DomainError):
    """D12: a referral of a case intake already holds continues that case, whose person is known: another person, or
    a new person's details, would attach a second person to it (409, naming the case's person_ref)."""


class NotTheirsToAnswer(DomainError):
    """D11: only the agency connected to answers a connection (a domain rule, not the role policy)."""

    status = 403


def _known_agency(agency: str) -> str:
    """D11: the code of a 主担当機関 named by staff (shared/organisation/reference.py); refused when the file knows
    no such agency."""
    code = agency_code(agency.strip())
    if code is None:
        raise UnknownPrimaryAgency(agency)
    return code


def agency_as_named(agency: str) -> tuple[str, str | None]:
    """つなぎ先 as the event carries it (issue 18): the name people read and the code of the municipality file in force
    today. An agency given by its code (`counter:<code>`, what a client may send) is recorded by its name, as outreach's
    紹介元 is; a name the file does not know stays as typed, without a code (一覧にない関係機関); a code the file does not
    know is refused, naming where the codes come from."""
    value = agency.strip()
    code = agency_code(value)
    kind, colon, _ = value.partition(":")
    if code is None and colon and kind in AGENCY_KINDS:
        raise Invalid(f"機関のコード {value!r} は自治体ファイルにありません。つなぎ先の一覧から選ぶか、機関の名前を書いてください / "
                      f"the municipality file has no agency {value!r}: choose one of GET /reference/agencies or write its name")
    return (agency_name(code) if code == value else value), code


#: the most people a search shows (相談者の検索): beyond it none is shown nor recorded, only how many to narrow it down
MOST_FOUND_SHOWN = 50


class _Actor:
    """An acting staff member as a Reader (services/intake/access.py): division, roles, staff id."""

    def __init__(self, division: str, roles: Sequence[str], staff_id: str = "") -> None:
        self.division, self.roles, self.staff_id = division, frozenset(roles), staff_id


class IntakeApplication(KeptReads, CaseworkOwner):
    """Receives every consultation at any counter (D1) and escalates complex ones (D3).

    Its cases are kept as this process recorded or read them, checked against the store at every use (`KeptReads`,
    shared/domain/kept_reads.py, issue 19): the inbox's handlers (a sitting, a decision, a plan's review date, its
    closure: six a journey) and the case's reads and commands decode a case only when the store holds an event the
    kept one has not. Only a case is kept (`keeps_decoded`): never a person, a reception's texts, a household, a case
    file or a referral, nor a case closed here with its note (staff's words, maybe personal)."""

    name = "intake"
    service = "intake"
    #: D13 (issue 13): an own-counter basis the reader created this shortly before reading is marked
    RECENT_BASIS_SECONDS = 24 * 3600

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.keys = open_keys(self.env, self.recorder)
        cast(PersonalMapper, self.mapper).keys = self.keys  # the mapper this application's factory makes
        cast(PersonalMapper, self.mapper).note_person = self._note_person  # D17: notes sealed with the person's key
        self._file_people: dict[UUID, UUID] = {}  # case file id → the case's person (the notes' key)
        self.people = PersonIndex(self.recorder, self.mapper)
        self.households = HouseholdIndex(self.recorder, self.mapper)
        self._trend = TrendCount()  # D14's counts so far (trend)

    def close(self) -> None:
        self.keys.close()
        super().close()

    def keeps_decoded(self, aggregate: Any) -> bool:
        """Only a case is kept between loads (`KeptReads`, `KeptAggregates`), and not one closed here with a note
        (対応終了's note: staff's words, maybe personal, `Case.closing_note`); nothing personal ever
        (`ServiceApplication.keeps_decoded`: no person, reception texts, household or sealed note)."""
        return isinstance(aggregate, Case) and not aggregate.closing_note and super().keeps_decoded(aggregate)

    def construct_mapper(self) -> PersonalMapper:
        """Personal fields sealed with each person's own key (crypto-shredding, services/intake/keys.py)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=PersonalMapper)  # type: ignore[return-value]

    def find_people(
        self, actor: dict[str, str], name: str | None, birth_date: str | None, kana: str | None, phone: str | None,
        choose: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    ) -> list[dict[str, Any]]:
        """Search before create: people already known by name and birth date, or kana and phone (by person_ref).

        Each candidate shown is a reading of personal information and is recorded (Person.Shown); `choose`
        (a page of the list, issue 17) picks the candidates shown: only those are recorded."""
        found = self.people.find(name, birth_date, kana, phone)
        if choose is not None:
            found = choose(found)
        if found:
            shown = [self.load(UUID(p["person_ref"]), Person, "相談者") for p in found]
            for person in shown:
                person.show(actor["staff_id"], actor["division"], "search_before_create")
            self.save(*shown)
        return found

    def search_people(
        self, actor: dict[str, str], name: str | None, birth_date: str | None, kana: str | None, phone: str | None,
        choose: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    ) -> list[dict[str, Any]]:
        """相談者の検索 (search before create): by name and birth date, or by kana and phone (find_people);
        `choose`: the page shown (only its people are recorded as shown)."""
        if not ((name and birth_date) or (kana and phone)):
            raise Invalid("氏名と生年月日、またはふりがなと電話番号で検索してください / "
                          "search by name and birth date, or kana and phone")
        return self.find_people(actor, name, birth_date, kana, phone, choose)

    def find_anyone(self, reader: Reader, name: str | None = None, kana: str | None = None,
                    phone: str | None = None, birth_date: str | None = None) -> dict[str, Any]:
        """相談者の検索 (issue 15, before reception and at any time): by any of name, kana, phone, birth date,
        ignoring width, kana and spaces. Only the people the reader's division has a legal basis for on a
        case it may read are shown (each showing recorded: Person.Shown, purpose `search`); of the others,
        only how many there are (「他の窓口に該当する方がいます」, no name: nothing personal is shown, so nothing is recorded).
        More than MOST_FOUND_SHOWN people the reader may see: none is shown and nothing recorded, their number is
        (`too_many`), for the search to be narrowed (a one-character name would show and record thousands)."""
        if not any((name, kana, phone, birth_date)):
            raise Invalid("氏名・ふりがな・電話番号・生年月日のいずれかを入力してください / "
                          "give a name, kana, phone or birth date to search")
        found = self.people.search(name, kana, phone, birth_date)
        shown = [p for p in found if self._may_read_person(reader, p["person_ref"])]
        if len(shown) > MOST_FOUND_SHOWN:  # 「田」: not a page of thousands shown and recorded to one clerk, the count only
            return {"people": [], "elsewhere": len(found) - len(shown), "too_many": len(shown)}
        self._record_shown(reader, shown, "search")
        return {"people": [{**p, "cases": self._readable_cases(reader, p["person_ref"])} for p in shown],
                "elsewhere": len(found) - len(shown)}

    def _may_read_person(self, reader: Reader, person_ref: str) -> bool:
        """Whether the reader's division may be shown the person: a legal basis (D9 D10) on one of their cases
        that it may read (own counter, a consent that covers it, a 支援会議 it sat in). Reading a case is
        not enough: a division a case was connected to reads the case, not the person, without consent."""
        for case_id in self.cases_of_person(person_ref):
            case = self._case(case_id)
            readers = case_readers(case.view())
            if may_read_case(reader, case.view()) and case.lawful_basis(reader.division, readers) is not None:
                return True
        return False

    def _readable_cases(self, reader: Reader, person_ref: str) -> list[dict[str, Any]]:
        views = [self._case(c).view() for c in self.cases_of_person(person_ref)]
        return [{"case_id": v["case_id"], "counter": v["counter"], "status": v["status"]}
                for v in views if may_read_case(reader, v)]

    def _record_shown(self, reader: Reader, people: list[dict[str, Any]], purpose: str) -> None:
        """Each person shown with their information is a disclosure (Person.Shown), in one save."""
        staff_id = getattr(reader, "staff_id", "") or ""
        loaded = [self.load(UUID(p["person_ref"]), Person, "相談者") for p in people]
        for person in loaded:
            person.show(staff_id, reader.division, purpose)
        if loaded:
            self.save(*loaded)

    def receive_consultation(
        self,
        actor: dict[str, str],
        counter: str,
        division: str,
        channel: str,
        concerns: list[str],
        person: dict[str, Any] | None,
        person_ref: str | None,
        confirm_new_person: bool = True,
        referral: UUID | None = None,
        reception: dict[str, Any] | None = None,
        check_similar: bool = False,
    ) -> UUID:
        """D1 D2: any counter receives any concern, for a new person or a known one (`person_ref`),
        never both. The person's details stay in this store.

        `reception` (相談受付票, issue 15): consulted_on, route, consulted_by (codes, on the case) and
        main_complaint, summary (texts, kept sealed with the person's key: a Reception). `check_similar`:
        offer candidates on partial matches too (the reception form asks for it)."""
        held = self._held(referral) if referral is not None else None
        if held is not None:
            return self._take_up_referral(actor, counter, division, channel, concerns, person, person_ref, held,
                                          reception or {})
        if (person is None) == (person_ref is None):
            raise Invalid("相談者 (person) か既知の相談者 (person_ref) のどちらか一方を指定してください / "
                          "give either person or person_ref")
        known_counter = self._receiving_counter(actor, counter, division)
        concerns = self._concern_names(concerns)
        reception = reception or {}
        check_reception(reception.get("route"), reception.get("consulted_by"))
        people: list[Person] = []
        if person_ref is None:
            registered = self._new_person(actor, person or {}, confirm_new_person, check_similar)
            people.append(registered)
            person_ref = str(registered.id)
        else:
            self._known_person(person_ref)
        referrals: list[Referral] = []
        if referral is not None:
            waiting: Referral = self.load(Referral.id_for(referral), Referral, "紹介")
            with acting(actor):
                waiting.receive(counter)
            referrals.append(waiting)
        with acting(actor):
            case = Case(
                case_id=referral or uuid4(), counter=counter, division=division, channel=channel,
                concerns=list(concerns), person_ref=person_ref, primary_agency=known_counter.ja,
                consulted_on=reception.get("consulted_on"), route=reception.get("route"),
                consulted_by=reception.get("consulted_by"),
                # issue 18: events carry the municipality file's codes beside the names
                concern_codes=concern_codes(list(concerns)), primary_agency_code=f"counter:{known_counter.code}",
            )
        texts = [Reception(case_id=case.id, person_ref=person_ref, main_complaint=reception.get("main_complaint") or "",
                           summary=reception.get("summary") or "")
                 ] if reception.get("main_complaint") or reception.get("summary") else []
        self.save(*people, *referrals, case, *texts)
        return case.id

    def _held(self, case_id: UUID) -> Case | None:
        """The case, when intake holds it already (received here before: a referral of it continues it, D12)."""
        try:
            return self._case(case_id)
        except NotFound:
            return None

    def _take_up_referral(self, actor: dict[str, str], counter: str, division: str, channel: str,
                          concerns: list[str], person: dict[str, Any] | None, person_ref: str | None, case: Case,
                          reception: dict[str, Any]) -> UUID:
        """D3 D11 D12: outreach handed the person of a case intake already holds (OutreachHandedOver to a counter):
        receiving the referral takes the same case up again at that counter (Case.take_up_referral, its primary now),
        the referral received with it, in one save; no second case. The person is the case's own: `person_ref`, when
        given, is theirs; a new person's details are refused (the person is known). 主訴 and 相談概要, when given, are
        recorded on the case's reception (sealed as before)."""
        known_counter = self._receiving_counter(actor, counter, division)
        concerns = self._concern_names(concerns)
        check_reception(reception.get("route"), reception.get("consulted_by"))
        waiting: Referral = self.load(Referral.id_for(case.id), Referral, "紹介")
        with acting(actor):
            waiting.receive(counter)  # refused (409, 422) when received already or addressed to another counter
        if person is not None or (person_ref is not None and person_ref.strip() != case.person_ref):
            raise HeldCaseOfAnotherPerson(
                "この紹介のケースは既に相談窓口で受け付けているケースで、相談者は登録済みです。相談者を入力せずに、または"
                f"そのケースの相談者 (person_ref={case.person_ref}) で受け付けてください / intake already holds this "
                f"referral's case and knows its person: send no person, or person_ref={case.person_ref}")
        self._known_person(case.person_ref)
        with acting(actor):
            case.take_up_referral(counter=counter, division=division, channel=channel, concerns=list(concerns),
                                  primary_agency=known_counter.ja, primary_agency_code=f"counter:{known_counter.code}",
                                  concern_codes=concern_codes(list(concerns)), route=reception.get("route"),
                                  consulted_by=reception.get("consulted_by"))
        texts: list[Reception] = []
        complaint, summary = reception.get("main_complaint") or "", reception.get("summary") or ""
        if complaint or summary:
            try:
                kept: Reception = self.load(Reception.id_for(case.id), Reception, "相談受付票")
                with acting(actor):
                    kept.record_again(complaint, summary)
                texts.append(kept)
            except NotFound:
                texts.append(Reception(case_id=case.id, person_ref=case.person_ref, main_complaint=complaint,
                                       summary=summary))
        self.save(waiting, case, *texts)
        return case.id

    @staticmethod
    def _receiving_counter(actor: dict[str, str], counter: str, division: str) -> Counter:
        """D2: a known counter of `division`, which is the acting counselor's own (issue 13)."""
        known_counter = COUNTERS.get(counter)
        if known_counter is None:
            raise Invalid(f"窓口 {counter!r} はありません。次のいずれかです / unknown counter; one of: " + ", ".join(COUNTERS))
        if known_counter.division != division:
            raise Invalid(f"窓口 {counter!r} と課 {division!r} が一致しません / counter and division do not match (D2)")
        if actor.get("division") and actor["division"] != division:
            own = [c.code for c in COUNTERS.values() if c.division == actor["division"]]
            raise CounterOfAnotherDivision(
                f"{known_counter.ja}は{DIVISIONS[division].ja}の窓口です。あなたの課の窓口で受け付けてください"
                f"（{', '.join(own) or 'なし'}）/ receive consultations at your own division's counters: {', '.join(own) or 'none'}")
        return known_counter

    @staticmethod
    def _concern_codes(case: Case) -> list[str | None] | None:
        """The codes of a case's concern fields (issue 18): as received, else (a case received before) from today's
        names; None when none is known."""
        codes = getattr(case, "concern_codes", None) or concern_codes(case.concerns)
        return codes if any(codes) else None

    @staticmethod
    def _concern_names(concerns: list[str]) -> list[str]:
        """D2: at least one concern, each a known field (code or name): their Japanese names, each once."""
        fields = [concern_field(c) for c in concerns]
        if not concerns or None in fields:
            unknown = [c for c, f in zip(concerns, fields, strict=True) if f is None]
            raise Invalid(
                f"相談内容の分野が登録されていません: {', '.join(unknown) or '(なし)'}。"
                f"次から選んでください: {', '.join(c.ja for c in CONCERN_FIELDS.values())} / unknown concern field (D2)"
            )
        return list(dict.fromkeys(f.ja for f in fields if f))

    def _new_person(self, actor: dict[str, str], person: dict[str, Any], confirmed: bool,
                    check_similar: bool = False) -> Person:
        """Search before create (D2): a person already known is offered (409) unless the staff member
        confirmed that this is someone else. With `check_similar` (issue 15), partial matches too (same
        kana and birth year, same phone, same address, similar name), shown by name only when the actor's
        division may read the person's cases; the others are counted, not named."""
        if person and not confirmed:
            known = self.find_people(actor, person.get("name"), person.get("birth_date"), person.get("kana"),
                                     person.get("phone"))
            elsewhere = 0
            if check_similar:
                exact = {p["person_ref"] for p in known}
                reader = _Actor(actor.get("division", ""), ())
                similar = [(p, why) for p, why in self.people.similar(person) if p["person_ref"] not in exact]
                visible = [(p, why) for p, why in similar if self._may_read_person(reader, p["person_ref"])]
                elsewhere = len(similar) - len(visible)
                self._record_shown(_Actor(actor.get("division", ""), (), actor.get("staff_id", "")),
                                   [p for p, _ in visible], "search_before_create")
                known = [*known, *({**p, "why": why} for p, why in visible)]
            if known or elsewhere:
                raise PossibleDuplicate(known, elsewhere)
        return Person(name=person["name"] if person else "", kana=person.get("kana", ""),
                      birth_date=person.get("birth_date"), address=person.get("address"), phone=person.get("phone"))

    def _known_person(self, person_ref: str) -> None:
        """A known person's reference, whose information was not erased."""
        try:
            ref = UUID(person_ref)
        except ValueError as exc:
            raise Invalid(f"person_ref {person_ref!r} は相談者の番号ではありません / not a person reference") from exc
        if self.load(ref, Person, "相談者").erased:
            raise PersonErased("この相談者の個人情報は消去されています。新しい相談者として登録してください / "
                               "this person's information was erased: register them as a new person")

    def record_consent(self, actor: dict[str, str], case_id: UUID, scope: str, granted: bool, method: str,
                       covers: Sequence[str] | None = None) -> None:
        """D9: record consent to share personal information (or its withdrawal), by a division that may
        write the case; `covers`: what it covers (shared/contract/events.py CONSENT_COVERS)."""
        case = self._writable(actor, case_id)
        if covers is None:  # read from the wording the staff member recorded
            covers = [code for code, word in (("jusou_shien_kaigi", "重層的支援会議"), ("related_agencies", "関係機関"))
                      if word in scope]
        with acting(actor):
            case.record_consent(scope=scope, granted=granted, method=method, covers=covers)
        self.save(case)

    def connect_case(self, actor: dict[str, str], case_id: UUID, to_agency: str, reason: str) -> None:
        """D3: つなぎ, by a division that may write the case; `to_agency`: the agency's name (one the file does not know
        too) or its code, recorded by its name (issue 18)."""
        name, code = agency_as_named(to_agency)
        case = self._writable(actor, case_id)
        with acting(actor):
            case.connect(to_agency=name, reason=reason, to_agency_code=code)
        self.save(case)

    def answer_connection(self, actor: dict[str, str], case_id: UUID, index: int, accepted: bool, reason: str) -> None:
        """D3 D11: the receiving agency accepts (and becomes primary) or declines.

        The agency connected to answers: staff of its division when it is one of the city's (a division,
        a counter or a program it runs); for an outside agency, which has no account here, the division
        of the counter that received the case records its answer."""
        case = self._case(case_id)
        if 0 <= index < len(case.connections) and actor.get("division"):
            agency = case.connections[index]["to_agency"]
            answering = answering_division(case.view(), index)
            if actor["division"] != answering:
                raise NotTheirsToAnswer(
                    f"つなぎ先「{agency}」の回答は{DIVISIONS[answering].ja}の職員が記録します / the answer of "
                    f"{agency} is recorded by staff of {DIVISIONS[answering].en} (D11: the agency connected to answers)")
        with acting(actor):
            case.answer_connection(index, accepted, reason)
        self.save(case)

    def escalate_case(self, actor: dict[str, str], case_id: UUID, reason: str, primary_agency: str) -> None:
        """D3 D11: escalate to collaboration, naming the primary agency (a division that may write the case)."""
        case = self._writable(actor, case_id)
        code = _known_agency(primary_agency)
        named = agency_name(code) if primary_agency.strip() == code else primary_agency  # given by its code: its name
        with acting(actor):
            case.escalate(reason=reason, primary_agency=named, primary_agency_code=code,
                          concern_codes=self._concern_codes(case))
        self.save(case)

    def close_case(self, actor: dict[str, str], case_id: UUID, outcome: str, note: str) -> None:
        """対応終了 (issue 15): intake closes a case it handled itself, with an outcome and a note; refused
        while the case is escalated with its plan active (a division that may write the case)."""
        case = self._writable(actor, case_id)
        with acting(actor):
            case.close(outcome=outcome, note=note)
        self.save(case)

    def persons_in_view(self, reader: Reader, case_ids: Sequence[UUID], page: str,
                        recorded: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
        """The person of each case the reader has a legal basis for (D9 D10: own counter, consent that covers
        them, a 支援会議 they sat in), by case id, with 和暦 birth date and age, and the reception texts;
        every showing recorded (Case.PersonDisclosed with `shown_in` = page), all in one save per page view.
        Cases without a basis, or whose person was erased, are left out (the page shows their number).
        `recorded`: cases whose showing this page view recorded already (a live reload of the same list)."""
        cases = [self._case(c) for c in case_ids]
        shown: dict[str, dict[str, Any]] = {}
        disclosed: list[Case] = []
        for case in cases:
            basis = case.lawful_basis(reader.division, case_readers(case.view()))
            if basis is None:
                continue
            person = self.person_view(UUID(case.person_ref))
            if person["erased"]:
                continue
            if str(case.id) not in recorded:
                actor = {"staff_id": getattr(reader, "staff_id", "") or "", "division": reader.division}
                with acting(actor):
                    case.disclose_person(basis[0], reader.division, basis[1], readers=case_readers(case.view()),
                                         shown_in=page)
                disclosed.append(case)
            shown[str(case.id)] = {**person, "basis": basis[0], "reception": self._reception_texts(case.id),
                                   "closing_note": case.closing_note}
        if disclosed:
            self.save(*disclosed)
        return shown

    def _reception_texts(self, case_id: UUID) -> dict[str, str] | None:
        """主訴 and 相談概要 of a case (None: none recorded, or the person erased)."""
        try:
            texts: Reception = self.load(Reception.id_for(case_id), Reception, "相談受付票")
        except NotFound:
            return None
        if texts.main_complaint is None:
            return None
        return {"main_complaint": texts.main_complaint, "summary": texts.summary}

    def case_view(self, case_id: UUID) -> dict[str, Any]:
        """The case as its page and `GET /cases/{id}` show it: read, not copied (`view` builds a new dict; its lists
        are the case's, and no caller changes them)."""
        return self._case_read(case_id).view()

    def scoped(self, rows: list[dict[str, Any]], reader: Any) -> list[dict[str, Any]]:
        """A list's rows (担当件数, 自分の担当) that `reader` may see. Intake's division scope is per case, for the
        divisions that run intake too: another counter's division reads a case only when the case names it (the
        generic rule, shared/organisation/scope.py `visible`, lets a program's divisions read all its cases)."""
        if reader is None:
            return []
        if sees_every_division(reader.roles):
            return rows
        return [r for r in rows if reader.division in self._readers_or_none(UUID(str(r["case_id"])))]

    def _readers_or_none(self, case_id: UUID) -> frozenset[str]:
        try:
            return self.case_divisions(case_id)
        except NotFound:
            return frozenset()

    def case_divisions(self, case_id: UUID) -> frozenset[str]:
        """Division scope of an intake case: its readers (services/intake/access.py case_readers), not the
        divisions its history names; NotFound for an unknown case (the route answers 404). Asked for every request
        about a case (the policy's scope check) and every row of a list: read without a copy (`read`, issue 19),
        as `case_readers` changes nothing of the view. With no aggregate kept (`KeptAggregates`), the case decoded here
        is this request's own: the route's load in the same request takes it (shared/kernel/decoded_once.py), one
        replay of the case's events per request rather than two."""
        case: Case = self.read(case_id, Case, "ケース")
        if self.reads_kept is not None and self.keeps_decoded(case):
            decoded_once.leave_shared(case)  # the kept case itself: for this request's read, never its command
        elif not isinstance(self.repository, KeptAggregates):
            decoded_once.leave(case)
        return case_readers(case.view())

    def disclose_person(
        self, actor: dict[str, str], case_id: UUID, basis: str, meeting_id: UUID | None
    ) -> dict[str, Any]:
        """D9 D10: show a case's person to a staff member on a legal basis, and record that it was shown.

        The basis is checked whatever the person's state; once they are erased nothing of theirs is shown, so no
        showing is recorded either (the disclosure report's last line stays the erasure, README "Audit")."""
        case = self._case(case_id)
        with acting(actor):
            case.disclose_person(basis, actor["division"], meeting_id, readers=case_readers(case.view()),
                                 recent_basis=basis == "own_counter" and self._recent_basis(actor, case))
        shown = self.person_view(UUID(case.person_ref))
        if shown["erased"]:
            case.collect_events()  # checked, not recorded: nothing personal was shown
        else:
            self.save(case)
        return shown

    def _recent_basis(self, actor: dict[str, str], case: Case) -> bool:
        """Issue 13: the reader opened this case themself, shortly before, for a person already known
        (search → new case at one's own counter → own_counter access). Legitimate for a real second
        consultation; marked in the disclosure report and listed for supervisors."""
        first = self.rows_at(self.case_positions(case.id)[:1])
        if not actor.get("staff_id") or not first or (first[0]["actor"] or {}).get("staff_id") != actor["staff_id"]:
            return False
        earlier = [i for i in self.cases_of_person(case.person_ref) if i != case.id]
        age = (datetime.now(UTC) - case.created_on).total_seconds()
        return bool(earlier) and age < self.RECENT_BASIS_SECONDS

    def recent_basis_disclosures(self, division: str | None) -> list[dict[str, Any]]:
        """Issue 13: showings on an own-counter basis the reader had created shortly before (a search,
        then a new case at their own counter, then the person's whole record): for a supervisor to
        check. `division`: only that division's staff (None: every division, for auditors)."""
        rows = []
        for notification in self.notifications():
            if not notification.topic.endswith("Case.PersonDisclosed"):
                continue
            event: Any = self.mapper.to_domain_event(notification)  # a Case.PersonDisclosed
            actor = (getattr(event, "meta", None) or {}).get("actor") or {}
            if not getattr(event, "recent_basis", False) or (division and actor.get("division") != division):
                continue
            rows.append({"occurred_at": event.timestamp.isoformat(), "case_id": str(event.originator_id),
                         "person_ref": event.person_ref, "staff_id": actor.get("staff_id", ""),
                         "division": actor.get("division", ""), "basis": event.basis})
        return rows

    def person_readers(self, person_ref: UUID) -> frozenset[str] | None:
        """Division scope of a person's records (disclosure report, erasure): the divisions that read any
        of the person's cases; None when intake knows no such person (the route answers 404)."""
        try:
            self.load(person_ref, Person, "相談者")
        except NotFound:
            return None
        readers: set[str] = set()
        for case_id in self.cases_of_person(str(person_ref)):
            readers |= case_readers(self._case(case_id).view())
        if not readers and (household := self.household_of(str(person_ref))) is not None:
            # D16: a member without a case of their own belongs to the division that added them
            readers |= {m["division"] for m in self._household(household).members
                        if m["person_ref"] == str(person_ref)}
        return frozenset(readers)

    def cases_of_person(self, person_ref: str) -> list[UUID]:
        """Every case of the person (from the person index read model)."""
        self.readmodels.catch_up()
        positions = self.readmodels.view.positions_of_person(person_ref)
        return sorted({cast(UUID, n.originator_id) for n in self.notifications_at(positions) if n.topic.endswith("Case.Received")})

    def person_view(self, person_ref: UUID) -> dict[str, Any]:
        person: Person = self.load(person_ref, Person, "相談者")
        return {"person_ref": str(person.id), "name": person.name, "kana": person.kana,
                "birth_date": person.birth_date, "address": person.address, "phone": person.phone,
                "erased": self._erasure(person)}

    def erase_person(self, actor: dict[str, str], person_ref: UUID, basis: str, reason: str) -> dict[str, Any]:
        """消去 (crypto-shredding): record who erased the person, when and why, then delete their key.

        The events stay; their personal fields can no longer be read anywhere (services/intake/keys.py).
        A retried erasure whose key deletion did not happen deletes it before it is refused."""
        person: Person = self.load(person_ref, Person, "相談者")
        if person.erased:
            self.keys.delete(person_ref)
        person.erase(actor["staff_id"], actor["division"], basis, reason)
        self.save(person)
        self.keys.delete(person_ref)
        return self.person_view(person_ref)

    def finish_recorded(self, recorded: list[UUID]) -> None:
        """An erasure retried with its Idempotency-Key after it was recorded: delete the key if it was not."""
        for aggregate_id in recorded:
            try:
                person = self.load(aggregate_id, Person, "相談者")
            except NotFound:
                continue
            if person.erased:
                self.keys.delete(aggregate_id)

    def person_erasure(self, person_ref: UUID) -> dict[str, Any] | None:
        """Who erased the person, when and on what basis; None while their information is kept."""
        return self._erasure(self.load(person_ref, Person, "相談者"))

    @staticmethod
    def _erasure(person: Person) -> dict[str, Any] | None:
        return None if not person.erased else {**person.erased, "at": person.modified_on.isoformat()}

    def history(self, case_id: UUID) -> list[dict[str, Any]]:
        """D15, with the erasure of the case's person (a `Person` event, recorded for every case of theirs)."""
        rows = super().history(case_id)
        try:
            person_ref = UUID(self._case(case_id).person_ref)
        except (NotFound, ValueError):
            return rows
        erased = [{**row, "case_id": str(case_id), "actor": {k: row["fields"][k] for k in ("staff_id", "division")}}
                  for row in self.person_rows(person_ref) if row["event"] == "Person.Erased"]
        return sorted(rows + erased, key=lambda r: r["position"])

    def cases(self) -> list[dict[str, Any]]:
        return [self._case(i).view() for i in self.ids_of(Case)]

    def trend(self) -> list[dict[str, Any]]:
        """D14: per counter and fiscal quarter: consultations, connections, escalations, meeting cases."""
        kept = self._trend  # counted so far: only the counted events recorded since are read (never a person's)
        with kept.lock:
            self.noted_views()
            while True:
                batch = self.recorder.select_notifications(start=kept.position + 1, limit=500, topics=TREND_TOPICS)
                if not batch:
                    break
                kept.add([self.mapper.to_domain_event(n) for n in batch])
                kept.position = batch[-1].id
            return kept.rows()

    def referrals(self) -> list[dict[str, Any]]:
        """D12: people outreach handed to a counter, waiting to be received."""
        views = [self.load(i, Referral, "紹介").view() for i in self.ids_of(Referral)]
        return [{**v, "person_ref": self._held_person(UUID(v["case_id"]))} for v in views if v["status"] == "waiting"]

    def _held_person(self, case_id: UUID) -> str | None:
        """D12: the person of a referral's case when intake holds the case already (receiving it takes the case up
        again, with that person); None for a person outreach met before any counter."""
        try:
            return self._case_read(case_id).person_ref
        except NotFound:
            return None

    @handles(OutreachHandedOverV1)
    def _referred_by_outreach(self, envelope: Envelope, payload: OutreachHandedOverV1,
                              processing: ProcessingEvent[UUID]) -> None:
        """D12: outreach hands a person to a counter: a referral waits there for reception. D11: one handed to
        collaboration, of a case intake holds, is under collaboration from now on, with the primary agency named
        (Case.note_handed_to_collaboration), as collaboration and the bus hold it. D9: of a case intake holds, only
        when outreach's division reads it here (`_handed_by_its_reader`); else dead-lettered, nothing recorded."""
        if payload.to_program == "intake" and payload.counter:
            try:
                _handed_by_its_reader(envelope, payload, self._case_read(envelope.case_id).view())
            except NotFound:
                pass  # a person outreach met before any counter: the referral waits at the counter, as ever
            processing.collect_events(Referral(case_id=envelope.case_id, counter=payload.counter, reason=payload.reason))
        elif payload.to_program == "collaboration":
            try:
                case = self._case(envelope.case_id)
            except NotFound:
                return  # a person outreach met before any counter: collaboration alone holds the case
            _handed_by_its_reader(envelope, payload, case.view())
            case.note_handed_to_collaboration(payload.primary_agency, payload.reason)
            processing.collect_events(case)

    @handles(MeetingCaseTakenUpV1)
    def _taken_up(self, envelope: Envelope, payload: MeetingCaseTakenUpV1, processing: ProcessingEvent[UUID]) -> None:
        """D9 D10: a sitting took the case up; its members (codes) are a basis to read the person. D16: the household's
        cases held in its plan were taken up with it (a case that never passed intake: nothing here)."""
        cases = self._each_plan_case(envelope.case_id)
        if cases and cases[0].status not in UNDER_PLAN:
            cases = cases[:1]  # the household's plan no longer holds the others: the case alone was taken up
        for case in cases:
            case.note_sitting(payload.meeting_id, payload.meeting_type, payload.held_on.isoformat(),
                              payload.member_divisions)
            processing.collect_events(case)

    @handles(MeetingDecidedV1)
    def _decided(self, envelope: Envelope, payload: MeetingDecidedV1, processing: ProcessingEvent[UUID]) -> None:
        """D14: the case was decided at a meeting. D7: an approval of collaboration's plan brings a case shown 中断 or
        終結 back under its plan (a suspended plan revised and approved again; a new plan after 終結), with the
        household's cases held with it."""
        cases = self._each_plan_case(envelope.case_id)
        if not cases:
            return  # a case that never passed intake
        cases[0].note_meeting(payload.meeting_id, payload.meeting_type, payload.decision)
        for case in cases:
            if payload.decision == "approved":
                case.note_plan_approved(payload.plan_id, payload.meeting_id, payload.program)
            processing.collect_events(case)

    @handles(CaseReturnedToIntakeV1)
    def _returned(self, envelope: Envelope, payload: CaseReturnedToIntakeV1, processing: ProcessingEvent[UUID]) -> None:
        """D11: the meeting returns the case to intake with its primary agency."""
        try:
            case = self._case(envelope.case_id)
        except NotFound:
            return  # a case that began at outreach never passed intake: nothing to return to
        for held in self._plan_cases(case):
            held.return_from_meeting(payload.meeting_id, payload.primary_agency, payload.reason)
            processing.collect_events(held)

    def _plan_cases(self, case: Case) -> list[Case]:
        """The case and, when it was escalated for its household (D16), the household's cases held with it."""
        held = [case]
        plan = case.view()["household_plan"] or {}
        if plan.get("lead") == str(case.id):
            for related in plan.get("related", []):
                try:
                    other = self._case(UUID(related))
                except NotFound:
                    continue
                if (other.view()["household_plan"] or {}).get("lead") == str(case.id):
                    held.append(other)
        return held

    def _each_plan_case(self, case_id: UUID) -> list[Case]:
        try:
            return self._plan_cases(self._case(case_id))
        except NotFound:
            return []  # a case that never passed intake

    @handles(PlanClosedV1)
    def _plan_closed(self, envelope: Envelope, payload: PlanClosedV1, processing: ProcessingEvent[UUID]) -> None:
        """D7 (issue 15): the plan of an escalated case ended (終結): the case shows 終結, not escalated (D16:
        and the household's cases held with it)."""
        for case in self._each_plan_case(envelope.case_id):
            case.note_plan_closed(payload.plan_id, payload.meeting_id, payload.program)
            processing.collect_events(case)

    @handles(PlanSuspendedV1)
    def _plan_suspended(self, envelope: Envelope, payload: PlanSuspendedV1,
                        processing: ProcessingEvent[UUID]) -> None:
        """D7 (issue 15): the plan was suspended (中断): the case (and its household's held with it) shows 中断."""
        for case in self._each_plan_case(envelope.case_id):
            case.note_plan_suspended(payload.plan_id, payload.meeting_id, payload.program)
            processing.collect_events(case)

    @handles(PlanResumedV1)
    def _plan_resumed(self, envelope: Envelope, payload: PlanResumedV1, processing: ProcessingEvent[UUID]) -> None:
        """D7 (issue 15): the plan was resumed (再開): the case shows 支援中 again, not 中断 or 終結."""
        for case in self._each_plan_case(envelope.case_id):
            case.note_plan_resumed(payload.plan_id, payload.meeting_id, payload.program)
            processing.collect_events(case)

    @handles(PlanProposedV1)
    def _plan_proposed(self, envelope: Envelope, payload: PlanProposedV1,
                       processing: ProcessingEvent[UUID]) -> None:
        """D18: the 見直し予定日 of a plan proposed for the case (due on 自分の担当 once near)."""
        if payload.review_on is not None:
            self._note_review(envelope.case_id, payload.plan_id, payload.review_on, payload.program, processing)

    @handles(PlanContinuedV1)
    def _plan_continued(self, envelope: Envelope, payload: PlanContinuedV1,
                        processing: ProcessingEvent[UUID]) -> None:
        """D18: the meeting continued the plan with a new review date."""
        self._note_review(envelope.case_id, payload.plan_id, payload.next_review_on, payload.program, processing)

    def _note_review(self, case_id: UUID, plan_id: UUID, review_on: date, program: str | None,
                     processing: ProcessingEvent[UUID]) -> None:
        for case in self._each_plan_case(case_id):
            case.note_plan_review(plan_id, review_on.isoformat(), program)
            processing.collect_events(case)

    # -- 世帯 (D16, issue 15) ---------------------------------------------------------------------------

    def household_of(self, person_ref: str) -> UUID | None:
        """The household the person belongs to now (None: none), from the household index (people.py)."""
        found = self.households.household_of(person_ref)
        return UUID(found) if found else None

    def household_id_of(self, person_ref: str) -> UUID:
        """The household the person belongs to now; NotFound (404) when none."""
        found = self.household_of(person_ref)
        if found is None:
            raise NotFound("この方はまだ世帯に登録されていません。ケースの画面から世帯をつくってください / "
                           "this person belongs to no household yet: form one from their case's page")
        return found

    def household_of_case(self, case_id: UUID) -> UUID | None:
        """The household the case's person belongs to now."""
        return self.household_of(self._case(case_id).person_ref)

    def form_household(self, actor: dict[str, str], case_id: UUID, since: str | None = None) -> UUID:
        """D16: a household formed around the person of a case the actor's division may write (its head), known
        as a household `since` (ISO date; today by default)."""
        case = self._writable(actor, case_id)
        self._known_person(case.person_ref)
        with acting(actor):
            household = Household.form(case.person_ref, since or today_in_japan().isoformat(),
                                       actor.get("division", ""), self.household_of(case.person_ref))
        self.save(household)
        return household.id

    def add_member(self, actor: dict[str, str], household_id: UUID, relation: str, person_ref: str | None = None,
                   person: dict[str, Any] | None = None, confirm_new_person: bool = False) -> str:
        """D16: an existing person the actor's division may be shown (found by the search), or a new person
        (search before create: a known one is offered, 409), joins with their 続柄. Returns their person_ref."""
        household = self._household_in_scope(_Actor(actor.get("division", ""), (), actor.get("staff_id", "")),
                                             household_id)
        if (person is None) == (person_ref is None):
            raise Invalid("既知の相談者 (person_ref) か新しい方 (person) のどちらか一方を指定してください / "
                          "give either person_ref or person")
        if relation not in RELATIONS:  # before a new person is registered for nothing (the domain says why)
            with acting(actor):
                household.add_member("", relation, "", "", None)
        people: list[Person] = []
        if person_ref is None:
            registered = self._new_person(actor, person or {}, confirm_new_person)
            people.append(registered)
            person_ref = str(registered.id)
        else:
            self._known_person(person_ref)
            if not self._may_read_person(_Actor(actor.get("division", ""), ()), person_ref):
                raise OutOfScope("この方の相談を閲覧する根拠があなたの課にありません。検索で見つかった方から選んでください / "
                                 "your division has no basis for this person: choose someone the search shows you")
        with acting(actor):
            household.add_member(person_ref, relation, today_in_japan().isoformat(), actor.get("division", ""),
                                 None if people else self.household_of(person_ref))
        self.save(*people, household)
        return person_ref

    def remove_member(self, actor: dict[str, str], household_id: UUID, person_ref: str) -> None:
        """D16: a member leaves the household (kept as a former member)."""
        household = self._household_in_scope(_Actor(actor.get("division", ""), ()), household_id)
        with acting(actor):
            household.remove_member(person_ref, today_in_japan().isoformat())
        self.save(household)

    def escalate_household(self, actor: dict[str, str], household_id: UUID, case_ids: Sequence[UUID], reason: str,
                           primary_agency: str) -> dict[str, Any]:
        """D16 D3: a household's cases to one plan. The first case is escalated (CaseEscalated with the
        household's pseudonymous ref and the others' ids); the others are held with it (「世帯で連携中」).
        Each is a current member's case that the actor's division may write; all or none are recorded."""
        household = self._household_in_scope(_Actor(actor.get("division", ""), ()), household_id)
        ids = list(dict.fromkeys(case_ids))
        if len(ids) < 2:
            raise Invalid("世帯で一緒につなぐケースを2件以上選んでください（1件なら、そのケースの画面から多機関協働へつなぎます）/ "
                          "choose two or more of the household's cases (one case is escalated from its own page)")
        cases = [self._writable(actor, case_id) for case_id in ids]
        for case in cases:
            if not household.is_member(case.person_ref):
                raise NotAMember(f"ケース {str(case.id)[:8]} はこの世帯の方の相談ではありません / "
                                 "that case is not a current member's")
        lead, others = cases[0], cases[1:]
        code = _known_agency(primary_agency)
        with acting(actor):
            lead.escalate(reason, primary_agency, household_ref=str(household.id),
                          related_case_ids=[c.id for c in others], primary_agency_code=code,
                          concern_codes=self._concern_codes(lead))
            for other in others:
                other.join_household_plan(lead.id, str(household.id), primary_agency)
        self.save(*cases)
        return {"case_id": str(lead.id), "related_case_ids": [str(c.id) for c in others],
                "household_ref": str(household.id), "status": "escalated"}

    def household_view(self, reader: Reader, household_id: UUID) -> dict[str, Any]:
        """D16: every member with their cases at intake (状態, 窓口, 担当) for a reader with a basis for that
        member (D9 D10 on one of their cases; for a member without a case, the division that added them);
        the others as 「世帯員（閲覧権限なし）」 with how many cases, nothing else. Every member shown is a
        recorded disclosure (on their case's basis: Case.PersonDisclosed, else Person.Shown), in one save."""
        household = self._household_in_scope(reader, household_id)
        assigned = self.assignments()
        actor = {"staff_id": getattr(reader, "staff_id", "") or "", "division": reader.division}
        members: list[dict[str, Any]] = []
        disclosed: list[Case | Person] = []
        for member in household.members:
            ref = member["person_ref"]
            cases = [self._case(c) for c in self.cases_of_person(ref)]
            basis = next(((c, b) for c in cases if may_read_case(reader, c.view())
                          and (b := c.lawful_basis(reader.division, case_readers(c.view()))) is not None), None)
            person: Person = self.load(UUID(ref), Person, "相談者")
            shown = not person.erased and (basis is not None or (not cases and member["division"] == reader.division))
            row: dict[str, Any] = {"person_ref": ref, "head": ref == household.head_ref, "shown": shown,
                                   "erased": bool(person.erased), "since": member["since"], "case_count": len(cases)}
            if shown:
                with acting(actor):
                    if basis is not None:
                        basis[0].disclose_person(basis[1][0], reader.division, basis[1][1],
                                                 readers=case_readers(basis[0].view()), shown_in="household")
                        disclosed.append(basis[0])
                    else:
                        person.show(actor["staff_id"], reader.division, "household")
                        disclosed.append(person)
                row |= {"relation": member["relation"], "name": person.name, "kana": person.kana,
                        "birth_date": person.birth_date, "basis": basis[1][0] if basis else "added_here",
                        "cases": [{**{k: v[k] for k in ("case_id", "counter", "status", "primary", "household_plan")},
                                   "assignee": assigned.get(v["case_id"], (None, None))[0],
                                   "writable": reader.division in case_writers(v)}
                                  for c in cases if may_read_case(reader, v := c.view())]}
            members.append(row)
        if disclosed:
            self.save(*disclosed)
        return {"household_ref": str(household.id), "head_ref": household.head_ref, "members": members,
                "former": [{"person_ref": m["person_ref"], "since": m["since"], "until": m["until"]}
                           for m in household.former]}

    def _household_in_scope(self, reader: Reader, household_id: UUID) -> Household:
        """The household, if the reader's division has a basis for one of its members (D9 D10); 403 otherwise."""
        household = self._household(household_id)
        for member in household.members:
            cases = self.cases_of_person(member["person_ref"])
            if (not cases and member["division"] == reader.division) or any(
                    may_read_case(reader, (c := self._case(i)).view())
                    and c.lawful_basis(reader.division, case_readers(c.view())) is not None for i in cases):
                return household
        if sees_every_division(reader.roles):
            return household
        raise OutOfScope("この世帯の方の相談を閲覧する根拠があなたの課にありません / "
                         "your division has no basis for any member of this household")

    def _household(self, household_id: UUID) -> Household:
        household: Household = self.load(household_id, Household, "世帯")
        return household

    def _writable(self, actor: dict[str, str], case_id: UUID) -> Case:
        """The case, if the actor's division may write it (services/intake/access.py case_writers)."""
        case = self._case(case_id)
        if actor.get("division"):
            require_case_writer(actor["division"], case.view())
        return case

    def casework_cases(self) -> list[UUID]:
        """担当者・支援経過記録 (issue 15): every case this counter received."""
        return self.ids_of(Case)

    def casework_require_case(self, case_id: UUID) -> None:
        case = self._case(case_id)  # NotFound: not a case of intake
        self._file_people[case_file_id(case_id)] = UUID(case.person_ref)

    def _note_person(self, file_id: UUID) -> UUID | None:
        """D17: whose key seals a case note (the case's person); None for a file of no known case."""
        if file_id not in self._file_people:
            for case_id in self.ids_of(Case):
                if case_file_id(case_id) == file_id:
                    self._file_people[file_id] = UUID(self._case(case_id).person_ref)
        return self._file_people.get(file_id)

    def write_note(self, actor: dict[str, str], case_id: UUID, contacted_at: datetime, method: str,
                   counterpart: str, content: str, agreed: str = "", next_step: str = "",
                   next_due: date | None = None) -> UUID:
        """支援経過記録 (D17), sealed with the key of the case's person: none once they are erased."""
        if self.load(UUID(self._case(case_id).person_ref), Person, "相談者").erased:
            raise PersonErased("この相談者の個人情報は消去されています。経過記録は書けません / "
                               "this person's information was erased: no note can be written for them")
        return super().write_note(actor, case_id, contacted_at, method, counterpart, content, agreed, next_step,
                                  next_due)

    def casework_due(self, case_id: UUID, notes: list[RecordEntry], on: date) -> list[DueItem]:
        """D18 (issue 15): つなぎ unanswered, consent awaited, the 見直し予定日 of the plan the case follows."""
        connected_on: list[date] = []
        escalated_on: date | None = None
        for e in self.events_of(case_id):
            if isinstance(e, Case.Connected):
                connected_on.append(e.timestamp.astimezone(JST).date())
            elif isinstance(e, Case.Escalated | Case.JoinedHouseholdPlan | Case.HandedToCollaboration):
                escalated_on = e.timestamp.astimezone(JST).date()
        return [DueItem(str(case_id), what, due, overdue, f"/ui/cases/{case_id}")
                for what, due, overdue in due_at_intake(self.case_view(case_id), connected_on, escalated_on, on)]

    def _case(self, case_id: UUID) -> Case:
        """The case, the caller's own copy: the one this request's scope check decoded (`case_divisions`), or a copy
        of the kept case it read (no second look at the store: a save on it that lost a race is refused by the store
        and runs again, shared/web/retry.py), else loaded (a copy of the kept case when the store holds nothing
        newer, `KeptReads.load`)."""
        case: Case | None = decoded_once.take(case_id, Case, copy=own_copy)
        return case if case is not None else self.load(case_id, Case, "ケース")

    def _case_read(self, case_id: UUID) -> Case:
        """The case for a read that changes nothing of it: the one this request's scope check read, else read (the
        kept case itself when the store holds nothing newer, `KeptReads.read`)."""
        case: Case | None = decoded_once.take(case_id, Case, reading=True)
        return case if case is not None else self.read(case_id, Case, "ケース")


def _handed_by_its_reader(envelope: Envelope, payload: OutreachHandedOverV1, view: dict[str, Any]) -> None:
    """D9 D12: outreach hands over a case intake holds (one a counter received) only when a division that runs outreach
    reads it here (services/intake/access.py case_readers: connected to outreach, escalated, taken up at a meeting…),
    the rule outreach's start applies over HTTP (services/outreach/api.py require_case_open_to). The hand-over makes
    the counter it names (or the primary agency it names at collaboration) a reader of the person: from anyone else,
    say with outreach's NATS password, it is refused (PoisonMessage: dead-lettered with this reason, nothing
    recorded). Found by HB's review (session 24), closed by HI's."""
    if PROGRAM_DIVISIONS.get("outreach", frozenset()) & case_readers(view):
        return
    named = f"counter {payload.counter}" if payload.to_program == "intake" else \
        f"collaboration with primary agency {payload.primary_agency}"
    raise PoisonMessage(
        f"{envelope.event_type} from {envelope.source} for case {envelope.case_id} hands it to {named}, but intake "
        f"holds this case (received at counter {view.get('counter')}) and no division that runs outreach reads it "
        "(not connected to outreach, escalated or taken up at a meeting): outreach hands over only a case its division "
        "reads (D9 D12): not applied"
    )  # (in English, as every reason: a header)
