"""A dead letter's reason in Japanese, beside the English one its consumer recorded.

The consumers record why they parked a message in English (`Jusou-Dead-Letter-Reason`: the inbox's refusals,
shared/contract/events.py's `PoisonMessage` reasons, a handler's last error); tests and integrators match those
texts, so they stay as they are. Staff and operators read `jusou deadletters` in Japanese first: `japanese` turns
each reason Jusou writes into Japanese, keeping its particulars (subjects, positions, the error) as they are, and
says None for a reason it does not know (a text of another version or another program: shown as it is).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_Render = Callable[[re.Match[str]], str]

#: (the English reason's pattern, its Japanese), in the order tried; the particulars are kept verbatim.
KNOWN: tuple[tuple[re.Pattern[str], _Render], ...] = tuple((re.compile(pattern, re.DOTALL), render) for pattern, render in (
    (r"(\w+) from (\w+) for case (\S+) hands it to (.+?), but intake holds this case \(received at counter (\S+)\)",
     lambda m: f"{m[2]} からの {m[1]} はケース {m[3]} を引き継ごうとしていますが、このケースは窓口（{m[5]}）で受け付けたもので、"
               f"アウトリーチの課はこのケースにつながっていません（つなぎ・多機関協働への移行・会議での検討がありません）。"
               f"反映しません（偽のメッセージの疑い）"),
    (r"body is not UTF-8 JSON: ",
     lambda m: "本文が UTF-8 の JSON ではありません。処理できないメッセージです"),
    (r"invalid envelope: ",
     lambda m: "封筒（エンベロープ）の項目が契約に合いません。処理できないメッセージです"),
    (r"unknown event (\S+) v(\d+)",
     lambda m: f"出来事 {m[1]} の版 {m[2]} を知りません。送信元がより新しい版を使っていれば、受け手の更新後に再送してください"),
    (r"invalid payload of (\S+) v(\d+): .*?should have at most",
     lambda m: f"出来事 {m[1]}（版 {m[2]}）の項目が契約の上限（文字数・件数）を超えています。処理できないメッセージです"
               f"（上限は画面・APIの入力の上限に合わせてあります。送信元の誤りか、偽のメッセージの疑い）"),
    (r"invalid payload of (\S+) v(\d+): ",
     lambda m: f"出来事 {m[1]}（版 {m[2]}）の内容が契約に合いません。処理できないメッセージです"),
    (r"(\S+) holds a (bidirectional control|control) character \((U\+[0-9A-F]{4})\), which no Jusou producer sends",
     lambda m: f"{m[1]} に{'文字の向きを変える制御文字' if m[2].startswith('bi') else '制御文字'}（{m[3]}）が含まれています。"
               f"Jusou の送信元は送りません（画面・APIの入力でも受け付けない文字）。反映しません（偽のメッセージの疑い）"),
    (r"subject (\S+) is not jusou\.<source>\.<EventType>",
     lambda m: f"件名 {m[1]} が jusou.<送信元>.<出来事> の形ではありません。件名が送信元を示します"),
    (r"envelope says source (\S+), event_type (\S+), but it was published on subject (\S+) ",
     lambda m: f"封筒の送信元 {m[1]}・出来事 {m[2].rstrip(',')} が件名 {m[3]} と一致しません。件名が正であり、"
               f"反映しません（偽のメッセージの疑い）"),
    (r"source_position (\d+) is beyond any store",
     lambda m: f"位置 {m[1]} はどの記録にもあり得ません。反映しません（偽のメッセージの疑い）"),
    (r"(\w+) on subject (\S+) names program '(\w+)': a program sends only its own plans",
     lambda m: f"件名 {m[2]} の {m[1]} が別のプログラム（{m[3]}）の計画を名乗っています。プランはその担当プログラムだけが"
               f"送れます。反映しません（偽のメッセージの疑い）"),
    (r"(\w+) from (\w+) names plan (\S+), which (\w+) proposed: ",
     lambda m: f"{m[2]} からの {m[1]} が {m[4]} のプラン {m[3]} を名乗っています。プランの再提出・終結の依頼は担当"
               f"プログラムだけができます。反映しません（偽のメッセージの疑い）"),
    (r"(\w+) from (\w+) names plan (\S+) as (\w+)'s: ",
     lambda m: f"{m[2]} からの {m[1]} がプラン {m[3]} を {m[4]} のものとしています。プランはその担当プログラムだけが"
               f"送れます。反映しません（偽のメッセージの疑い）"),
    (r"(\w+) for case (\S+) names plan (\S+) of case (\S+): ",
     lambda m: f"ケース {m[2]} についての {m[1]} が、別のケース {m[4]} のプラン {m[3]} を名乗っています。反映しません"),
    (r"(\w+) from (\w+) for case (\S+) proposes plan (\S+) for a case \w+ never announced holding \(no (\w+) for it\)",
     lambda m: f"{m[2]} からの {m[1]} は、{m[2]} が担当を始めた（{m[5]}）ことのないケース {m[3]} のプラン {m[4]} です。"
               f"プランは担当しているケースについてだけ提出できます。反映しません（偽のメッセージの疑い）"),
    (r"replayed on (\S+), but its Jusou-Original-Subject header says (\S+): not applied",
     lambda m: f"再送の件名 {m[1]} と元の件名ヘッダー {m[2]} が一致しません。反映しません"),
    (r"replay failed (\d+) times; last error ",
     lambda m: f"再処理が {m[1]} 回失敗しました。最後のエラーは英語の理由のとおりです"),
    (r"failed (\d+) times; last error ",
     lambda m: f"{m[1]} 回処理に失敗しました。最後のエラーは英語の理由のとおりです"),
))


def japanese(reason: str) -> str | None:
    """The Japanese of a reason Jusou writes (None: not one of ours, shown as it is)."""
    for pattern, render in KNOWN:
        found = pattern.match(reason)
        if found:
            return render(found)
    return None


def bilingual(reason: str) -> str:
    """Japanese, then the English reason as recorded (alone when it is not one of ours)."""
    ja = japanese(reason)
    return f"{ja}\n{reason}" if ja else reason
