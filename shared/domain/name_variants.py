"""旧字体・異体字 in names, folded for search (HC's review, session 20): a person is registered as their ID card writes
them (「國分寺 髙橋 𠮷子」), and the counter types the form its keyboard gives (「国分寺 高橋 吉子」). Searching and the
same-person check (services/intake/people.py) compare names folded here, so either finds the other; the name shown and
stored is always as it was registered.

`fold_variants` maps each variant of the table to the form commonly typed and drops variation selectors (IVS/SVS: 葛󠄀,
the glyph chosen by a selector after the character). Run it after NFKC, which already folds the CJK compatibility
ideographs that have a decomposition (神 U+FA19, 塚 U+FA10); those without one (﨑 U+FA11) are in the table. Folding a
name too far only offers a candidate more to choose from: staff see both names and decide (D1 D2)."""

from __future__ import annotations

import re

#: variant → the form typed; pairs of characters, each variant once (names: surnames and given names)
_PAIRS = (
    "髙高 﨑崎 嵜崎 碕崎 𠮷吉 邊辺 邉辺 澤沢 濱浜 濵浜 櫻桜 廣広 國国 圀国 實実 德徳 惠恵 藏蔵 眞真 壽寿 榮栄 來来 學学"
    " 龍竜 齋斎 齊斉 瀨瀬 槇槙 曾曽 舘館 嶋島 嶌島 峯峰 冨富 兒児 亞亜 淺浅 將将 淸清 靜静 萬万 彌弥 豐豊 禮礼 黑黒"
    " 縣県 邨村 舩船 桒桑 穗穂 團団 莊荘 會会 關関 鐵鉄 條条 堯尭 瑤瑶 凜凛 遙遥 檜桧 淵渕 寳宝 寶宝 晉晋 靑青 戶戸"
    " 卷巻 嶽岳 檢検 增増 淨浄 稻稲 逹達 驛駅 樂楽 壯壮 聰聡 顯顕 巖巌 廸迪 莖茎 髮髪 搜捜 與与 譽誉 豫予 鷗鴎"
    " 祕秘 禪禅 瀧滝 攝摂 繪絵 絲糸 濟済 穰穣 讓譲 氣気 兩両 圓円 薗園"
)
VARIANTS: dict[str, str] = {pair[0]: pair[1] for pair in _PAIRS.split()}
_TABLE = str.maketrans(VARIANTS)
_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def fold_variants(text: str) -> str:
    """`text` with each 旧字体・異体字 of the table as the form typed, and no variation selector."""
    return _SELECTORS.sub("", text).translate(_TABLE)
