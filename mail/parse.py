"""One received mail, raw bytes in, `InboundMail` out: what the gateway needs, nothing decided.

Pure: no network, no database, no clock. `parse_mail` never raises on any bytes (a mail
that cannot be read is kept and reported by the gateway, never dropped): every header is
read on its own, a header that the email package refuses is read from its raw text, and
what went wrong is listed in `problems`. Only a bad `tag_pattern` (configuration) raises.

Libraries: the standard `email` package parses; `inscriptis` turns HTML into text;
`mail-parser-reply` finds where a reply's new text ends. Their regular expressions
backtrack badly on some shapes (100,000 newlines: minutes), so `_reply` bounds what it
hands them; see there.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from mailparser_reply.parser import EmailMessage as ReplyParser
from pydantic import BaseModel, ConfigDict, Field

NO_SUBJECT = "(no subject)"
DEFAULT_TAG = r"\[Case #(\d+)\]"


class MailAttachment(BaseModel):
    """A part kept as an attachment; stored by `sha256` by the gateway."""

    # bytes travel as base64 in JSON (a Temporal payload, a stored record), not as UTF-8.
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    filename: str
    declared_type: str
    sniffed_type: str | None
    size: int
    sha256: str
    data: bytes = Field(repr=False)

    @property
    def content_type(self) -> str:
        """The type to store and serve: the sniffed one where the declared one is generic."""
        if self.declared_type in GENERIC_TYPES and self.sniffed_type is not None:
            return self.sniffed_type
        return self.declared_type


class InboundMail(BaseModel):
    """What one received mail says, decoded; the gateway decides what it does."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    message_id: str | None = Field(description="Without angle brackets; None when absent.")
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...] = Field(description="Oldest first, as the header lists them.")
    subject: str = Field(description="Decoded, on one line; '' when absent.")
    sender: str | None = Field(description="The From address, lower-cased.")
    sender_name: str | None = Field(description="The From display name, decoded.")
    return_path: str | None = Field(
        description="'' for the null reverse-path `<>` (a bounce); None without the header."
    )
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None = Field(description="Aware; None when absent or unreadable.")
    case_number: int | None = Field(description="From the case tag in the subject.")
    title: str = Field(description="The subject without the tag and reply prefixes.")
    text: str = Field(description="The whole body as plain text, safe for the API.")
    reply: str = Field(description="`text` without quoted history and signature.")
    severity: str | None = Field(description="A `Severity:` line's value, unchecked.")
    automatic: str | None = Field(description="Why this is an auto-reply, bounce or list mail.")
    attachments: tuple[MailAttachment, ...]
    refusals: tuple[str, ...] = Field(description="Attachments refused, one reason each.")
    problems: tuple[str, ...] = Field(description="Defects found while parsing.")


def parse_mail(
    raw: bytes,
    *,
    max_attachment_bytes: int,
    max_attachments: int,
    allowed_types: frozenset[str] | None = None,
    tag_pattern: str = DEFAULT_TAG,
) -> InboundMail:
    """Parse one mail as received over SMTP (headers and body, CRLF or LF).

    `tag_pattern` finds the case tag in the subject; its first group is the case number.
    Attachments larger than `max_attachment_bytes`, beyond the first `max_attachments`
    kept, of a type outside `allowed_types` (when given; the sniffed type counts when the
    declared one is generic), or executable-looking with a declared type that the bytes
    contradict are refused and named in `refusals`.

    `automatic` is set (the first reason that applies) when the mail must never open a
    case nor be answered, so that two robots cannot talk to each other forever:
    - `Auto-Submitted` with any value but `no` (RFC 3834: auto-replied, auto-generated);
    - `Precedence: bulk`, `list` or `junk` (the pre-RFC 3834 convention);
    - `X-Auto-Response-Suppress` with any value (Exchange and Outlook set it on their
      automatic mail, out-of-office replies included), `X-Autoreply` or `X-Autorespond`
      (vacation programs);
    - `List-Id` or `List-Unsubscribe` (RFC 2919, 2369: mail from a mailing list);
    - a null return path, `Return-Path: <>` (RFC 5321: bounces and other notifications);
    - a sender whose local part is `mailer-daemon` or `postmaster` (bounces from MTAs
      that set no null return path);
    - `Content-Type: multipart/report` (RFC 6522: delivery and read reports).
    """
    tag = re.compile(tag_pattern)  # a bad pattern is configuration: it raises
    try:
        return _parse(raw, max_attachment_bytes, max_attachments, allowed_types, tag)
    except Exception as error:  # a bug must not drop the mail: the gateway keeps the bytes
        return _unreadable(f"{UNREADABLE}: {type(error).__name__}: {error}")


UNREADABLE = "the message could not be parsed"


def _unreadable(problem: str) -> InboundMail:
    return InboundMail(
        message_id=None,
        in_reply_to=(),
        references=(),
        subject="",
        sender=None,
        sender_name=None,
        return_path=None,
        to=(),
        cc=(),
        date=None,
        case_number=None,
        title=NO_SUBJECT,
        text="",
        reply="",
        severity=None,
        automatic=None,
        attachments=(),
        refusals=(),
        problems=(_one_line(problem)[:300],),
    )


def _parse(
    raw: bytes,
    max_attachment_bytes: int,
    max_attachments: int,
    allowed_types: frozenset[str] | None,
    tag: re.Pattern[str],
) -> InboundMail:
    problems: list[str] = []
    try:
        message = message_from_bytes(raw, policy=policy.default)
    except RecursionError:  # the parser recurses per level of multipart nesting
        problems.append("MIME parts nested too deeply to parse: the body is read as it is")
        message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    headers = _Headers(message, problems)
    parts = _leaves(message, problems)
    text = _body_text(parts, problems)
    subject = headers.subject()
    case_number, title = _title(subject, tag)
    from_name, from_address = headers.sender()
    return_path = headers.return_path()
    attachments, refusals = _attachments(
        parts, max_attachment_bytes, max_attachments, allowed_types, problems
    )
    return InboundMail(
        message_id=next(iter(_message_ids(headers.raw("message-id"))), None),
        in_reply_to=tuple(_message_ids(headers.raw("in-reply-to"))),
        references=tuple(_message_ids(headers.raw("references"))),
        subject=subject,
        sender=from_address,
        sender_name=from_name,
        return_path=return_path,
        to=tuple(address for _, address in headers.addresses("to")),
        cc=tuple(address for _, address in headers.addresses("cc")),
        date=headers.date(),
        case_number=case_number,
        title=title,
        text=text,
        reply=_reply(text),
        severity=_severity(text),
        automatic=_automatic(headers, from_address, return_path, _content_type(message)),
        attachments=tuple(attachments),
        refusals=tuple(refusals),
        problems=tuple(dict.fromkeys(_one_line(p)[:300] for p in problems))[:_MAX_PROBLEMS],
    )


_MAX_PROBLEMS = 100

# -- text ------------------------------------------------------------------------------

# The API's rule (api/text.py): C0 controls but tab, LF and CR; DEL; C1; lone surrogates.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _unescape(value: str) -> str:
    """Raw 8-bit header bytes (kept by the parser as surrogate escapes) read as UTF-8."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value  # a lone surrogate that is no escape: _CONTROL drops it


def _clean_text(value: str) -> str:
    value = _unescape(value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", value)


def _one_line(value: str) -> str:
    return " ".join(_LINE_CONTROL.sub(" ", _unescape(value)).split())


def _decode_words(value: str) -> str:
    """RFC 2047 encoded-words decoded; the value as it is when they are broken."""
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


# -- headers ---------------------------------------------------------------------------


class _Headers:
    """Each header read on its own, so one the email package refuses spoils nothing else."""

    def __init__(self, message: Message, problems: list[str]) -> None:
        self.message = message
        self.problems = problems
        self.raw_values: dict[str, str] = {}
        for name, value in message.raw_items():
            key = str(name).strip().lower()
            if key not in self.raw_values:
                self.raw_values[key] = str(value)

    def raw(self, name: str) -> str | None:
        """The first such header's text, unfolded, as received (encoded-words left)."""
        value = self.raw_values.get(name)
        if value is None:
            return None
        return re.sub(r"\r?\n", " ", re.sub(r"\r?\n(?=[ \t])", "", value))

    def parsed(self, name: str) -> Any:
        try:
            header = self.message[name]
        except Exception as error:
            self.problems.append(f"{name}: unreadable ({type(error).__name__}: {error})")
            return None
        for defect in getattr(header, "defects", ()):
            self.problems.append(f"{name}: {_describe(defect)}")
        return header

    def subject(self) -> str:
        header = self.parsed("subject")
        if header is not None:
            return _one_line(str(header))
        raw = self.raw("subject")
        return _one_line(_decode_words(raw)) if raw is not None else ""

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, lower-cased address) of each plain local@domain mailbox."""
        found: list[tuple[str, str]] = []
        header = self.parsed(name)
        try:
            for address in getattr(header, "addresses", ()):
                found.append((str(address.display_name), str(address.addr_spec)))
        except Exception as error:
            self.problems.append(f"{name}: unreadable ({type(error).__name__}: {error})")
            found = []
        result = _mailboxes(found)
        if not result and (raw := self.raw(name)) is not None:
            try:
                found = [(_decode_words(n), a) for n, a in getaddresses([_unescape(raw)])]
            except Exception:
                found = []
            result = _mailboxes(found)
        return result

    def sender(self) -> tuple[str | None, str | None]:
        for display, address in self.addresses("from"):
            return display or None, address
        return None, None

    def return_path(self) -> str | None:
        raw = self.raw("return-path")
        if raw is None:
            return None
        return _one_line(raw).strip("<> ").lower()

    def date(self) -> datetime | None:
        found: datetime | None = None
        header = self.parsed("date")
        try:
            found = getattr(header, "datetime", None)
        except Exception:
            found = None
        if not isinstance(found, datetime) and (raw := self.raw("date")) is not None:
            try:
                found = parsedate_to_datetime(raw)
            except Exception:
                found = None
        if not isinstance(found, datetime):
            return None
        # RFC 5322's `-0000` ("UTC, local zone unknown") parses without a zone.
        return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


# A plain local@domain: what a mailbox that can be a contact looks like (a quoted local
# part, legal but rare, is left out with the garbage that a broken header parses into).
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"\\@]+@[^\s<>()\[\],;:\"\\@]+")


def _mailboxes(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    result = []
    for display, address in found:
        address = _one_line(address).lower()
        if _ADDRESS.fullmatch(address):
            result.append((_one_line(display), address))
    return result


def _describe(defect: object) -> str:
    detail = str(defect)
    return f"{type(defect).__name__}: {detail}" if detail else type(defect).__name__


_MESSAGE_ID = re.compile(r"<([^<>]*)>")


def _message_ids(raw: str | None) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References header, without brackets."""
    if raw is None:
        return []
    value = _one_line(raw)
    found = _MESSAGE_ID.findall(value) or value.split()
    ids = ("".join(part.split()) for part in found)
    return [one for one in ids if one]


_PREFIX = re.compile(r"^\s*(?:re|fwd?|aw|wg|sv)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*", re.IGNORECASE)


def _title(subject: str, tag: re.Pattern[str]) -> tuple[int | None, str]:
    """The case number in the first tag, and the subject without tags and reply prefixes."""
    case_number = None
    found = tag.search(subject)
    if found is not None:
        try:
            case_number = int(found.group(1) if tag.groups else found.group())
        except (ValueError, TypeError):  # not digits, or more than int() reads
            case_number = None
    title = tag.sub(" ", subject).strip()
    while (stripped := _PREFIX.sub("", title, count=1)) != title:
        title = stripped
    return case_number, " ".join(title.split()) or NO_SUBJECT


def _automatic(
    headers: _Headers, from_address: str | None, return_path: str | None, content_type: str
) -> str | None:
    """Why the mail is automatic (see parse_mail), or None."""
    auto_submitted = headers.raw("auto-submitted")
    if auto_submitted is not None:
        value = _one_line(auto_submitted).split(";")[0].strip().lower()
        if value != "no":
            return f"Auto-Submitted: {value or '(empty)'}"
    precedence = _one_line(headers.raw("precedence") or "").lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    for name, shown in (
        ("x-auto-response-suppress", "X-Auto-Response-Suppress"),
        ("x-autoreply", "X-Autoreply"),
        ("x-autorespond", "X-Autorespond"),
        ("list-id", "List-Id"),
        ("list-unsubscribe", "List-Unsubscribe"),
    ):
        if headers.raw(name) is not None:
            return f"{shown} header"
    if return_path == "":
        return "null return path (<>)"
    if from_address is not None:
        local = from_address.rpartition("@")[0]
        if local in ("mailer-daemon", "postmaster"):
            return f"sent by {local}"
    if content_type == "multipart/report":
        return "multipart/report (a delivery or read report)"
    return None


# -- parts -----------------------------------------------------------------------------

_MAX_PARTS = 1000
_MAX_DEPTH = 50


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _leaves(message: Message, problems: list[str]) -> list[Message]:
    """The parts that hold content, in order; a message/* part is one leaf, not opened."""
    leaves: list[Message] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > _MAX_PARTS:
            problems.append(f"more than {_MAX_PARTS} MIME parts: the rest are ignored")
            break
        where = "message" if part is message else f"part {seen} ({_content_type(part)})"
        for defect in getattr(part, "defects", ()):
            problems.append(f"{where}: {_describe(defect)}")
        children = part.get_payload() if part.is_multipart() else None
        if not isinstance(children, list) or _content_type(part).startswith("message/"):
            leaves.append(part)
        elif depth >= _MAX_DEPTH:
            problems.append(f"{where}: nested deeper than {_MAX_DEPTH} levels: not read")
        else:
            stack.extend(
                (child, depth + 1) for child in reversed(children) if isinstance(child, Message)
            )
    return leaves


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    return _decode_words(str(name)) if name is not None else None


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    return disposition == "attachment" or _filename(part) is not None


def _payload(part: Message) -> bytes:
    """The part's bytes, transfer encoding undone; a message/* part as its raw text."""
    if _content_type(part).startswith("message/"):
        inner = part.get_payload()
        chunks = inner if isinstance(inner, list) else [inner]
        return b"".join(
            c.as_bytes(policy=policy.compat32) if isinstance(c, Message) else str(c).encode()
            for c in chunks
        )
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _charset_text(data: bytes, part: Message, problems: list[str]) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    if charset:
        try:
            if codecs.lookup(charset)._is_text_encoding:  # not base64, zlib, ...
                return data.decode(charset, "replace")
        except Exception:
            pass
        problems.append(f"unknown charset {_one_line(charset)[:40]!r}: read as UTF-8")
        return data.decode("utf-8", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # 8-bit text with no charset: most often Windows-1252
        return data.decode("cp1252", "replace")


# The strict profile renders as a browser does (the relaxed one indents every <div>);
# links keep their address, which a customer often sends on purpose.
_HTML = ParserConfig(css=CSS_PROFILES["strict"], display_links=True)
# "[https://x](https://x)", "[a@b](mailto:a@b)": an address shown as its own link, once.
_SELF_LINK = re.compile(r"\[([^\]\n]{1,2000})\]\((?:mailto:)?\1\)")


def _kind(part: Message) -> str:
    kind = _content_type(part)
    # A multipart whose boundary is missing stays one part: its raw text is all there is.
    return "multipart" if kind.startswith("multipart/") else kind


def _body_text(parts: list[Message], problems: list[str]) -> str:
    """The text/plain parts that are no attachment, else the text/html ones as text."""
    for kind in ("text/plain", "text/html", "multipart"):
        texts = []
        for part in parts:
            if _kind(part) != kind or _is_attachment(part):
                continue
            try:
                text = _charset_text(_payload(part), part, problems)
            except Exception as error:
                problems.append(f"a {kind} part could not be decoded: {error}")
                continue
            if kind == "text/html":
                try:
                    text = _SELF_LINK.sub(r"\1", get_text(_CONTROL.sub("", text), _HTML))
                except Exception as error:
                    problems.append(f"a text/html part could not be read: {error}")
                    continue
            texts.append(_clean_text(text).strip("\n"))
        joined = "\n\n".join(text for text in texts if text.strip())
        if joined:
            return joined
    return ""


# -- reply and severity ----------------------------------------------------------------

REPLY_LANGUAGES = ["en", "de"]
# mail-parser-reply's patterns backtrack: time grows with the square of a run of blank
# lines (100,000 newlines: 9 minutes) and of a line's length for lines starting like a
# header ("On ...", "Am ... schrieb"). So it reads at most the first _REPLY_SCAN
# characters, with runs of blank lines cut to two, and lines longer than _REPLY_LINE
# split by _WRAP (private-use characters, so the split parts are not seen as line starts
# and are joined back exactly). Worst case found: 0.6 s; a real reply: milliseconds.
_REPLY_SCAN = 20_000
_REPLY_LINE = 256
_MARK = "\ue000"
_WRAP = f"{_MARK}\n{_MARK}"
_BLANK_RUN = re.compile(r"\n(?:[^\S\n]*\n){3,}")


def _reply(text: str) -> str:
    """The new text of a reply: before the quoted history, without the signature.

    A text whose first _REPLY_SCAN characters hold no quoted history is the reply whole.
    """
    scanned = _BLANK_RUN.sub("\n\n\n", text.replace(_MARK, ""))
    truncated = len(scanned) > _REPLY_SCAN
    lines = scanned[:_REPLY_SCAN].split("\n")
    wrapped = "\n".join(
        _WRAP.join(line[i : i + _REPLY_LINE] for i in range(0, len(line), _REPLY_LINE))
        for line in lines
    )
    parsed = ReplyParser(text=wrapped, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True)
    replies = parsed.read().replies
    if truncated and len(replies) == 1:
        return text.strip("\n")
    if not replies or replies[0].headers:  # the text starts with the quoted history
        return ""
    content = _before_signature(str(replies[0].content), parsed.SIGNATURE_REGEX)
    content = _before_disclaimer(content, parsed.DISCLAIMERS_REGEX)
    body = content.replace(_WRAP, "").replace(_MARK, "").strip()
    return _without_trailing_quote(_indented(body, lines))


# The library cuts at any line that starts with a closing word ("Thanks, that fixed it.
# But ..." loses all after "Thanks,"). A signature it finds is taken when it opens with
# a delimiter ("-- ", underscores), a "Sent from my ..." line, or a line holding only a
# closing of up to three words ("Thanks,", "Best regards", "Mit freundlichen Grüßen").
_CLOSING = re.compile(r"[^\W\d_]+(?:[ \t]+[^\W\d_]+){0,2}[ \t]*[,.!]*")
_SENT_FROM = re.compile(r"(?:sent from|get outlook|gesendet von)\b", re.IGNORECASE)


def _before_signature(content: str, signature: re.Pattern[str]) -> str:
    start = 0
    for _ in range(20):  # each search reads to the end: a bounded number of them
        found = signature.search(content, start)
        if found is None:
            return content
        opening = found.start() + len(found.group()) - len(found.group().lstrip())
        first = re.sub(r"^(?:> ?)*", "", content[opening:].split("\n", 1)[0]).strip()
        first = first.replace(_MARK, "")
        if first.startswith(("--", "__")) or _SENT_FROM.match(first) or _CLOSING.fullmatch(first):
            return content[: found.start()]
        start = content.find("\n", opening)
        if start < 0:
            return content
    return content


def _before_disclaimer(content: str, disclaimer: re.Pattern[str]) -> str:
    """Without a disclaimer that ends the text (the library drops them anywhere)."""
    found = list(disclaimer.finditer(content))
    if found and not content[found[-1].end() :].strip():
        return content[: found[-1].start()]
    return content


def _indented(body: str, lines: list[str]) -> str:
    """The library strips every line; give each its original indentation back."""
    restored, start = [], 0
    for line in body.split("\n"):
        for index in range(start, min(start + 50, len(lines))):
            if lines[index].strip() == line:
                restored.append(lines[index].rstrip())
                start = index + 1
                break
        else:
            restored.append(line)
    return "\n".join(restored)


def _without_trailing_quote(body: str) -> str:
    """Drop `>` quoted lines at the end, which the library keeps (no header above them)."""
    lines = body.split("\n")
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    return "\n".join(lines).strip("\n")


_SEVERITY = re.compile(r"^[^\S\n]*severity[^\S\n]*:([^\n]*)$", re.IGNORECASE | re.MULTILINE)


def _severity(text: str) -> str | None:
    for found in _SEVERITY.finditer(text):
        value = found.group(1).strip()
        if value:
            return value
    return None


# -- attachments -----------------------------------------------------------------------

GENERIC_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/x-download",
        "application/force-download",
        "application/download",
        "application/unknown",
        "application/binary",
        "binary/octet-stream",
    }
)
EXECUTABLE_TYPES = frozenset(
    {
        "application/vnd.microsoft.portable-executable",
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-msdos-program",
        "application/x-ms-dos-executable",
        "application/x-executable",
        "application/x-elf",
        "application/x-sharedlib",
        "application/x-mach-binary",
    }
)
EXECUTABLE_EXTENSIONS = frozenset(
    "exe dll scr com pif bat cmd msi msp cpl jar js jse vbs vbe wsf wsh ps1 psm1 hta lnk reg "
    "sh app apk dmg".split()
)
# Declared types the sniffer recognises: bytes that are not of the kind contradict them.
_SNIFFABLE = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/gif", "application/zip", "text/plain"}
)
_ZIP_FAMILY = frozenset(
    {
        "application/x-zip-compressed",
        "application/x-zip",
        "application/java-archive",
        "application/vnd.android.package-archive",
    }
)
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def sniff(data: bytes) -> str | None:
    """The type the first bytes show, for the kinds that are cheap to tell; else None."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "application/zip"
    if head.startswith(b"MZ") and _BINARY_BYTES.search(head):  # "MZ" opening a text is text
        return "application/vnd.microsoft.portable-executable"
    if head.startswith(b"\x7fELF"):
        return "application/x-executable"
    if head.startswith((b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe")):
        return "application/x-mach-binary"
    if head.startswith(b"\xcf\xfa\xed\xfe"):
        return "application/x-mach-binary"
    if head and not _BINARY_BYTES.search(head):
        return "text/plain"
    return None


def _compatible(declared: str, sniffed: str) -> bool:
    if declared == sniffed or declared in GENERIC_TYPES:
        return True
    if sniffed == "application/zip":
        return (
            declared in _ZIP_FAMILY
            or declared.endswith("+zip")
            or declared.startswith(("application/vnd.openxmlformats", "application/vnd.oasis"))
        )
    if sniffed == "text/plain":
        return declared.startswith("text/") or declared.endswith(("json", "xml", "javascript"))
    if sniffed == "image/jpeg":
        return declared in ("image/jpg", "image/pjpeg")
    if sniffed in EXECUTABLE_TYPES:
        return declared in EXECUTABLE_TYPES
    return False


def _contradicted(declared: str, sniffed: str | None) -> bool:
    if declared in GENERIC_TYPES:
        return False
    if sniffed is None:
        return declared in _SNIFFABLE
    return not _compatible(declared, sniffed)


def sanitize_filename(name: str | None, content_type: str) -> str:
    """The last path segment, one line without control or format characters, ≤ 200 chars."""
    name = _unescape(name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = re.sub(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]", "", name)
    name = re.sub(r"[\ud800-\udfff]", "", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        name = "message.eml" if content_type == "message/rfc822" else "attachment"
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 20:
            name = f"{stem[: 199 - len(extension)]}.{extension}"
        else:
            name = name[:200]
    return name


def _attachments(
    parts: list[Message],
    max_bytes: int,
    max_count: int,
    allowed_types: frozenset[str] | None,
    problems: list[str],
) -> tuple[list[MailAttachment], list[str]]:
    kept: list[MailAttachment] = []
    refusals: list[str] = []
    allowed = None if allowed_types is None else {t.lower() for t in allowed_types}
    for part in parts:
        if not _is_attachment(part):
            continue  # a bounce's report or a forwarded mail shown inline is no file
        declared = _content_type(part)
        name = sanitize_filename(_filename(part), declared)
        try:
            data = _payload(part)
        except Exception as error:
            problems.append(f'attachment "{name}" could not be decoded: {error}')
            continue
        sniffed = sniff(data)
        effective = sniffed if declared in GENERIC_TYPES and sniffed else declared
        extension = name.rpartition(".")[2].lower() if "." in name else ""
        executable = sniffed in EXECUTABLE_TYPES or extension in EXECUTABLE_EXTENSIONS
        if len(data) > max_bytes:
            refusals.append(
                f'"{name}" is {len(data):,} bytes, more than the limit of {max_bytes:,}'
            )
        elif executable and _contradicted(declared, sniffed):
            shown = sniffed or "something else"
            refusals.append(f'"{name}" is declared as {declared} but its content is {shown}')
        elif allowed is not None and effective not in allowed:
            refusals.append(f'"{name}": the type {effective} is not accepted')
        elif len(kept) >= max_count:
            refusals.append(f'"{name}": only {max_count} attachments are kept per mail')
        else:
            kept.append(
                MailAttachment(
                    filename=name,
                    declared_type=declared,
                    sniffed_type=sniffed,
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    data=data,
                )
            )
    return kept, refusals
