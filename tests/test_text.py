"""Display names a teacher can trust and CSV cells a spreadsheet will not run (tutor.store.text, issue 13)."""

from __future__ import annotations

import pytest

from tutor.store.text import (
    MAX_DISPLAY_NAME,
    clean_display_name,
    distinct_names,
    look_alike_key,
    name_key,
    neutralise_cell,
    restore_cell,
)


def test_names_are_nfc_with_single_spaces() -> None:
    assert clean_display_name("  Jose\u0301   Mari\u0301a\t") == "José María"
    assert clean_display_name("José") == clean_display_name("Jose\u0301")


@pytest.mark.parametrize(
    "char",
    ["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200b", "\u200d", "\ufeff", "\x00", "\x1b",
     "\u2028", "\ue000"],
)  # fmt: skip
def test_invisible_and_control_characters_are_removed(char: str) -> None:
    assert clean_display_name(f"Ada{char}Lovelace") == "AdaLovelace"


def test_names_are_bounded_and_never_empty() -> None:
    assert len(clean_display_name("x" * 10_000)) == MAX_DISPLAY_NAME
    assert clean_display_name("\u202e \u200b") == "Learner"
    assert clean_display_name("\u202e", fallback="") == ""


def test_the_same_person_typing_differently_is_one_key() -> None:
    assert name_key(" ada  LOVELACE ") == name_key("Ada Lovelace") == name_key("Ada\u200b Lovelace")


def test_look_alike_letters_fold_together() -> None:
    assert look_alike_key("\u0410nna") == look_alike_key("Anna") == look_alike_key("ＡＮＮＡ")
    assert look_alike_key("Anna") != look_alike_key("Anne")


def test_only_names_that_look_alike_get_a_tag() -> None:
    labels = distinct_names([("id-1", "Anna"), ("id-2", "\u0410nna"), ("id-3", "Bob"), ("id-4", "anna\u202e")])
    assert labels["id-3"] == "Bob"
    tagged = [labels[i] for i in ("id-1", "id-2", "id-4")]
    assert len(set(tagged)) == 3 and all(" #" in label for label in tagged)
    assert distinct_names([("id-1", "Anna")]) == {"id-1": "Anna"}
    assert distinct_names([("id-1", "Anna"), ("id-2", "Anna")])["id-1"] == labels["id-1"]  # stable tags


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1+cmd", "@SUM(A1)", "\t=1", "\r=1", "'=1", "'quoted"])
def test_formula_cells_are_neutralised_and_round_trip(value: str) -> None:
    cell = neutralise_cell(value)
    assert cell.startswith("'")
    assert restore_cell(cell) == value


@pytest.mark.parametrize("value", ["Ada", "1+1", "", "a=b", 3, -1, 2.5, None])
def test_harmless_cells_are_left_alone(value) -> None:
    assert neutralise_cell(value) == value
    if isinstance(value, str):
        assert restore_cell(value) == value
