"""地区 (areas) as events carry them (issue 18): the area people wrote and, beside it, the code of the municipality
file's `[[areas]]` entry it lies in (participation's shortage reports, community's resources and places)."""

from __future__ import annotations

from shared.kernel.journey import Invalid
from shared.organisation.reference import area_code, area_name, areas

#: A 地区's code as requests send it: the municipality file's code (shared/organisation/municipality.py `Code`).
AREA_CODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def area_of(area: str, code: str | None) -> tuple[str, str | None]:
    """The area a record keeps and its 地区 code: with a 地区 chosen (its code, as a form's select sends it), the area
    written, or the 地区's name when none was written; without one, the code of the area written when the
    municipality file knows it (free text finer than a 地区, `〇〇町`, has none). Invalid names the file's 地区."""
    written = area.strip()
    if code and code.strip():
        known = area_code(code)
        if known is None or known != code.strip():
            raise Invalid(f"地区 {code!r} は自治体ファイルにありません。次のいずれかです / unknown area code; one of: "
                          + ", ".join(f"{a.code}={a.ja}" for a in areas().values()))
        return written or area_name(known), known
    if not written:
        raise Invalid("地域を入力するか地区を選んでください / write the area or choose its 地区")
    return written, area_code(written)
