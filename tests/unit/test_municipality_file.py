"""The municipality file (issue 18): both shipped files load; a bad one is refused with the file, the line, the
entry and what is wrong (shared/organisation/municipality.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shared.organisation import municipality, reference
from shared.organisation.municipality import DATA, DEFAULT_FILE, MunicipalityFileError, load

KAKUSHI = DATA / "kakushi.toml"
CHOFU = re.compile(r"調布|ちょうふ|chofu", re.IGNORECASE)


def refusal(tmp_path: Path, text: str) -> str:
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(MunicipalityFileError) as refused:
        load(bad)
    message = str(refused.value)
    assert str(bad) in message  # every refusal names the file
    return message


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_both_shipped_files_load_and_differ() -> None:
    chofu, kakushi = load(DEFAULT_FILE), load(KAKUSHI)

    assert chofu.about.ja == "調布市" and kakushi.about.ja == "架空市"
    assert chofu.division_codes.isdisjoint(kakushi.division_codes)
    assert {c.code for c in chofu.model.counters}.isdisjoint({c.code for c in kakushi.model.counters})


def test_a_missing_field_names_the_line_and_the_entry(tmp_path: Path) -> None:
    text = KAKUSHI.read_text(encoding="utf-8").replace('division = "shogaisha-shien"\n', "", 1)

    message = refusal(tmp_path, text)

    header = line_of(text, 'code = "kikan-sodan"') - 1  # the entry lost its `division`: its [[counters]] line
    assert f"{header}行目 [[counters]] #3 (kikan-sodan) division" in message and "Field required" in message


def test_a_bad_code_and_dates_in_the_wrong_order_are_each_named(tmp_path: Path) -> None:
    text = (
        KAKUSHI.read_text(encoding="utf-8")
        .replace('code = "seikatsu-shien"\nja = "生活支援課"', 'code = "生活支援"\nja = "生活支援課"')
        .replace(
            'ja = "地域共生推進課"\nen = "Inclusive Community Promotion"\nvalid_from = 2027-04-01',
            'ja = "地域共生推進課"\nen = "Inclusive Community Promotion"\nvalid_from = 2027-04-01\nvalid_to = 2027-01-01',
        )
    )

    message = refusal(tmp_path, text)

    bad_code = line_of(text, 'code = "生活支援"')
    assert f"{bad_code}行目 [[divisions]] #9 (生活支援) code" in message
    assert (
        "[[divisions]] #2 (fukushi-seisaku)" in message
        and "valid_to (2027-01-01) が valid_from (2027-04-01) より前" in message
    )


def test_cross_references_overlaps_and_successors_are_checked(tmp_path: Path) -> None:
    text = (
        KAKUSHI.read_text(encoding="utf-8")
        # the counter's second entry starts before its first ends: two valid on the same days
        .replace(
            'division = "korei-kaigo"\nvalid_from = 2027-04-01\n\n[[counters]]\ncode = "kikan-sodan"',
            'division = "korei-kaigo"\nvalid_from = 2027-03-01\n\n[[counters]]\ncode = "kikan-sodan"',
        )
        # a counter under a division that does not exist
        .replace('division = "seikatsu-shien"\n\n[[counters]]', 'division = "no-such-division"\n\n[[counters]]')
        # a successor that does not exist yet the day after
        .replace('valid_to = 2027-03-31\nsuccessor = "korei-kaigo"', 'valid_to = 2027-02-28\nsuccessor = "korei-kaigo"', 1)
    )

    message = refusal(tmp_path, text)

    assert (
        "[[counters]] #2 (houkatsu-center) valid_from: コード houkatsu-center の項目が #1 と有効期間が重なっています"
        in message
    )
    assert "[[counters]] #6 (kurashi-support) division: 課 no-such-division が divisions にありません" in message
    assert (
        "[[divisions]] #3 (korei-fukushi) successor: 後継の課 korei-kaigo が 2027-02-28 の翌日に有効ではありません"
        in message
    )
    # the counter's division ended before the counter did: a day it would belong nowhere
    assert "課 korei-fukushi は 2027-03-01 に有効ではありません" in message


def test_codes_the_contract_and_the_law_fix_must_be_there(tmp_path: Path) -> None:
    text = (
        KAKUSHI.read_text(encoding="utf-8")
        .replace('code = "jukyo"', 'code = "sumai"')
        .replace('code = "shien_kaigi"', 'code = "kobetsu_kaigi"')
    )

    message = refusal(tmp_path, text)

    assert (
        "社会資源の種類 jukyo がありません" in message
        and "会議の種類のコードは jusou_shien_kaigi, shien_kaigi の二つです" in message
    )


def test_not_toml_and_no_file_are_refused_plainly(tmp_path: Path) -> None:
    assert "TOML の書き方が正しくありません" in refusal(tmp_path, "[municipality\ncode = 1\n")
    assert "line 1" in refusal(tmp_path, "[municipality\ncode = 1\n")
    with pytest.raises(MunicipalityFileError, match="自治体ファイルを読めません"):
        load(tmp_path / "absent.toml")


def test_a_service_with_a_bad_file_stops_with_status_2_and_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        KAKUSHI.read_text(encoding="utf-8").replace('lead_division = "fukushi-seisaku"', 'lead_division = "x"'),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUSOU_MUNICIPALITY_FILE", str(bad))

    with pytest.raises(SystemExit) as stopped:
        reference.exit_if_invalid()

    said = capsys.readouterr().err
    assert stopped.value.code == 2
    assert f"{bad}: " in said and "[municipality] lead_division: 課 x が divisions にありません" in said, said


def _texts_shown(path: Path) -> list[str]:
    """What a file can show or send: a template's whole text, a module's string constants (not its docstrings)."""
    if path.suffix != ".py":
        return [path.read_text(encoding="utf-8")]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documented = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documented
    ]


def test_nothing_but_the_default_file_names_chofu() -> None:
    """Issue 18: the domain, pages and reports name no municipality; the default file (and mentions of its name,
    chofu.toml) may."""
    root = Path(__file__).resolve().parents[2]
    files = [
        p
        for folder in ("services", "shared", "jusou")
        for pattern in ("*.py", "*.html")
        for p in (root / folder).rglob(pattern)
        if CHOFU.search(p.read_text(encoding="utf-8"))  # parse only these
    ]
    naming = sorted(
        f"{p.relative_to(root)}: {line.strip()[:100]!r}"
        for p in files
        for text in _texts_shown(p)
        for line in text.splitlines()
        if CHOFU.search(line) and "chofu.toml" not in line
    )

    assert not naming, "調布 named outside shared/organisation/municipalities/chofu.toml:\n" + "\n".join(naming)


def test_nothing_but_the_default_file_names_chofus_divisions_counters_or_partners() -> None:
    """Issue 18: no code of Chofu's divisions or counters, and no name of its divisions, counters or partners that
    another municipality's file does not share (地域包括支援センター is every city's), in a template or a string
    constant of services/, shared/, jusou/: they come from the municipality file."""
    chofu, kakushi = load(DEFAULT_FILE).model, load(KAKUSHI).model
    codes = {e.code for e in (*chofu.divisions, *chofu.counters)}
    shared_names = {e.ja for e in (*kakushi.divisions, *kakushi.counters, *kakushi.partners)}
    names = {e.ja for e in (*chofu.divisions, *chofu.counters, *chofu.partners)} - shared_names
    code = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(codes))) + r")(?![\w-])")
    root = Path(__file__).resolve().parents[2]
    files = [
        p
        for folder in ("services", "shared", "jusou")
        for pattern in ("*.py", "*.html")
        for p in (root / folder).rglob(pattern)
        if DATA not in p.parents
    ]
    naming = sorted(
        f"{p.relative_to(root)}: {found}"
        for p in files
        for text in _texts_shown(p)
        for found in {*code.findall(text), *(n for n in names if n in text)}
    )

    assert len(codes) > 10 and len(names) > 10
    assert not naming, "Chofu's organisation named outside its municipality file:\n" + "\n".join(naming)


def test_the_file_check_sums_up_a_good_file_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[municipality]\ncode = 'x'\n", encoding="utf-8")

    assert municipality.main([str(KAKUSHI)]) == 0
    assert ("架空市 (999997) 課 8、窓口 5、事業 15、協議の場 5（推進会議: 重層的支援体制推進会議）、"
            "組織の変わる日 / reorganisations: 2027-04-01") in capsys.readouterr().out
    assert municipality.main([str(DEFAULT_FILE), str(bad)]) == 2
    said = capsys.readouterr()
    assert "調布市 (132080)" in said.out and f"{bad}: 2行目 [municipality] code" in said.err, said


def test_the_file_check_counts_the_forums_where_issues_are_taken_up_D8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary counts the 協議の場 (D8: a resource is developed in a forum of its own) as it counts divisions,
    counters and programs: a renamed forum once, the 推進会議 named, a forum's first day a day the organisation changes;
    a file written before [[forums]] says it has none."""
    text = KAKUSHI.read_text(encoding="utf-8")
    more = tmp_path / "more.toml"
    more.write_text(text + '\n[[forums]]\ncode = "kodomo-kaigi"\nja = "子ども・若者支援地域協議会"\n'
                    'valid_from = 2028-04-01\n', encoding="utf-8")
    none = tmp_path / "none.toml"
    none.write_text(re.sub(r"\[\[forums\]\]\n(?:[^\[\n][^\n]*\n|\n)*", "", text), encoding="utf-8")

    assert municipality.main([str(more), str(none)]) == 0
    more_line, none_line = capsys.readouterr().out.splitlines()
    assert "協議の場 6（推進会議: 重層的支援体制推進会議）" in more_line, more_line
    assert "reorganisations: 2027-04-01, 2028-04-01" in more_line, more_line
    assert "事業 15、協議の場 なし / no forums、" in none_line, none_line


def test_a_counters_fields_are_concern_fields_and_a_partner_has_a_code(tmp_path: Path) -> None:
    text = KAKUSHI.read_text(encoding="utf-8")
    unknown_field = text.replace('fields = ["disability"]', 'fields = ["disability", "no-such-field"]', 1)
    no_code = text.replace('[[partners]]\ncode = "minsei-iin"\n', "[[partners]]\n", 1)

    assert "[[counters]] #3 (kikan-sodan) fields: 相談内容の分野 no-such-field が concern_fields にありません" in refusal(
        tmp_path, unknown_field)
    assert "[[partners]] #2 (民生委員・児童委員) code: 必要な項目がありません" in refusal(tmp_path, no_code)


@pytest.mark.parametrize("path", [DEFAULT_FILE, KAKUSHI], ids=["chofu", "kakushi"])
def test_events_carry_an_agencys_code_and_its_name_reads_back(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Issue 18: an agency named by a person (a division, a counter, a program, a partner) has a code, with the table
    it is in; the code reads back as the name; a name the file does not know has none. Concern fields likewise."""
    monkeypatch.setenv(reference.VARIABLE, str(path))
    model = load(path).model
    counter, partner = model.counters[0], model.partners[0]
    lead = reference.DIVISIONS[model.municipality.lead_division]

    assert reference.agency_code(counter.ja) == f"counter:{counter.code}"
    assert reference.agency_code(partner.ja) == f"partner:{partner.code}"
    assert reference.agency_code(lead.ja) == f"division:{lead.code}"
    assert reference.agency_code("counter:" + counter.code) == "counter:" + counter.code  # a code stays a code
    assert reference.agency_code("どこにもない機関") is None
    assert reference.agency_name(f"partner:{partner.code}") == partner.ja
    assert reference.agency_name(f"counter:{counter.code}") == counter.ja
    assert reference.concern_codes([model.concern_fields[0].ja, "elderly-care", "なし"]) == [
        model.concern_fields[0].code, "elderly-care", None]


def test_a_renamed_division_keeps_its_code_in_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """架空市's 福祉政策課 becomes 地域共生推進課 on 2027-04-01: both names give the same code, then and after."""
    monkeypatch.setenv(reference.VARIABLE, str(KAKUSHI))
    from datetime import date

    after = date(2027, 4, 2)
    assert reference.agency_code("福祉政策課", after) == reference.agency_code("地域共生推進課", after) == "division:fukushi-seisaku"
    assert reference.agency_name("division:fukushi-seisaku", after) == "地域共生推進課"
    assert reference.agency_name("division:fukushi-seisaku", date(2027, 3, 31)) == "福祉政策課"


async def test_each_tenant_reads_its_own_municipality_file_in_one_process() -> None:
    """Many municipalities on one deployment: `in_force` gives a context (an asyncio task, a thread) its own file;
    the tables, lookups and the division scope read it there and nowhere else."""
    import asyncio

    from shared.organisation.scope import PROGRAM_DIVISIONS

    async def lead_of(path: Path) -> tuple[str, str, frozenset[str]]:
        with reference.in_force(path):
            await asyncio.sleep(0)  # the other task runs meanwhile, with its own file
            return reference.municipality().ja, reference.DIVISIONS[reference.lead_division()].ja, PROGRAM_DIVISIONS["meeting"]

    kakushi, chofu = await asyncio.gather(lead_of(KAKUSHI), lead_of(DEFAULT_FILE))

    assert kakushi == ("架空市", "福祉政策課", frozenset({"fukushi-seisaku"}))
    assert chofu == ("調布市", "福祉総務課", frozenset({"welfare-general"}))
    assert reference.municipality().ja == load(reference.municipality_file()).about.ja  # outside the blocks: as configured
