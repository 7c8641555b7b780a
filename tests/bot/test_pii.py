"""Personal data detection and redaction on realistic customer messages, English and Chinese."""

from __future__ import annotations

import pytest

from bot.pii import cn_id_ok, find_pii, iban_ok, luhn_ok, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my email is jane.doe+shop@example.co.uk thanks", "my email is [EMAIL] thanks"),
        ("card 4111 1111 1111 1111 exp 12/29", "card [CARD] exp 12/29"),
        ("card 4111-1111-1111-1111", "card [CARD]"),
        ("call me on +44 20 7946 0958 after 5", "call me on [PHONE] after 5"),
        ("call (415) 555-2671 please", "call [PHONE] please"),
        ("我的手机号是13800138000，谢谢", "我的手机号是[PHONE]，谢谢"),
        ("身份证号 11010519491231002X 已提交", "身份证号 [ID] 已提交"),
        ("SSN 536-22-1234 on file", "SSN [ID] on file"),
        ("IBAN GB82 WEST 1234 5698 7654 32 for the refund", "IBAN [IBAN] for the refund"),
        ("from 192.168.10.7 yesterday", "from [IP] yesterday"),
    ],
)
def test_redacts_personal_data(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my order number is 123456789",  # an order number is not personal data
        "card 4111 1111 1111 1112",  # fails the Luhn check
        "身份证号 110105194912310021 已提交",  # wrong check digit
        "It costs $1,299 and ships in 3-5 days",
        "订单号 20241124 已发货",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert find_pii(text) == []


def test_matches_are_ordered_and_do_not_overlap() -> None:
    text = "mail a@b.io, card 5555555555554444, phone +1 415 555 2671"
    kinds = [m.kind for m in find_pii(text)]
    assert kinds == ["email", "card", "phone"]


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert cn_id_ok("11010519491231002X") and not cn_id_ok("110105194912310021")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")
