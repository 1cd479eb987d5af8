"""What a customer's contacts read when their case moves: what happened in words, what was
written to them, where the case stands and what they may do, signed by the support team
as one (no staff ids, no internal names); the team's own inbox keeps the bare record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import transitions
from models.case import CaseEvent, CaseRouting, CaseState
from models.commands import (
    CaseCommand,
    ChangeSeverity,
    CloseCase,
    CloseOutOfScope,
    ReopenCase,
    RequestInformation,
    ResolveCase,
    RespondPublicly,
)
from models.notifications import CUSTOMER_EVENTS, TEAM_EVENTS, notifications_for
from tests.builders import AGENT, CUSTOMER, open_case

ANN, TEAM = "ann@acme.example", "support@vendor.example"
ROUTING = CaseRouting(customer_emails=(ANN,), agents_email=TEAM)
# short-sla `fast`: a UTC calendar that never closes, and a one-hour reopen window.
OPENED = datetime(2026, 11, 20, 15, tzinfo=UTC)
TITLE = "Exports fail with a timeout"


def opened() -> CaseState:
    command = open_case(
        12, "short-sla:fast", OPENED, routing=ROUTING, title=TITLE, severity="normal"
    )
    state, _ = transitions.open_case(command, OPENED)
    return state


def act(state: CaseState, command: CaseCommand, minutes: int) -> tuple[CaseState, dict[str, str]]:
    """The command `minutes` after opening; the bodies its one notified event sends, by
    recipient."""
    state, facts = transitions.handle(state, command, OPENED + timedelta(minutes=minutes))
    (fact,) = [f for f in facts if f.kind in CUSTOMER_EVENTS | TEAM_EVENTS]
    event = CaseEvent(seq=state.seq + 1, at=OPENED, **fact.model_dump())
    return state, {n.to: n.body for n in notifications_for(state, event)}


def test_a_response_reads_as_the_support_teams_words() -> None:
    _, sent = act(opened(), RespondPublicly(actor=AGENT, message="Rebuilt.\n\nTry again."), 1)
    body = sent[ANN]
    assert body.startswith("Dear ")
    assert "Support has answered on case 12:\n\n  Rebuilt.\n\n  Try again." in body
    assert f"  Case:      12, {TITLE}" in body
    assert "  Status:    in progress (tier 1)" in body
    assert "  Severity:  Normal" in body
    assert "reply to this message and keep the case number in the subject" in body
    assert AGENT.id not in body and "agent" not in body and "tier1" not in body
    assert TEAM not in sent  # the team's inbox hears of what customers do, not of this


def test_a_request_for_information_says_the_case_waits_on_the_customer() -> None:
    _, sent = act(opened(), RequestInformation(actor=AGENT, message="Which browser?"), 1)
    body = sent[ANN]
    assert "Support needs more from you to go on with case 12:\n\n  Which browser?" in body
    assert "Status:    waiting on you" in body
    assert "the clocks of our promises stand still" in body


def test_a_severity_change_names_both_severities() -> None:
    change = ChangeSeverity(actor=AGENT, severity="critical", reason="The whole site is down")
    _, sent = act(opened(), change, 1)
    body = sent[ANN]
    assert "The severity of case 12 changed from Normal to Critical." in body
    assert "  The whole site is down" in body


def test_closing_says_until_when_a_reply_reopens_the_case() -> None:
    state, resolved = act(opened(), ResolveCase(actor=AGENT, summary="Index rebuilt"), 1)
    assert "Support has resolved case 12:\n\n  Index rebuilt" in resolved[ANN]
    assert "reply to this message and the case opens again" in resolved[ANN]
    closed, sent = act(state, CloseCase(actor=AGENT, reason="Confirmed by phone"), 2)
    # Closed at 15:02 on a calendar that never closes: the hour's window ends at 16:02.
    assert "Case 12 is closed." in sent[ANN]
    assert "reply to this message by Friday 20 November 2026, 16:02 (UTC)" in sent[ANN]
    assert "A reply to this message after that opens a new case" in sent[ANN]
    # The customer reopens: the team's inbox keeps who did it, as before.
    _, reopened = act(closed, ReopenCase(actor=CUSTOMER, reason="It fails again"), 30)
    assert f"{CUSTOMER.id} reopened case 12" in reopened[ANN]
    assert f"by {CUSTOMER.id} (customer)" in reopened[TEAM]


def test_out_of_scope_gives_the_plans_exclusion() -> None:
    out = CloseOutOfScope(actor=AGENT, exclusion="third-party", reason="A browser plug-in")
    _, sent = act(opened(), out, 1)
    assert (
        "Case 12 is closed as outside your plan's support: "
        "Issues caused by third-party software.\n\n  A browser plug-in" in sent[ANN]
    )
    assert "Status:    closed as out of scope" in sent[ANN]
    assert "A reply to this message opens a new case that refers to this one." in sent[ANN]
    assert "keep the case number" not in sent[ANN]


def test_only_the_customers_mail_is_addressed_to_a_customer() -> None:
    """The notifier links a customer's mail to the case on the portal, and staff mail not."""
    resolved, _ = act(opened(), ResolveCase(actor=AGENT, summary="Done"), 1)
    state, facts = transitions.handle(
        resolved, ReopenCase(actor=CUSTOMER, reason="Again"), OPENED + timedelta(minutes=2)
    )
    (fact,) = [f for f in facts if f.kind == "reopened"]
    event = CaseEvent(seq=9, at=OPENED, **fact.model_dump())
    audiences = {n.to: n.audience for n in notifications_for(state, event)}
    assert audiences == {ANN: "customer", TEAM: "team"}


def test_a_case_closed_for_good_says_a_reply_opens_a_follow_up() -> None:
    command = open_case(12, "short-sla:office", OPENED, routing=ROUTING, severity="normal")
    state, _ = transitions.open_case(command, OPENED)
    state, _ = act(state, ResolveCase(actor=AGENT, summary="Done"), 1)
    _, sent = act(state, CloseCase(actor=AGENT, reason="Confirmed"), 2)
    assert "A reply to this message opens a new case that refers to this one." in sent[ANN]
    assert "opens again" not in sent[ANN]


def test_tierlines_own_reasons_stay_out_of_the_letter() -> None:
    """The first-response target (40 minutes on `normal`) runs out: management escalation,
    whose recorded reason names the clock as the code does."""
    state, facts = transitions.tick(opened(), OPENED + timedelta(hours=1, minutes=1))
    escalated = [f for f in facts if f.kind == "management_escalated"]
    assert escalated and escalated[0].reason and "first_response" in escalated[0].reason
    event = CaseEvent(seq=9, at=OPENED, **escalated[0].model_dump())
    (letter,) = [n for n in notifications_for(state, event) if n.to == ANN]
    assert letter.subject == f"Escalated to management: {TITLE}"
    assert "Case 12 has been escalated to Support team lead." in letter.body
    assert "first_response" not in letter.body and "target was missed" not in letter.body


def test_the_webhook_keeps_the_record_integrations_read() -> None:
    hook = "https://hooks.acme.example/tierline"
    routing = CaseRouting(customer_emails=(ANN,), customer_webhook=hook)
    command = open_case(12, "short-sla:fast", OPENED, routing=routing, severity="normal")
    state, facts = transitions.open_case(command, OPENED)
    opening = CaseEvent(seq=1, at=OPENED, **facts[0].model_dump())
    sent = {n.to: n for n in notifications_for(state, opening)}
    assert sent[hook].subject == sent[ANN].subject == f"Received: {TITLE}"  # the acknowledgement
    state, facts = transitions.handle(
        state, RespondPublicly(actor=AGENT, message="On it"), OPENED + timedelta(minutes=1)
    )
    response = CaseEvent(seq=6, at=OPENED, **facts[0].model_dump())
    sent = {n.to: n for n in notifications_for(state, response)}
    assert sent[ANN].subject == f"Answered: {TITLE}" and sent[ANN].audience == "customer"
    assert sent[hook].subject == f"Responded: {TITLE}" and sent[hook].audience == "team"
    assert f"by {AGENT.id} (agent)" in sent[hook].body and "Dear" not in sent[hook].body
