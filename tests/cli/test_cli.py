"""`tierline` against the running API: output people read, problem documents, exit codes."""

from __future__ import annotations

import asyncio
import json

from cli.main import app
from tests.cli.conftest import Cli, runner

OPEN_ACME_CASE = (
    "cases",
    "open",
    "--org",
    "acme",
    "--company",
    "Acme Corp",
    "--contact-name",
    "Ann Example",
    "--contact-email",
    "ann@acme.example",
    "--title",
    "Exports fail with a timeout",
    "--details",
    "Every export of more than 1,000 rows times out.",
    "--severity",
    "critical",
)


async def open_case(cli: Cli) -> int:
    opened = await cli("ann", *OPEN_ACME_CASE, "--json")
    assert opened.exit_code == 0, opened.output
    number: int = json.loads(opened.stdout)["number"]
    return number


async def test_open_show_list_and_act(cli: Cli) -> None:
    opened = await cli("ann", *OPEN_ACME_CASE, "--idempotency-key", "cli-1")
    assert opened.exit_code == 0, opened.output
    assert "opened tier2" in opened.stdout
    again = await cli("ann", *OPEN_ACME_CASE, "--idempotency-key", "cli-1", "--json")
    number = json.loads(again.stdout)["number"]
    assert f"Case {number} opened" in opened.stdout

    shown = await cli("bob", "cases", "show", str(number))
    assert shown.exit_code == 0, shown.output
    assert "Exports fail with a timeout" in shown.stdout
    assert "SLA clocks" in shown.stdout
    clock_rows = [line for line in shown.stdout.splitlines() if "first_response" in line]
    assert len(clock_rows) == 1
    assert "running" in clock_rows[0] and "10m" in clock_rows[0] and "UTC" in clock_rows[0]
    assert "+00:00" in clock_rows[0]  # the plan's calendar is UTC: due_local

    listed = await cli("bob", "cases", "list", "--org", "acme", "--status", "tier2")
    assert listed.exit_code == 0, listed.output
    assert "Exports fail with a timeout" in listed.stdout
    assert "1-1 of 1" in listed.stdout
    nothing = await cli("bob", "cases", "list", "--q", "refund", "--json")
    assert json.loads(nothing.stdout)["total"] == 0

    assigned = await cli("bob", "cases", "assign", str(number), "bob")
    assert assigned.exit_code == 0, assigned.output
    assert f"Case {number} is now tier2" in assigned.stdout
    assert "assignee bob" in assigned.stdout
    escalated = await cli(
        "bob", "cases", "escalate", str(number), "--tier", "3", "--reason", "needs a fix"
    )
    assert "is now tier3" in escalated.stdout, escalated.output

    timeline = await cli("ada", "cases", "timeline", str(number))
    assert timeline.exit_code == 0, timeline.output
    assert "assigned (internal)" in timeline.stdout
    assert "needs a fix" in timeline.stdout
    queue = await cli("tia", "cases", "queue", "3", "--json")
    assert [item["number"] for item in json.loads(queue.stdout)] == [number]


async def test_refusal_is_printed_with_its_reason_and_exits_1(cli: Cli) -> None:
    number = await open_case(cli)
    refused = await cli("ann", "cases", "confirm", str(number))
    assert refused.exit_code == 1
    assert "409" not in refused.stdout
    assert "Not allowed in the current state (409)" in refused.stderr
    assert "only a resolved case can be confirmed" in refused.stderr
    no_rca = await cli("bob", "cases", "resolve", str(number), "--summary", "done")
    assert no_rca.exit_code == 1
    assert "root-cause analysis" in no_rca.stderr

    bad_email = [arg.replace("ann@acme.example", "not-an-email") for arg in OPEN_ACME_CASE]
    invalid = await cli("ann", *bad_email)
    assert invalid.exit_code == 1
    assert "Invalid request (422)" in invalid.stderr
    assert "body.contact.email: value is not a valid email address" in invalid.stderr
    assert invalid.stderr.count("body.contact.email") == 1
    # Bad usage never reaches the API and exits 2.
    usage = await cli("bob", "cases", "escalate", str(number), "--tier", "5", "--reason", "x")
    assert usage.exit_code == 2
    missing = await cli("bob", "cases", "show", "9999")
    assert missing.exit_code == 1
    assert "case 9999 does not exist" in missing.stderr


async def test_admin_sets_up_organisations_users_and_tokens(cli: Cli) -> None:
    created = await cli(
        "admin",
        "orgs",
        "create",
        "initech",
        "--name",
        "Initech",
        "--plan",
        "short-sla:fast",
        "--contact-email",
        "bill@initech.example",
        "--contact-email",
        "peter@initech.example",
        "--dedicated-engineer",
        "eng@tierline.example",
    )
    assert created.exit_code == 0, created.output
    assert "Created organisation initech" in created.stdout
    shown = await cli("admin", "orgs", "show", "initech", "--json")
    assert json.loads(shown.stdout)["contact_emails"] == [
        "bill@initech.example",
        "peter@initech.example",
    ]
    user = await cli(
        "admin", "users", "create", "pat", "--name", "Pat", "--role", "customer", "--org", "initech"
    )
    assert user.exit_code == 0, user.output
    assert "Created user pat (customer of initech)" in user.stdout
    agent = await cli(
        "admin", "users", "create", "al", "--name", "Al", "--role", "agent", "--tier", "1"
    )
    assert "(agent, tiers 1)" in agent.stdout, agent.output
    listed = await cli("admin", "users", "list")
    rows = [[cell.strip() for cell in line.split("│")] for line in listed.stdout.splitlines()]
    assert ["", "pat", "Pat", "customer", "initech", "—", "—", ""] in rows

    issued = await cli("admin", "tokens", "create", "pat", "--label", "laptop")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    assert token.startswith("tl_") and "shown once" in issued.stderr
    cli.tokens["pat"] = token
    assert (await cli("pat", "cases", "list")).exit_code == 0
    tokens = json.loads((await cli("admin", "tokens", "list", "pat", "--json")).stdout)
    assert [row["label"] for row in tokens] == ["laptop"]
    revoked = await cli("admin", "tokens", "revoke", str(tokens[0]["id"]))
    assert revoked.exit_code == 0, revoked.output
    assert f"Revoked token {tokens[0]['id']} of pat" in revoked.stdout
    refused = await cli("pat", "cases", "list")
    assert refused.exit_code == 1
    assert "Authentication required (401)" in refused.stderr


async def test_a_tierless_agent_or_a_role_outside_the_five_is_refused(cli: Cli) -> None:
    tierless = await cli("admin", "users", "create", "al", "--name", "Al", "--role", "agent")
    assert tierless.exit_code == 1
    assert "Invalid request (422)" in tierless.stderr
    assert "body.tiers: an agent works at least one tier: give 1, 2 and/or 3" in tierless.stderr
    # A single error is printed once, not as the detail and again as its field line.
    assert tierless.stderr.count("an agent works at least one tier") == 1
    system = await cli("admin", "users", "create", "sy", "--name", "Sy", "--role", "system")
    assert system.exit_code == 1
    assert (
        "body.role: system is Tierline's own actor for timers and automatic events, not a "
        "user's role; a user's role is one of customer, agent, release_manager, auditor, admin"
    ) in system.stderr
    listed = json.loads((await cli("admin", "users", "list", "--json")).stdout)
    assert not {"al", "sy"} & {user["id"] for user in listed}


async def test_customers_may_not_administer(cli: Cli) -> None:
    listed = await cli("ann", "users", "list")
    assert listed.exit_code == 1
    assert "Not allowed for your role (403)" in listed.stderr
    assert "a customer may not do this" in listed.stderr
    created = await cli("ann", "orgs", "create", "x", "--name", "X", "--plan", "short-sla:fast")
    assert created.exit_code == 1
    assert "(403)" in created.stderr


def test_unreachable_api_exits_1() -> None:
    result = runner.invoke(app, ["cases", "--api", "http://127.0.0.1:9", "--token", "tl_x", "list"])
    assert result.exit_code == 1
    assert "Cannot reach the API at http://127.0.0.1:9" in result.stderr


async def test_release_manager_links_and_ships_from_the_cli(cli: Cli) -> None:
    number = await open_case(cli)
    escalated = await cli(
        "bob", "cases", "escalate", str(number), "--tier", "3", "--reason", "code fix"
    )
    assert escalated.exit_code == 0, escalated.output
    planned = await cli("rex", "releases", "plan", "4.5.1", "--kind", "hotfix")
    assert planned.exit_code == 0, planned.output
    linked = await cli("rex", "releases", "link", "4.5.1", str(number))
    assert str(number) in linked.stdout
    notes = await cli("rex", "releases", "notes", "4.5.1")
    assert f"case {number} (acme)" in notes.stdout
    refused = await cli("bob", "releases", "ship", "4.5.1")
    assert refused.exit_code == 1
    assert "Not allowed for your role" in refused.stderr
    shipped = await cli("rex", "releases", "ship", "4.5.1", "--json")
    assert json.loads(shipped.stdout)["status"] == "shipped"


async def test_notices_send_list_show(cli: Cli) -> None:
    outage = (
        "notices", "send", "--kind", "scheduled_outage", "--title", "Weekend maintenance",
        "--body", "Database upgrade.", "--starts-at", "2026-12-05T06:00:00Z",
        "--ends-at", "2026-12-05T10:00:00Z", "--org", "acme",
        "--idempotency-key", "cli-outage", "--json",
    )  # fmt: skip
    sent = await cli("bob", *outage)
    assert sent.exit_code == 0, sent.output
    notice = json.loads(sent.stdout)
    assert notice["organisations"] == ["acme"]
    again = await cli("bob", *outage)
    assert json.loads(again.stdout)["id"] == notice["id"]

    listed = await cli("ann", "notices", "list")
    assert "Weekend maintenance" in listed.stdout
    assert "1-1 of 1" in listed.stdout
    assert "0-0 of 0" in (await cli("gus", "notices", "list")).stdout
    shown = await cli("ann", "notices", "show", str(notice["id"]))
    assert "Window: 2026-12-05 06:00 UTC to 2026-12-05 10:00 UTC" in shown.stdout
    hidden = await cli("gus", "notices", "show", str(notice["id"]))
    assert hidden.exit_code == 1
    assert "Not found" in hidden.stderr

    bad = await cli(
        "admin", "notices", "send", "--kind", "scheduled_outage", "--title", "x", "--body", "y",
        "--org", "acme",
    )  # fmt: skip
    assert bad.exit_code == 1
    assert "body.starts_at" in bad.stderr


async def test_releases_list(cli: Cli) -> None:
    assert (await cli("rex", "releases", "plan", "6.0", "--kind", "major")).exit_code == 0
    # The row comes from the release workflow's projection, a moment after planning.
    async with asyncio.timeout(30):
        while True:
            listed = await cli("bob", "releases", "list", "--status", "planned")
            if "6.0" in listed.stdout:
                break
            await asyncio.sleep(0.1)
    assert listed.exit_code == 0, listed.output
    assert "major" in listed.stdout
    assert "1-1 of 1" in listed.stdout
    shipped = await cli("bob", "releases", "list", "--status", "shipped", "--json")
    assert json.loads(shipped.stdout)["total"] == 0


async def test_a_closed_case_shows_until_when_it_may_be_reopened(cli: Cli) -> None:
    number = await open_case(cli)
    resolved = await cli(
        "bob",
        "cases",
        "resolve",
        str(number),
        "--summary",
        "Index rebuilt",
        "--rca",
        "A full disk",
    )
    assert resolved.exit_code == 0, resolved.output
    closed = await cli("bob", "cases", "close", str(number), "--reason", "Confirmed by phone")
    assert closed.exit_code == 0, closed.output
    view = json.loads((await cli("bob", "cases", "show", str(number), "--json")).stdout)
    assert view["status"] == "closed" and view["reopen_until"] > view["closed_at"]
    shown = await cli("bob", "cases", "show", str(number))
    rows = [line for line in shown.stdout.splitlines() if "reopen until" in line]
    assert len(rows) == 1, shown.stdout
    until = view["reopen_until"].replace("T", " ").removesuffix("Z")[:16]
    assert until in rows[0], (until, rows[0])
