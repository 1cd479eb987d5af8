"""The case tag in a mail's subject and the case's thread root: written by the notifier,
read by the inbound side, from one format (the `CASE_TAG_FORMAT` setting). Pure.

A format is `str.format` text with one `{number}` field and no other (`{{` and `}}` are
literal braces), around some text that is not blank: `[Case #{number}]` gives
`[Case #12]`. Reading is as lenient as mail clients are with subjects: letters match in
any case, a run of spaces in the format matches any whitespace or none, the number is
all the digits there (leading zeros allowed) and, for a format that starts or ends with
a letter or digit, a tag is not part of a longer word: `[case  #12]` is case 12, but
`showcase 3` holds no `Case {number}`.

Every mail about case n also carries `<case-n@tierline>` in References: a Message-ID no
mail has, standing for the case itself, so a reply finds its case by its headers even
when the subject lost its tag.
"""

from __future__ import annotations

import re
from functools import lru_cache
from string import Formatter

DEFAULT_CASE_TAG_FORMAT = "[Case #{number}]"
MAX_DIGITS = 18  # a case number fits a signed 64-bit column
_THREAD_ROOT = re.compile(r"<?case-([1-9][0-9]{0,17})@tierline>?")


def check_tag_format(fmt: str) -> str:
    """`fmt` if it is a usable tag format, else ValueError saying why."""
    try:
        parts = list(Formatter().parse(fmt))
    except ValueError as err:
        raise ValueError(f"case tag format {fmt!r}: {err}") from None
    fields = [(name, spec, conversion) for _, name, spec, conversion in parts if name is not None]
    if fields != [("number", "", None)]:
        raise ValueError(
            f"case tag format {fmt!r} must hold the field {{number}} once, "
            "with no format spec or conversion, and no other field"
        )
    if not "".join(literal for literal, *_ in parts).strip():
        raise ValueError(f"case tag format {fmt!r} needs some text around {{number}}")
    if any(ord(c) < 32 or ord(c) == 127 for c in fmt):
        raise ValueError(f"case tag format {fmt!r} holds a control character")
    return fmt


def case_tag(number: int, fmt: str = DEFAULT_CASE_TAG_FORMAT) -> str:
    """The tag of case `number`: `[Case #12]`."""
    return check_tag_format(fmt).format(number=number)


@lru_cache(maxsize=16)
def tag_pattern(fmt: str = DEFAULT_CASE_TAG_FORMAT) -> str:
    """A regular expression finding the tag in a subject; group 1 is the case number.
    Case-insensitive by itself (`(?i:…)`), so it can be compiled or joined as it is."""
    check_tag_format(fmt)
    before, after, seen = "", "", False
    for literal, field, _, _ in Formatter().parse(fmt):
        if seen:
            after += literal
        else:
            before += literal
        seen = seen or field is not None

    def lenient(literal: str) -> str:
        return r"\s*".join(re.escape(word) for word in re.split(r"\s+", literal))

    head = r"(?<!\w)" if before[:1].isalnum() else ""
    tail = r"(?!\w)" if after[-1:].isalnum() else ""
    return f"(?i:{head}{lenient(before)}(?<![0-9])([0-9]+)(?![0-9]){lenient(after)}{tail})"


def find_case_number(subject: str, fmt: str = DEFAULT_CASE_TAG_FORMAT) -> int | None:
    """The case number in the first tag of `subject` that can name a case (1 and up, at
    most 18 digits), or None."""
    for found in re.finditer(tag_pattern(fmt), subject):
        digits = found.group(1)
        if len(digits) <= MAX_DIGITS and int(digits) > 0:
            return int(digits)
    return None


def thread_root(number: int) -> str:
    """The Message-ID (without angle brackets) standing for case `number`'s thread."""
    return f"case-{number}@tierline"


def thread_root_number(message_id: str) -> int | None:
    """The case whose thread root `message_id` is (with or without angle brackets)."""
    found = _THREAD_ROOT.fullmatch(message_id.strip())
    return int(found.group(1)) if found else None
