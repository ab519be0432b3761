"""Learner-typed text a teacher can trust: display names and spreadsheet cells.

A display name is whatever a learner typed. Kept as typed, invisible characters (right-to-left overrides,
zero-width joiners, control characters) can make one learner's row read like another's, and look-alike
letters (Cyrillic "а" for Latin "a") can make two learners look the same. Names are cleaned when they are
stored and again when shown (rows from older versions), and the teacher's views tell apart names that
still look alike. CSV cells are neutralised the way OWASP recommends for spreadsheet formulas.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

MAX_DISPLAY_NAME = 60  # characters; a full name fits, a paragraph does not
FALLBACK_NAME = "Learner"
# Unicode categories removed from names: controls, format characters (bidi overrides and isolates,
# zero-width spaces and joiners, the BOM), surrogates, private use, unassigned; line/paragraph separators.
REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Letters that look like Latin ones in common fonts (Cyrillic and Greek), for telling names apart.
CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁԛԝһӏвкмнтгАВЕКМНОРСТХУІЈЅԌαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdqwhlbkmhtrabekmhopctxyijsgabeiknoptuxabezhikmnoptyx",
)
# OWASP "CSV injection": a cell starting with one of these may be read as a formula. The quote is there
# too so that neutralising can be undone without ambiguity.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def clean_display_name(name: str, fallback: str = FALLBACK_NAME) -> str:
    """NFC, no invisible or control characters, single spaces, at most MAX_DISPLAY_NAME characters;
    ``fallback`` when nothing visible is left."""
    name = unicodedata.normalize("NFC", str(name))
    name = "".join(" " if ch.isspace() else ch for ch in name if unicodedata.category(ch) not in REMOVED_CATEGORIES)
    name = " ".join(name.split())[:MAX_DISPLAY_NAME].strip()
    return name or fallback


def name_key(name: str) -> str:
    """Who is coming back: '  Ada  Lovelace ' and 'ada lovelace' are the same learner."""
    return clean_display_name(name).casefold()


def look_alike_key(name: str) -> str:
    """Names that a person would read as the same: case, accents, width and Cyrillic/Greek look-alikes
    folded away."""
    folded = unicodedata.normalize("NFKD", clean_display_name(name))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return folded.translate(CONFUSABLES).casefold()


def short_tag(learner_id: str) -> str:
    """A stable, short, distinguishing tag for a learner (not their secret token)."""
    return hashlib.sha256(learner_id.encode()).hexdigest()[:4]


def distinct_names(learners: Iterable[tuple[str, str]]) -> dict[str, str]:
    """(learner id, display name) pairs -> the label to show per id: the cleaned name, plus " #tag"
    where two or more learners' names look alike."""
    pairs = [(learner_id, clean_display_name(name)) for learner_id, name in learners]
    groups: dict[str, list[str]] = defaultdict(list)
    for learner_id, name in pairs:
        groups[look_alike_key(name)].append(learner_id)
    labels = {}
    for learner_id, name in pairs:
        clash = len(groups[look_alike_key(name)]) > 1
        labels[learner_id] = f"{name} #{short_tag(learner_id)}" if clash else name
    return labels


def neutralise_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will show as text, never run as a formula (OWASP: prefix a single
    quote). Numbers and empty cells are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """The inverse of neutralise_cell, for programs that read the CSV back."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value
