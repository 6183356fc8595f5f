"""Invented names: of places (unique within their parent) and of people. Nothing real."""

from __future__ import annotations

import numpy as np
import polars as pl

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕梅兰凤琴云莲珍雪荣爱香春花建国志文德福宝生林海波")
PLACE = list("东西南北中新青红白金石马龙凤桃柳杨松梅兰河山川湖溪泉岭坪塘湾沟岗庄集安平和兴隆福寿长乐永宁丰泰康宏盛华光明清水双")


def place_names(rng: np.random.Generator, n: int, suffixes: list[str], taken: set[str] | None = None) -> list[str]:
    """``n`` distinct two-character place names, each with a suffix from ``suffixes``."""
    taken = set(taken or ())
    out: list[str] = []
    while len(out) < n:
        a, b = rng.choice(PLACE, 2)
        name = f"{a}{b}{rng.choice(suffixes)}"
        if a != b and name not in taken:
            taken.add(name)
            out.append(name)
    return out


def person_names(rng: np.random.Generator, n: int) -> pl.Series:
    """Vectorised: surname + one or two given characters."""
    surname = pl.Series(rng.choice(SURNAMES, n))
    g1 = pl.Series(rng.choice(GIVEN, n))
    g2 = pl.Series(rng.choice(GIVEN, n))
    two = pl.Series(rng.random(n) < 0.6)
    return pl.select(pl.when(two).then(surname + g1 + g2).otherwise(surname + g1).alias("name")).to_series()
