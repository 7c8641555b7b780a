"""Error-rate normalisation: Chinese numerals and Arabic digits score alike."""

from __future__ import annotations

import pytest

from bot.voice.metrics import cer, chinese_number, fold_numerals, normalize, wer


@pytest.mark.parametrize(
    ("numeral", "value"),
    [
        ("零", 0),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十一", 21),
        ("一百", 100),
        ("一百零五", 105),
        ("一百一", 110),
        ("三百五", 350),
        ("三百五十", 350),
        ("两千", 2000),
        ("两千五", 2500),
        ("一千零一", 1001),
        ("一千零十", 1010),
        ("一千零五十", 1050),
        ("九千九百九十九", 9999),
        ("千", 1000),
    ],
)
def test_positional_numerals_below_ten_thousand(numeral: str, value: int) -> None:
    assert chinese_number(numeral) == value


@pytest.mark.parametrize("run", ["一二", "十十", "百千", "五十五十", "两个", ""])
def test_what_is_not_one_positional_number(run: str) -> None:
    assert chinese_number(run) is None or run == ""


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("订单号一二三四", "订单号1234"),  # read digit by digit
        ("二零二四年", "2024年"),
        ("满五十美元免运费", "满50美元免运费"),
        ("两个包裹", "2个包裹"),
        ("下午两点前", "下午2点前"),
        ("一二三四五六七八九十", "12345678910"),  # counting: each numeral on its own
        ("一万", "1万"),  # 万 stays: Whisper writes 1万 as often as 10000
        ("退货", "退货"),
    ],
)
def test_fold_numerals(text: str, folded: str) -> None:
    assert fold_numerals(text) == folded


def test_both_forms_score_alike() -> None:
    assert cer("满五十美元可以免运费吗？", "满50美元可以免运费吗") == 0.0
    assert cer("订单号一二三", "订单号123") == 0.0
    assert cer("两千五百块", "2500块") == 0.0
    assert cer("三百五", "350") == 0.0
    # counting one to ten, written by Whisper as digits: only "10" heard as "0" differs
    assert cer("一二三四五六七八九十", "1234567890") == pytest.approx(1 / 11)


def test_a_wrong_number_is_still_an_error() -> None:
    assert cer("三百", "400") == pytest.approx(1 / 3)
    assert cer("两个", "3个") == pytest.approx(1 / 2)


def test_normalize_keeps_the_rest() -> None:
    assert normalize("你們的營業時間是？") == "你们的营业时间是"
    assert normalize("滿五十美元，這個訂單還沒發貨") == "满50美元 这个订单还没发货"
    assert normalize("What are  your hours?") == "what are your hours"
    assert wer("one two", "one two") == 0.0  # English number words are not folded
