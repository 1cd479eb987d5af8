"""mail.parse: real-world shaped mails as bytes in, one InboundMail out, never an exception."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.text import bad_character
from mail.parse import UNREADABLE, InboundMail, parse_mail, sanitize_filename, sniff

LIMITS = {"max_attachment_bytes": 100_000, "max_attachments": 5}


def crlf(text: str) -> bytes:
    """A mail as an MTA hands it over: CRLF line ends, UTF-8 where the text is not ASCII."""
    return text.replace("\n", "\r\n").encode()


def parse(raw: bytes, **options: object) -> InboundMail:
    return parse_mail(raw, **{**LIMITS, **options})  # type: ignore[arg-type]


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


def attachment(filename: str, content_type: str, data: bytes) -> str:
    return (
        f"--b1\n"
        f'Content-Type: {content_type}; name="{filename}"\n'
        f'Content-Disposition: attachment; filename="{filename}"\n'
        f"Content-Transfer-Encoding: base64\n\n{b64(data)}"
    )


def with_attachments(*parts: str, body: str = "The log is attached.\n") -> bytes:
    return crlf(
        "From: Ann Example <ann@acme.example>\n"
        "To: support@tierline.example\n"
        "Subject: Export fails\n"
        "Message-ID: <att-1@acme.example>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="b1"\n\n'
        "--b1\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        f"{body}\n" + "".join(parts) + "--b1--\n"
    )


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48) + b"PE\x00\x00"

PLAIN = crlf(
    "Return-Path: <ann@acme.example>\n"
    "Received: from mail.acme.example by mx.tierline.example; Mon, 3 Mar 2025 09:00:01 +0100\n"
    "From: Ann Example <Ann@ACME.example>\n"
    "To: Support <support@tierline.example>, premier@tierline.example\n"
    "Cc: al@acme.example\n"
    "Subject:   Exports   fail\n"
    "\twith a timeout\n"
    "Date: Mon, 3 Mar 2025 09:00:00 +0100\n"
    "Message-ID:  <CAF1234.5678@mail.acme.example>  \n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=us-ascii\n\n"
    "Since this morning every export of more than 1,000 rows times out.\n"
)

ALTERNATIVE = crlf(
    "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@acme.example>\n"
    "To: support@tierline.example\n"
    "Subject: =?UTF-8?B?TGl6ZW56cHLDvGZ1bmc=?= schlägt fehl\n"
    "Date: Tue, 4 Mar 2025 14:30:00 -0000\n"
    "Message-ID: <alt-1@acme.example>\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/alternative; boundary="alt"\n\n'
    "--alt\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n\n"
    "R3LDvMOfZSBhdXMgTcO8bmNoZW4uCkRlciBFeHBvcnQgc2NobMOkZ3QgZmVobC4K\n"
    "--alt\n"
    "Content-Type: text/html; charset=utf-8\n\n"
    "<html><body><p>Gr&uuml;&szlig;e aus M&uuml;nchen.</p><p>HTML version</p></body></html>\n"
    "--alt--\n"
)

HTML_ONLY = crlf(
    "From: Ann Example <ann@acme.example>\n"
    "To: support@tierline.example\n"
    "Subject: Dashboard is blank\n"
    "Message-ID: <html-1@acme.example>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n\n"
    "<!DOCTYPE html><html><head><style>p {color: red}</style>\n"
    "<script>alert('x')</script><title>mail</title></head><body>\n"
    "<p>Hello,</p><p>the <b>dashboard</b> is blank since the update.</p>\n"
    "<ul><li>Chrome 122</li><li>Firefox 123</li></ul>\n"
    '<p>Screenshot: <a href=3D"https://files.acme.example/s.png">here</a>.=\n'
    ' Tags like &lt;div&gt; are text.</p><img src=3D"cid:logo" alt=3D"">\n'
    "</body></html>\n"
)

LATIN1_QP = (
    b"From: =?ISO-8859-1?Q?Andr=E9_Dubois?= <andre@acme.example>\r\n"
    b"To: support@tierline.example\r\n"
    b"Subject: =?ISO-8859-1?Q?Pr=FCfung_fehlgeschlagen?=\r\n"
    b"Message-ID: <qp-1@acme.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Pr=FCfung fehlgeschlagen: Gr=F6=DFe =FCberschritten.\r\n"
)

GMAIL_REPLY = crlf(
    "From: Ann Example <ann@acme.example>\n"
    "To: support@tierline.example\n"
    "Subject: Re: [Case #12] Exports fail with a timeout\n"
    "Date: Wed, 5 Mar 2025 08:12:44 +0100\n"
    "Message-ID: <CAG-reply-2@mail.gmail.com>\n"
    "In-Reply-To: <case-12-3@tierline.example>\n"
    "References: <CAF1234.5678@mail.acme.example>\n"
    " <case-12-1@tierline.example> <case-12-3@tierline.example>\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/alternative; boundary="000000000000a1b2c3"\n\n'
    "--000000000000a1b2c3\n"
    'Content-Type: text/plain; charset="UTF-8"\n\n'
    "Thanks, the restart fixed the export.\n"
    "The import still fails though:\n"
    "    at Importer.run(Importer.java:42)\n\n"
    "On Tue, 4 Mar 2025 at 17:03, Tierline Support <support@tierline.example> wrote:\n\n"
    "> Please restart the export service and tell us whether it helps.\n"
    ">\n"
    "> Tierline Support\n"
    "--000000000000a1b2c3\n"
    'Content-Type: text/html; charset="UTF-8"\n\n'
    '<div dir="ltr">Thanks, the restart fixed the export.</div><div class="gmail_quote">'
    "<blockquote>Please restart</blockquote></div>\n"
    "--000000000000a1b2c3--\n"
)


def outlook_reply(separator: str) -> bytes:
    return crlf(
        "From: Ann Example <ann@acme.example>\n"
        "To: support@tierline.example\n"
        "Subject: RE: [Case #12] Exports fail with a timeout\n"
        "Thread-Topic: [Case #12] Exports fail with a timeout\n"
        "Date: Wed, 5 Mar 2025 08:12:44 +0000\n"
        "Message-ID: <AM0PR01MB1234@eurprd01.prod.outlook.com>\n"
        "In-Reply-To: <case-12-3@tierline.example>\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Still failing after patch 4.2.1, see the new log.\n\n"
        "Best regards,\n"
        "Ann\n\n"
        f"{separator}"
        "From: Tierline Support <support@tierline.example>\n"
        "Sent: Tuesday, March 4, 2025 5:03 PM\n"
        "To: Ann Example <ann@acme.example>\n"
        "Subject: [Case #12] Exports fail with a timeout\n\n"
        "Please apply patch 4.2.1.\n"
    )


GERMAN_REPLY = crlf(
    "From: Jana Schmidt <jana@acme.example>\n"
    "To: support@tierline.example\n"
    "Subject: AW: WG: [Case #31] Lizenz abgelaufen\n"
    "Message-ID: <de-1@acme.example>\n"
    "Content-Type: text/plain; charset=utf-8; format=flowed\n"
    "Content-Transfer-Encoding: 8bit\n\n"
    "Danke, nach dem Neustart geht es wieder.\n\n"
    "Mit freundlichen Grüßen\n"
    "Jana Schmidt\n\n"
    "Am 04.03.2025 um 17:03 schrieb Tierline Support <support@tierline.example>:\n"
    "> Bitte starten Sie den Dienst neu.\n"
)

AUTO_REPLY = crlf(
    "Return-Path: <ann@acme.example>\n"
    "From: Ann Example <ann@acme.example>\n"
    "To: support@tierline.example\n"
    "Subject: Automatic reply: [Case #12] Exports fail\n"
    "Auto-Submitted: auto-replied\n"
    "Message-ID: <auto-1@acme.example>\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "I am away until Monday.\n"
)

OUT_OF_OFFICE = crlf(
    "From: Al Example <al@acme.example>\n"
    "To: support@tierline.example\n"
    "Subject: Out of Office: [Case #12] Exports fail\n"
    "X-Auto-Response-Suppress: All\n"
    "X-MS-Exchange-Inbox-Rules-Loop: al@acme.example\n"
    "Message-ID: <oof-1@acme.example>\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "I am out of the office with limited access to e-mail.\n"
)

BOUNCE = crlf(
    "Return-Path: <>\n"
    "From: MAILER-DAEMON@mx.acme.example (Mail Delivery System)\n"
    "To: support@tierline.example\n"
    "Subject: Undelivered Mail Returned to Sender\n"
    "Auto-Submitted: auto-replied\n"
    "Message-ID: <bounce-1@mx.acme.example>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=delivery-status;\n"
    '\tboundary="rep"\n\n'
    "--rep\n"
    "Content-Description: Notification\n"
    "Content-Type: text/plain; charset=us-ascii\n\n"
    "I'm sorry to have to inform you that your message could not be delivered.\n"
    "<gone@acme.example>: host mx.acme.example said: 550 5.1.1 User unknown\n"
    "--rep\n"
    "Content-Description: Delivery report\n"
    "Content-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mx.acme.example\n\n"
    "Final-Recipient: rfc822; gone@acme.example\n"
    "Action: failed\n"
    "Status: 5.1.1\n"
    "--rep\n"
    "Content-Description: Undelivered Message Headers\n"
    "Content-Type: text/rfc822-headers\n\n"
    "Message-ID: <case-12-4@tierline.example>\n"
    "Subject: [Case #12] Exports fail\n"
    "--rep--\n"
)

LIST_MAIL = crlf(
    "From: Announcements <news@vendor.example>\n"
    "To: users@lists.vendor.example\n"
    "Subject: [users] Release 5.0 is out\n"
    "List-Id: Vendor users <users.lists.vendor.example>\n"
    "List-Unsubscribe: <mailto:users-leave@lists.vendor.example>\n"
    "Precedence: list\n"
    "Message-ID: <list-1@vendor.example>\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "Release 5.0 is out.\n"
)

SAMPLES = [
    PLAIN,
    ALTERNATIVE,
    HTML_ONLY,
    LATIN1_QP,
    GMAIL_REPLY,
    outlook_reply("-----Original Message-----\n"),
    GERMAN_REPLY,
    AUTO_REPLY,
    BOUNCE,
    LIST_MAIL,
    with_attachments(attachment("report.pdf", "application/octet-stream", PDF)),
]


def safe(text: str, single_line: bool = False) -> bool:
    """What the API would accept (api/text.py's rule)."""
    return bad_character(text, single_line) is None


# -- headers ---------------------------------------------------------------------------


def test_a_plain_mail_gives_its_headers_normalised() -> None:
    mail = parse(PLAIN)
    assert mail.message_id == "CAF1234.5678@mail.acme.example"
    assert mail.in_reply_to == ()
    assert mail.references == ()
    assert mail.subject == "Exports fail with a timeout"
    assert mail.sender == "ann@acme.example"
    assert mail.sender_name == "Ann Example"
    assert mail.return_path == "ann@acme.example"
    assert mail.to == ("support@tierline.example", "premier@tierline.example")
    assert mail.cc == ("al@acme.example",)
    assert mail.date == datetime(2025, 3, 3, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    assert mail.text == "Since this morning every export of more than 1,000 rows times out."
    assert mail.reply == mail.text
    assert mail.case_number is None
    assert mail.title == "Exports fail with a timeout"
    assert mail.automatic is None
    assert mail.attachments == () and mail.refusals == () and mail.problems == ()


def test_references_and_in_reply_to_keep_their_order_across_folded_lines() -> None:
    mail = parse(GMAIL_REPLY)
    assert mail.message_id == "CAG-reply-2@mail.gmail.com"
    assert mail.in_reply_to == ("case-12-3@tierline.example",)
    assert mail.references == (
        "CAF1234.5678@mail.acme.example",
        "case-12-1@tierline.example",
        "case-12-3@tierline.example",
    )


def test_message_ids_lose_brackets_and_whitespace_and_tolerate_missing_brackets() -> None:
    mail = parse(
        crlf(
            "Message-ID: < spaced id@acme.example >\n"
            "In-Reply-To: bare-id@tierline.example\n"
            "References: <a@x> <b@x>\n\t<c@x>\n"
            "\nbody\n"
        )
    )
    assert mail.message_id == "spacedid@acme.example"
    assert mail.in_reply_to == ("bare-id@tierline.example",)
    assert mail.references == ("a@x", "b@x", "c@x")
    assert parse(crlf("Message-ID:\n\nbody\n")).message_id is None
    assert parse(crlf("Subject: x\n\nbody\n")).message_id is None


def test_encoded_words_in_subject_and_name_are_decoded() -> None:
    utf8 = parse(ALTERNATIVE)
    assert utf8.subject == "Lizenzprüfung schlägt fehl"
    assert utf8.sender_name == "Jürgen Müller"
    assert utf8.sender == "juergen@acme.example"
    latin1 = parse(LATIN1_QP)
    assert latin1.subject == "Prüfung fehlgeschlagen"
    assert latin1.sender_name == "André Dubois"


def test_raw_utf8_headers_from_clients_that_do_not_encode_are_read_as_utf8() -> None:
    mail = parse(
        crlf("From: Jürgen Müller <JUERGEN@acme.example>\nSubject: Grüße, Lizenz läuft ab\n\nx\n")
    )
    assert mail.subject == "Grüße, Lizenz läuft ab"
    assert mail.sender_name == "Jürgen Müller"
    assert mail.sender == "juergen@acme.example"


def test_dates_are_aware_or_none() -> None:
    assert parse(ALTERNATIVE).date == datetime(2025, 3, 4, 14, 30, tzinfo=UTC)  # -0000
    for value in ("garbage", "Mon, 99 Foo 99999 99:99:99 +9999", "", "31 Feb 2025 10:00 +0000"):
        assert parse(crlf(f"Date: {value}\n\nx\n")).date is None, value
    assert parse(crlf("Subject: x\n\nx\n")).date is None


def test_addresses_without_a_domain_and_empty_groups_are_left_out() -> None:
    mail = parse(
        crlf(
            "From: <>\n"
            'To: undisclosed-recipients:;, "unterminated, <ok@acme.example>\n'
            "Cc: nobody, =?utf-8?q?Al?= <AL@acme.example>\n\nx\n"
        )
    )
    assert mail.sender is None and mail.sender_name is None
    assert mail.to == ()  # the unterminated quote runs to the end and takes the address in
    assert mail.cc == ("al@acme.example",)
    assert any(problem.startswith("from:") for problem in mail.problems)


# -- case tag and title ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "number", "title"),
    [
        ("Re: [Case #12] Exports fail", 12, "Exports fail"),
        ("RE: Fwd: AW: WG: Sv: FW: Re[2]: [Case #7] Login loops", 7, "Login loops"),
        ("Exports fail [Case #12]", 12, "Exports fail"),
        ("Re: Re: [Case #12]", 12, "(no subject)"),
        ("[Case #3] and [Case #4] both", 3, "and both"),
        ("Exports fail", None, "Exports fail"),
        ("Re: Exports fail", None, "Exports fail"),
        ("Regarding exports", None, "Regarding exports"),
        ("[Case #] no number", None, "[Case #] no number"),
        ("", None, "(no subject)"),
        ("[Case #" + "9" * 5000 + "] huge", None, "huge"),
    ],
)
def test_the_case_tag_gives_the_number_and_the_title_loses_tag_and_prefixes(
    subject: str, number: int | None, title: str
) -> None:
    mail = parse(crlf(f"Subject: {subject}\n\nx\n"))
    assert (mail.case_number, mail.title) == (number, title)


def test_the_tag_pattern_is_configurable() -> None:
    raw = crlf("Subject: Re: [TL-0042] Exports fail [Case #9]\n\nx\n")
    mail = parse(raw, tag_pattern=r"\[TL-(\d+)\]")
    assert (mail.case_number, mail.title) == (42, "Exports fail [Case #9]")


def test_a_missing_subject_becomes_no_subject() -> None:
    mail = parse(crlf("From: ann@acme.example\n\nx\n"))
    assert (mail.subject, mail.title) == ("", "(no subject)")


# -- body text -------------------------------------------------------------------------


def test_multipart_alternative_takes_the_plain_part_decoded_from_base64() -> None:
    mail = parse(ALTERNATIVE)
    assert mail.text == "Grüße aus München.\nDer Export schlägt fehl."
    assert "HTML version" not in mail.text


def test_an_html_only_mail_becomes_text_without_markup() -> None:
    mail = parse(HTML_ONLY)
    assert "dashboard is blank since the update." in mail.text
    assert "Chrome 122" in mail.text and "Firefox 123" in mail.text
    assert "https://files.acme.example/s.png" in mail.text  # links are kept as text
    assert "Tags like <div> are text." in mail.text  # an entity stays what it showed
    for markup in ("<p>", "<b>", "<ul>", "<li>", "<img", "<script", "alert(", "color: red"):
        assert markup not in mail.text, markup
    assert safe(mail.text)


def test_an_empty_plain_alternative_falls_back_to_the_html() -> None:
    mail = parse(
        crlf(
            'Content-Type: multipart/alternative; boundary="a"\n\n'
            "--a\nContent-Type: text/plain\n\n\n"
            "--a\nContent-Type: text/html\n\n<p>Only <i>here</i></p>\n--a--\n"
        )
    )
    assert mail.text == "Only here"


def test_quoted_printable_latin1_is_decoded() -> None:
    assert parse(LATIN1_QP).text == "Prüfung fehlgeschlagen: Größe überschritten."


def test_control_characters_are_removed_but_tab_and_newlines_stay() -> None:
    body = "a\x00b\x07c\x1b[31md\x7fe\u0085f\tg\r\nh\rj\n"
    mail = parse(b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.encode())
    assert mail.text == "abc[31mdef\tg\nh\nj"
    assert safe(mail.text)


def test_bad_bytes_and_unknown_charsets_are_replaced_not_refused() -> None:
    bad_utf8 = parse(b"Content-Type: text/plain; charset=utf-8\r\n\r\nok \xff\xfe ok\r\n")
    assert bad_utf8.text == "ok \ufffd\ufffd ok"
    unknown = parse(b"Content-Type: text/plain; charset=x-klingon\r\n\r\nhello\r\n")
    assert unknown.text == "hello"
    assert any("x-klingon" in problem for problem in unknown.problems)
    not_text = parse(b"Content-Type: text/plain; charset=base64\r\n\r\nhello\r\n")
    assert not_text.text == "hello"
    undeclared = parse(b"Content-Type: text/plain\r\n\r\nGr\xfc\xdfe\r\n")  # 8-bit, no charset
    assert undeclared.text == "Grüße"


def test_a_multipart_without_its_boundary_keeps_its_text_and_says_so() -> None:
    mail = parse(crlf("Content-Type: multipart/mixed\n\nThe body nobody delimited.\n"))
    assert mail.text == "The body nobody delimited."
    assert any("NoBoundaryInMultipartDefect" in problem for problem in mail.problems)


def test_parse_defects_are_reported() -> None:
    mail = parse(
        crlf(
            'Content-Type: multipart/mixed; boundary="b"\n\n'
            "--b\nContent-Type: text/plain\n\nhello\n"  # no closing boundary
        )
    )
    assert mail.text == "hello"
    assert any("CloseBoundaryNotFoundDefect" in problem for problem in mail.problems)


# -- reply -----------------------------------------------------------------------------


def test_a_gmail_reply_loses_the_quoted_history_but_text_keeps_it() -> None:
    mail = parse(GMAIL_REPLY)
    assert mail.reply == (
        "Thanks, the restart fixed the export.\n"
        "The import still fails though:\n"
        "    at Importer.run(Importer.java:42)"
    )
    assert "Please restart the export service" in mail.text
    assert (mail.case_number, mail.title) == (12, "Exports fail with a timeout")


@pytest.mark.parametrize(
    "separator",
    ["-----Original Message-----\n", "________________________________\n", ""],
    ids=["original-message", "underscores", "headers-only"],
)
def test_an_outlook_reply_loses_the_history_and_the_closing(separator: str) -> None:
    mail = parse(outlook_reply(separator))
    assert mail.reply == "Still failing after patch 4.2.1, see the new log."
    assert "Please apply patch 4.2.1." in mail.text
    assert (mail.case_number, mail.title) == (12, "Exports fail with a timeout")


def html_reply(html: str) -> InboundMail:
    return parse(crlf(f"Content-Type: text/html; charset=utf-8\n\n{html}\n"))


def test_an_html_only_gmail_reply_keeps_the_new_text_and_its_links() -> None:
    mail = html_reply(
        '<div dir="ltr">It works again, see <a href="https://x.example/a">https://x.example/a</a>'
        ' and <a href="https://files.example/s.png">the screenshot</a>.</div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, 4 Mar 2025 at 17:03,'
        ' Tierline Support &lt;<a href="mailto:support@tierline.example">'
        "support@tierline.example</a>&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote"><div>Please restart.</div></blockquote></div>'
    )
    assert mail.reply == (
        "It works again, see https://x.example/a and [the screenshot](https://files.example/s.png)."
    )
    assert "Tierline Support <support@tierline.example> wrote:" in mail.text


def test_an_html_only_outlook_reply_keeps_the_new_text() -> None:
    mail = html_reply(
        "<div>Still broken.</div><hr>"
        '<div id="divRplyFwdMsg"><b>From:</b> Tierline Support &lt;support@tierline.example&gt;'
        "<br><b>Sent:</b> Tuesday, March 4, 2025 5:03 PM<br><b>To:</b> Ann<br>"
        "<b>Subject:</b> [Case #12] Exports fail</div><div>Please apply patch 4.2.1.</div>"
    )
    assert mail.reply == "Still broken."
    assert "Please apply patch 4.2.1." in mail.text


def test_a_german_reply_loses_am_schrieb_and_the_closing() -> None:
    mail = parse(GERMAN_REPLY)
    assert mail.reply == "Danke, nach dem Neustart geht es wieder."
    assert (mail.case_number, mail.title) == (31, "Lizenz abgelaufen")


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        ("Here is the log.\n\n> Could you send the log?\n> Thanks\n", "Here is the log."),
        ("The export works again.\n\n-- \nAnn Example\nAcme Corp\n", "The export works again."),
        ("Works now.\n\nSent from my iPhone\n", "Works now."),
        ("Works now.\n\nThanks,\nAnn\n", "Works now."),
        (
            "Hello,\nThanks, that worked. But the import fails now.\nError 42.\n",
            "Hello,\nThanks, that worked. But the import fails now.\nError 42.",
        ),
        (
            "Hello,\nWarning: the mail queue is stuck since 9:00.\nPlease help.\n",
            "Hello,\nWarning: the mail queue is stuck since 9:00.\nPlease help.",
        ),
        (
            "Steps:\n- open the report\n- click export\nIt fails.\n",
            "Steps:\n- open the report\n- click export\nIt fails.",
        ),
        (
            "It works.\n\nDisclaimer: This e-mail is confidential. If you got this mail in error,"
            " delete it.\n",
            "It works.",
        ),
        (
            "> Which version?\n4.2.1\n> Which OS?\nDebian 12\n",
            "> Which version?\n4.2.1\n> Which OS?\nDebian 12",
        ),
        ("On Tue, 4 Mar 2025 at 17:03, Support <s@t.example> wrote:\n> Restart it.\n", ""),
        ("> only a quote\n", ""),
    ],
    ids=[
        "quote-below",
        "dash-dash-signature",
        "sent-from",
        "closing-line",
        "thanks-in-a-sentence",
        "warning-about-mail",
        "bullet-list",
        "trailing-disclaimer",
        "interleaved-answers",
        "nothing-new",
        "only-a-quote",
    ],
)
def test_reply_shapes(body: str, reply: str) -> None:
    mail = parse(crlf(f"Content-Type: text/plain; charset=utf-8\n\n{body}"))
    assert mail.reply == reply


def test_reply_parsing_is_bounded_on_shapes_that_make_the_library_backtrack() -> None:
    bodies = [
        "\n" * 100_000,  # the library alone: minutes
        "On " * 20_000,
        ("Am " + " schrieb " * 30 + "\n") * 120,
        "x\n" + "Thanks, x\n" * 5_000,
    ]
    for body in bodies:
        started = time.perf_counter()
        parse(crlf(f"Content-Type: text/plain\n\n{body}"))
        assert time.perf_counter() - started < 10, repr(body[:20])


def test_a_long_reply_without_history_is_kept_whole() -> None:
    body = "\n".join(f"line {i}: " + "x" * 60 for i in range(600))  # > the scanned prefix
    mail = parse(crlf(f"Content-Type: text/plain\n\n{body}\n"))
    assert mail.reply == mail.text == body


def test_long_lines_are_split_for_the_library_and_joined_back_exactly() -> None:
    line = " ".join(f"w{i}" for i in range(400))  # 1,889 characters, one line
    body = f"{line}\n  indented\n\nOn Tue, 4 Mar 2025, Support <s@t.example> wrote:\n> x\n"
    assert parse(crlf(f"Content-Type: text/plain\n\n{body}")).reply == f"{line}\n  indented"


# -- severity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "severity"),
    [
        ("Severity: high\nThe database is down.\n", "high"),
        ("The database is down.\n  SEVERITY :  Critical  \n", "Critical"),
        ("severity:\nSeverity: 2\n", "2"),
        ("The severity: high is what I would pick.\n", None),
        ("No severity here.\n", None),
    ],
)
def test_a_severity_line_is_read(body: str, severity: str | None) -> None:
    assert parse(crlf(f"Content-Type: text/plain\n\n{body}")).severity == severity


def test_a_severity_line_in_an_html_mail_is_read() -> None:
    html = "<p>Severity: <b>high</b></p><p>The database is down.</p>"
    assert parse(crlf(f"Content-Type: text/html\n\n{html}\n")).severity == "high"


# -- automatic mail --------------------------------------------------------------------


def test_an_auto_reply_is_automatic() -> None:
    assert parse(AUTO_REPLY).automatic == "Auto-Submitted: auto-replied"


def test_an_out_of_office_with_x_auto_response_suppress_is_automatic() -> None:
    assert parse(OUT_OF_OFFICE).automatic == "X-Auto-Response-Suppress header"


def test_a_bounce_is_automatic_and_its_report_is_no_attachment() -> None:
    mail = parse(BOUNCE)
    assert mail.automatic is not None
    assert mail.return_path == ""
    assert mail.sender == "mailer-daemon@mx.acme.example"
    assert "User unknown" in mail.text
    assert mail.attachments == ()


def test_a_mailing_list_mail_is_automatic() -> None:
    assert parse(LIST_MAIL).automatic == "Precedence: list"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-generated; owner-email=x@y", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: No", None),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: first-class", None),
        ("X-Auto-Response-Suppress: DR, RN, NRN, OOF", "X-Auto-Response-Suppress header"),
        ("X-Autoreply: yes", "X-Autoreply header"),
        ("List-Id: <users.lists.vendor.example>", "List-Id header"),
        ("List-Unsubscribe: <https://vendor.example/u>", "List-Unsubscribe header"),
        ("Return-Path: <>", "null return path (<>)"),
        ("Return-Path: < >", "null return path (<>)"),
        ("From: Mailer-Daemon@mx.example", "sent by mailer-daemon"),
        ("From: postmaster@acme.example", "sent by postmaster"),
        (
            'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
            "multipart/report (a delivery or read report)",
        ),
        ("From: daemon-fan@acme.example", None),
    ],
)
def test_each_automatic_rule(headers: str, reason: str | None) -> None:
    base = "" if headers.startswith("From:") else "From: ann@acme.example\n"
    mail = parse(crlf(f"{base}{headers}\nSubject: x\n\nbody\n"))
    assert mail.automatic == reason


# -- attachments -----------------------------------------------------------------------


def test_an_attachment_within_the_limits_is_kept_with_its_digest() -> None:
    mail = parse(with_attachments(attachment("report.pdf", "application/pdf", PDF)))
    assert mail.text == "The log is attached."
    assert mail.refusals == ()
    (kept,) = mail.attachments
    assert kept.filename == "report.pdf"
    assert kept.declared_type == "application/pdf"
    assert kept.sniffed_type == "application/pdf"
    assert kept.content_type == "application/pdf"
    assert kept.size == len(PDF)
    assert kept.sha256 == hashlib.sha256(PDF).hexdigest()
    assert kept.data == PDF


def test_an_attachment_over_the_size_limit_is_refused() -> None:
    big = b"%PDF-1.7\n" + bytes(200_000)
    mail = parse(
        with_attachments(
            attachment("small.pdf", "application/pdf", PDF),
            attachment("dump.pdf", "application/pdf", big),
        )
    )
    assert [kept.filename for kept in mail.attachments] == ["small.pdf"]
    assert mail.refusals == ('"dump.pdf" is 200,009 bytes, more than the limit of 100,000',)


def test_attachments_beyond_the_count_limit_are_refused() -> None:
    parts = [attachment(f"log{i}.txt", "text/plain", b"line\n") for i in range(4)]
    mail = parse(with_attachments(*parts), max_attachments=2)
    assert [kept.filename for kept in mail.attachments] == ["log0.txt", "log1.txt"]
    assert mail.refusals == (
        '"log2.txt": only 2 attachments are kept per mail',
        '"log3.txt": only 2 attachments are kept per mail',
    )


def test_a_pdf_declared_as_octet_stream_is_sniffed_and_allowed_as_a_pdf() -> None:
    raw = with_attachments(attachment("report.pdf", "application/octet-stream", PDF))
    mail = parse(raw, allowed_types=frozenset({"application/pdf", "image/png"}))
    (kept,) = mail.attachments
    assert (kept.declared_type, kept.sniffed_type) == (
        "application/octet-stream",
        "application/pdf",
    )
    assert kept.content_type == "application/pdf"


def test_an_exe_declared_as_an_image_is_refused() -> None:
    mail = parse(with_attachments(attachment("holiday.exe", "image/png", EXE)))
    assert mail.attachments == ()
    assert mail.refusals == (
        '"holiday.exe" is declared as image/png but its content is '
        "application/vnd.microsoft.portable-executable",
    )
    # Executable by name, though the bytes are not recognisably anything: still refused.
    garbage = parse(with_attachments(attachment("setup.exe", "image/png", bytes(range(256)))))
    assert garbage.refusals == (
        '"setup.exe" is declared as image/png but its content is something else',
    )


def test_honest_or_harmless_declarations_are_kept() -> None:
    mail = parse(
        with_attachments(
            attachment("tool.exe", "application/octet-stream", EXE),  # generic: no claim
            attachment("logo.png", "image/png", PNG),
            attachment("photo.png", "image/jpeg", PNG),  # mislabelled, not executable
            attachment("run.sh", "text/x-shellscript", b"#!/bin/sh\necho hi\n"),
        )
    )
    assert mail.refusals == ()
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("tool.exe", "application/vnd.microsoft.portable-executable"),
        ("logo.png", "image/png"),
        ("photo.png", "image/jpeg"),
        ("run.sh", "text/x-shellscript"),
    ]


def test_types_outside_the_allowed_ones_are_refused() -> None:
    mail = parse(
        with_attachments(
            attachment("logo.png", "image/png", PNG),
            attachment("tool.bin", "application/octet-stream", EXE),
        ),
        allowed_types=frozenset({"image/png", "application/pdf"}),
    )
    assert [a.filename for a in mail.attachments] == ["logo.png"]
    assert mail.refusals == (
        '"tool.bin": the type application/vnd.microsoft.portable-executable is not accepted',
    )


def test_filenames_are_sanitised() -> None:
    raw = crlf(
        'Content-Type: multipart/mixed; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain\n\nsee attached\n"
        "--b1\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=UTF-8''..%2F..%2Fetc%2Fp%C3%A4sswd.pdf\n\n"
        "%PDF-1.4\n"
        '--b1\nContent-Type: application/pdf; name="=?UTF-8?B?UHLDvGZ1bmcucGRm?="\n\n'
        "%PDF-1.4\n"
        "--b1\nContent-Type: application/octet-stream\nContent-Disposition: attachment\n\n"
        "data\n"
        "--b1--\n"
    )
    mail = parse(raw)
    assert [a.filename for a in mail.attachments] == ["pässwd.pdf", "Prüfung.pdf", "attachment"]
    assert mail.text == "see attached"
    assert sanitize_filename("C:\\Users\\ann\\report.pdf", "application/pdf") == "report.pdf"
    assert sanitize_filename("in\x00voice\u202egpj.exe", "image/jpeg") == "invoicegpj.exe"
    assert sanitize_filename(" ..  ", "application/pdf") == "attachment"
    assert sanitize_filename(None, "message/rfc822") == "message.eml"
    long = sanitize_filename("a" * 300 + ".pdf", "application/pdf")
    assert len(long) == 200 and long.endswith(".pdf")
    assert len(sanitize_filename("b" * 300, "text/plain")) == 200


def test_a_forwarded_mail_attached_is_kept_as_an_eml() -> None:
    inner = "From: x@y.example\nSubject: original\n\noriginal text\n"
    raw = crlf(
        'Content-Type: multipart/mixed; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain\n\nforwarding this\n"
        f"--b1\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n{inner}"
        "--b1--\n"
    )
    mail = parse(raw)
    assert mail.text == "forwarding this"
    (kept,) = mail.attachments
    assert kept.filename == "message.eml" and b"original text" in kept.data


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"PK\x03\x04\x14\x00", "application/zip"),
        (EXE, "application/vnd.microsoft.portable-executable"),
        (b"\x7fELF\x02\x01\x01", "application/x-executable"),
        (b"MZ is how the page starts.\n", "text/plain"),
        ("Grüße, Größe\n".encode("latin-1"), "text/plain"),
        (bytes(range(32)), None),
        (b"", None),
    ],
)
def test_sniffing(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


# -- the model -------------------------------------------------------------------------


def test_the_model_is_frozen_and_round_trips_through_json() -> None:
    mail = parse(with_attachments(attachment("logo.png", "image/png", PNG)))
    with pytest.raises(ValidationError):
        mail.title = "changed"  # type: ignore[misc]
    again = InboundMail.model_validate_json(mail.model_dump_json())
    assert again == mail
    assert again.attachments[0].data == PNG


def test_a_bad_tag_pattern_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match="missing"):
        parse(PLAIN, tag_pattern=r"\[Case #(\d+\]")


# -- never raises ----------------------------------------------------------------------


def assert_usable(mail: InboundMail) -> None:
    assert isinstance(mail, InboundMail)
    assert not any(problem.startswith(UNREADABLE) for problem in mail.problems), mail.problems
    assert mail.title and safe(mail.title, single_line=True)
    assert safe(mail.subject, single_line=True)
    assert safe(mail.text) and safe(mail.reply)
    assert mail.date is None or mail.date.tzinfo is not None
    for kept in mail.attachments:
        assert safe(kept.filename, single_line=True) and 0 < len(kept.filename) <= 200
        assert "/" not in kept.filename and "\\" not in kept.filename


FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.binary(max_size=4000))
def test_binary_garbage_gives_a_mail(raw: bytes) -> None:
    assert_usable(parse(raw))


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_truncated_real_mails_give_a_mail(sample: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(sample)))
    assert_usable(parse(sample[:cut]))


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=8)), max_size=6),
)
def test_damaged_real_mails_give_a_mail(sample: bytes, edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(sample)
    for position, replacement in edits:
        at = position % (len(raw) + 1)
        raw[at : at + len(replacement)] = replacement
    assert_usable(parse(bytes(raw)))


HEADERISH = st.lists(
    st.sampled_from(
        [
            "From: ",
            "To: ",
            "Subject: ",
            "Date: ",
            "Message-ID: ",
            "References: ",
            "Content-Type: ",
            "multipart/mixed; boundary=",
            '"b"',
            "text/html",
            "message/rfc822",
            "Content-Transfer-Encoding: ",
            "base64",
            "quoted-printable",
            "charset=",
            "utf-7",
            "filename*=UTF-8''",
            "%C3%A4",
            "=?utf-8?b?",
            "=?iso-8859-1?q?",
            "?=",
            "<",
            ">",
            "@",
            ",",
            ";",
            ":",
            '"',
            "\\",
            "(",
            ")",
            "\r\n",
            "\r\n\r\n",
            "\r\n ",
            "--b",
            "--b--",
            "=FC",
            "=\r\n",
            "\x00",
            "\xff",
            "é",
            "<p>",
            "On x wrote:",
            "> ",
            "[Case #1]",
        ]
    ),
    max_size=80,
).map(lambda tokens: "".join(tokens).encode("utf-8", "surrogateescape"))


@FUZZ
@given(HEADERISH)
def test_header_shaped_garbage_gives_a_mail(raw: bytes) -> None:
    assert_usable(parse(raw))


@pytest.mark.parametrize("depth", [60, 5000])
def test_deeply_nested_multiparts_give_a_mail(depth: int) -> None:
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    mail = parse(crlf("Subject: [Case #5] deep\n" + opening + "Content-Type: text/plain\n\nx\n"))
    assert_usable(mail)
    assert mail.case_number == 5
    assert any("nested" in problem for problem in mail.problems)
