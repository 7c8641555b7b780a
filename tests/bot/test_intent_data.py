"""Reading labelled utterances from CSV: text plus an intent, label or category column."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.intents.data import read_csv


def write(tmp_path: Path, content: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "intents.csv"
    path.write_text(content, encoding=encoding)
    return path


@pytest.mark.parametrize("column", ["intent", "label", "category", "Intent", " LABEL "])
def test_the_label_column_may_be_intent_label_or_category(tmp_path: Path, column: str) -> None:
    path = write(tmp_path, f"text,{column}\nwhere is my parcel,shipping\nrefund please,refund\n")

    examples = read_csv(path)

    assert examples.texts == ["where is my parcel", "refund please"]
    assert examples.labels == ["shipping", "refund"]


def test_intent_wins_when_several_label_columns_exist(tmp_path: Path) -> None:
    path = write(tmp_path, "category,text,intent\nbilling,refund please,refund\n")

    assert read_csv(path).labels == ["refund"]


@pytest.mark.parametrize("label", ["", "  ", "oos", "OOS", " Oos "])
def test_empty_or_oos_label_marks_out_of_scope(tmp_path: Path, label: str) -> None:
    path = write(tmp_path, f'text,intent\ntell me a joke,"{label}"\nrefund please, refund \n')

    assert read_csv(path).labels == ["oos", "refund"]


def test_a_missing_label_cell_is_out_of_scope(tmp_path: Path) -> None:
    path = write(tmp_path, "text,intent\nsing me a song\nrefund please,refund\n")

    assert read_csv(path).labels == ["oos", "refund"]


def test_rows_without_text_are_skipped_and_text_is_stripped(tmp_path: Path) -> None:
    path = write(tmp_path, "text,intent\n  where is my parcel  ,shipping\n,refund\n   ,refund\n")

    examples = read_csv(path)

    assert (examples.texts, examples.labels) == (["where is my parcel"], ["shipping"])


def test_byte_order_mark_quotes_and_chinese_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, '\ufefftext,intent\n"我要退货, 谢谢",退货\n"say ""hi""",greet\n')

    examples = read_csv(path)

    assert examples.texts == ["我要退货, 谢谢", 'say "hi"']
    assert examples.labels == ["退货", "greet"]


def test_a_missing_text_column_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'text' column"):
        read_csv(write(tmp_path, "utterance,intent\nhello,greet\n"))


def test_a_missing_label_column_is_a_config_error_naming_the_accepted_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="intent.*label.*category"):
        read_csv(write(tmp_path, "text,topic\nhello,greet\n"))


@pytest.mark.parametrize("content", ["text,intent\n", "text,intent\n,greet\n", ""])
def test_a_file_without_rows_is_a_config_error(tmp_path: Path, content: str) -> None:
    with pytest.raises(ConfigError):
        read_csv(write(tmp_path, content))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_csv(tmp_path / "nope.csv")
