"""The case tag and thread root: what the notifier writes, the inbound side reads back."""

from __future__ import annotations

import re

import pytest

from mail.tag import (
    DEFAULT_CASE_TAG_FORMAT,
    case_tag,
    check_tag_format,
    find_case_number,
    tag_pattern,
    thread_root,
    thread_root_number,
)


def test_the_default_tag() -> None:
    assert DEFAULT_CASE_TAG_FORMAT == "[Case #{number}]"
    assert case_tag(12) == "[Case #12]"
    assert find_case_number("[Case #12] Received: Exports fail") == 12


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        ("Re: [Case #12] Received: Exports fail", 12),
        ("AW: WG: [case #12] Received", 12),  # clients that lower-case or translate prefixes
        ("RE: [CASE  #12]", 12),
        ("[Case # 12]", None),  # no space in the format there
        ("Re:[Case#12]still failing", 12),
        ("[Case #12] about [Case #3]", 12),  # the first tag: ours comes first
        ("Exports fail [Case #7]", 7),
        ("[Case #123456789012345678]", 123456789012345678),
        ("[Case #1234567890123456789] [Case #5]", 5),  # too long to be a case
        ("[Case #0] [Case #007]", 7),
        ("Exports fail", None),
        ("[Case 12]", None),
        ("[Case #]", None),
        ("[Case #0]", None),
        ("[Case #12x]", None),
        ("[Case #12", None),
        ("Case #12]", None),
    ],
)
def test_finding_the_default_tag(subject: str, number: int | None) -> None:
    assert find_case_number(subject) == number


@pytest.mark.parametrize(
    ("fmt", "tag", "subjects"),
    [
        ("Ticket {number}:", "Ticket 12:", {"Re: ticket 12: x": 12, "Ticket 123: x": 123}),
        ("Case {number}", "Case 12", {"Re: case 12 again": 12, "showcase 3": None, "Case 12a": 12}),
        ("{{T-{number}}}", "{T-12}", {"Re: {t-12}": 12, "{T-12": None}),
        ("{number}-ticket", "12-ticket", {"re: 12-ticket x": 12, "12-tickets": None}),
        ("(#{number})", "(#12)", {"Re: x (#12)": 12, "(#1.2)": None}),
    ],
)
def test_other_formats_round_trip(fmt: str, tag: str, subjects: dict[str, int | None]) -> None:
    assert case_tag(12, fmt) == tag
    assert find_case_number(f"Re: {tag} title", fmt) == 12
    for subject, number in subjects.items():
        assert find_case_number(subject, fmt) == number, subject


def test_the_pattern_is_what_a_parser_compiles_as_it_is() -> None:
    pattern = re.compile(tag_pattern())
    assert pattern.groups == 1
    found = pattern.search("Re: [case #4] Received: x")
    assert found is not None and found.group(1) == "4"
    # A parser may join it into a larger expression: it keeps its flag to itself.
    assert re.search(f"^Re: {tag_pattern()} X$", "Re: [CASE #4] X")
    assert not re.search(f"{tag_pattern()} X$", "[Case #4] x")
    # Every tag is found, to be cut from a title, even one no case can have.
    assert pattern.sub("", "[Case #" + "9" * 5000 + "] huge [case #0]").strip() == "huge"


@pytest.mark.parametrize(
    "fmt",
    [
        "[Case]",
        "{number}",
        "  {number} ",
        "[Case #{number}] {number}",
        "[Case #{n}]",
        "[Case #{number:05d}]",
        "[Case #{number!r}]",
        "[Case #{number}] {other}",
        "[Case #{number}}",
        "[Case #{number}]\r\nBcc: x@example.com",
    ],
)
def test_a_bad_format_is_refused_with_its_reason(fmt: str) -> None:
    with pytest.raises(ValueError, match="case tag format"):
        check_tag_format(fmt)
    with pytest.raises(ValueError):
        case_tag(1, fmt)


def test_the_thread_root() -> None:
    assert thread_root(12) == "case-12@tierline"
    assert thread_root_number("case-12@tierline") == 12
    assert thread_root_number("<case-12@tierline>") == 12
    for other in (
        "case-12@tierline.example",
        "xcase-12@tierline",
        "case-0@tierline",
        "case-@tierline",
    ):
        assert thread_root_number(other) is None
