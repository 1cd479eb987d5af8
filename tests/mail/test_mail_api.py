"""The e-mail door through the API: the unmatched list with accept and discard, a case's
attachments and its mail thread, each with the roles of the case itself."""

from __future__ import annotations

import json
from pathlib import Path

from mail.intake import APPLIED, DISCARDED, HELD
from tests.api.conftest import Api
from tests.cli.conftest import Cli, cli  # noqa: F401
from tests.mail.conftest import MailDoor, mail


async def test_held_mail_is_listed_for_staff_and_accepted_into_a_case(
    api: Api, gateway: MailDoor
) -> None:
    held = await gateway.deliver(
        mail("Need help", "Our invoices are wrong.", sender="Nia <nia@acme.example>"),
        "nia@acme.example",
    )
    assert held.status == HELD
    listed = await api.bob.get("/mail", params={"status": "held"})
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["items"]] == [held.id]
    assert (await api.ann.get("/mail")).status_code == 403
    assert (await api.ada.get(f"/mail/{held.id}")).status_code == 403
    shown = (await api.bob.get(f"/mail/{held.id}")).json()
    assert shown["text"].strip() == "Our invoices are wrong."

    accepted = await api.bob.post(f"/mail/{held.id}/accept", json={"organisation": "acme"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == APPLIED
    number = accepted.json()["case_number"]
    case = (await api.bob.get(f"/cases/{number}")).json()
    assert case["details"]["title"] == "Need help"
    assert case["details"]["contact"]["email"] == "nia@acme.example"
    contacts = (await api.admin.get("/organisations/acme")).json()["contact_emails"]
    assert "nia@acme.example" in contacts
    again = await api.bob.post(f"/mail/{held.id}/accept", json={"organisation": "acme"})
    assert again.status_code == 409

    # Now a contact: the next mail goes straight to a case.
    direct = await gateway.deliver(
        mail("Another", "Hi again.", sender="nia@acme.example"), "nia@acme.example"
    )
    assert direct.status == APPLIED


async def test_held_mail_is_discarded_and_stays_listed(api: Api, gateway: MailDoor) -> None:
    held = await gateway.deliver(
        mail("Win a prize", "Click.", sender="spam@spam.example"), "spam@spam.example"
    )
    discarded = await api.bob.post(f"/mail/{held.id}/discard")
    assert discarded.json()["status"] == DISCARDED
    assert (
        await api.bob.post(f"/mail/{held.id}/accept", json={"organisation": "acme"})
    ).status_code == 409
    unknown = await api.bob.post(
        f"/mail/{held.id}/accept", json={"organisation": "nope", "case": 1}
    )
    assert unknown.status_code == 409


async def test_attachments_are_the_case_organisations_alone(api: Api, gateway: MailDoor) -> None:
    message = mail("Crash log", "Attached.", sender="ann@acme.example")
    message.add_attachment(
        b"%PDF-1.4 crash", maintype="application", subtype="pdf", filename="crash.pdf"
    )
    row = await gateway.deliver(message, "ann@acme.example")
    number = row.case_number
    listed = (await api.ann.get(f"/cases/{number}/attachments")).json()
    assert [(a["filename"], a["size"]) for a in listed] == [("crash.pdf", len(b"%PDF-1.4 crash"))]
    download = await api.ann.get(f"/cases/{number}/attachments/{listed[0]['id']}")
    assert download.status_code == 200
    assert download.content == b"%PDF-1.4 crash"
    assert download.headers["content-disposition"] == 'attachment; filename="crash.pdf"'
    assert download.headers["x-content-type-options"] == "nosniff"
    assert (await api.bob.get(f"/cases/{number}/attachments")).status_code == 200
    # Another organisation's customer: the case does not exist for them.
    assert (await api.gus.get(f"/cases/{number}/attachments")).status_code == 404
    assert (await api.gus.get(f"/cases/{number}/attachments/{listed[0]['id']}")).status_code == 404

    thread = (await api.ann.get(f"/cases/{number}/mail")).json()
    assert [(m["direction"], m["subject"]) for m in thread][:1] == [("in", "Crash log")]
    assert (await api.gus.get(f"/cases/{number}/mail")).status_code == 404


async def test_the_cli_lists_downloads_and_shows_the_thread(
    api: Api,
    gateway: MailDoor,
    cli: Cli,  # noqa: F811 (the CLI tests' fixture)
    tmp_path: Path,
) -> None:
    message = mail("Crash log", "Attached.", sender="ann@acme.example")
    message.add_attachment(
        b"%PDF-1.4 cli", maintype="application", subtype="pdf", filename="cli.pdf"
    )
    row = await gateway.deliver(message, "ann@acme.example")
    number = str(row.case_number)
    listed = await cli("ann", "cases", "attachments", number, "--json")
    assert listed.exit_code == 0, listed.output
    (item,) = json.loads(listed.stdout)
    target = tmp_path / "downloaded.pdf"
    fetched = await cli("ann", "cases", "attachment", number, str(item["id"]), "-o", str(target))
    assert fetched.exit_code == 0, fetched.output
    assert target.read_bytes() == b"%PDF-1.4 cli"
    thread = await cli("bob", "cases", "mail", number)
    assert thread.exit_code == 0, thread.output
    assert "Crash log" in thread.stdout and "ann@acme.example" in thread.stdout
    refused = await cli("gus", "cases", "attachments", number)
    assert refused.exit_code == 1 and "404" in refused.stderr


async def test_the_cli_lists_accepts_and_discards_held_mail(
    api: Api,
    gateway: MailDoor,
    cli: Cli,  # noqa: F811 (the CLI tests' fixture)
) -> None:
    first = await gateway.deliver(
        mail("Hi", "Help.", sender="ola@acme.example"), "ola@acme.example"
    )
    second = await gateway.deliver(mail("Buy", "Now.", sender="x@spam.example"), "x@spam.example")
    listed = await cli("bob", "mail", "unmatched", "--json")
    assert listed.exit_code == 0, listed.output
    assert {m["id"] for m in json.loads(listed.stdout)["items"]} == {first.id, second.id}
    accepted = await cli("bob", "mail", "accept", str(first.id), "--org", "acme")
    assert accepted.exit_code == 0, accepted.output
    assert "applied: case" in accepted.stdout
    discarded = await cli("bob", "mail", "discard", str(second.id))
    assert discarded.exit_code == 0 and "discarded" in discarded.stdout
    refused = await cli("ann", "mail", "unmatched")
    assert refused.exit_code == 1 and "403" in refused.stderr
