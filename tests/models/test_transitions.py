"""The case's decisions, driven directly through the pure functions: every refusal in
models/transitions.py with the reason a person reads in the API's 409, the allowed
counterpart beside it, and a check that no refusal is added without a test asserting it.

States are built through the decisions themselves: a case is opened, then commands are
applied one minute apart, so every instant is fixed.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from models import transitions
from models.case import Actor, CaseState, CaseStatus, OpenCase, Role
from models.commands import (
    AddInternalNote,
    AssignCase,
    CaseCommand,
    ChangeSeverity,
    CloseCase,
    CloseOutOfScope,
    ConfirmResolution,
    CustomerReply,
    EscalateTier,
    ReopenCase,
    RequestInformation,
    RequestManagementEscalation,
    ResolveCase,
    RespondPublicly,
)
from models.release import LinkRelease, UnlinkRelease
from models.transitions import Refused
from policies.plan_snapshot import EscalationTrigger, PlanSnapshot
from tests.builders import AGENT, CUSTOMER, case_details, plan_snapshot

OPENED = datetime(2026, 11, 20, 15, tzinfo=UTC)
STEP = timedelta(minutes=1)
RELEASE_MANAGER = Actor(id="rm-rita", role=Role.release_manager)


@cache
def plan(plan_id: str) -> PlanSnapshot:
    """short-sla `fast`: escalation on request, 1-hour reopen window, RCA for critical,
    exclusion `third-party`; `office`: none of those."""
    return plan_snapshot(f"short-sla:{plan_id}", OPENED)


def plan_escalating_only_on_missed_targets() -> PlanSnapshot:
    # No catalog has such a plan yet, though the catalog schema accepts one.
    return plan("fast").model_copy(
        update={"escalation_triggers": (EscalationTrigger.target_missed,)}
    )


def opened(severity: str = "normal", snapshot: PlanSnapshot | None = None) -> CaseState:
    command = OpenCase(
        number=1,
        details=case_details(severity=severity),
        plan=snapshot or plan("fast"),
        opened_by=CUSTOMER,
    )
    state, _ = transitions.open_case(command, OPENED)
    return state


def apply(state: CaseState, *commands: CaseCommand) -> CaseState:
    for command in commands:
        state, _ = transitions.handle(state, command, state.updated_at + STEP)
    return state


def as_role(command: CaseCommand, role: Role) -> CaseCommand:
    return command.model_copy(update={"actor": Actor(id=f"someone-{role.value}", role=role)})


ASSIGN = AssignCase(actor=AGENT, assignee="agent-bob")
RESPOND = RespondPublicly(actor=AGENT, message="We are looking into it.")
NOTE = AddInternalNote(actor=AGENT, note="Reproduced on staging.")
ASK = RequestInformation(actor=AGENT, message="Which export format do you use?")
REPLY = CustomerReply(actor=CUSTOMER, message="CSV, always.")
TO_TIER_2 = EscalateTier(actor=AGENT, tier=2, reason="Needs a specialist.")
TO_TIER_3 = EscalateTier(actor=AGENT, tier=3, reason="A defect in the product.")
TO_CRITICAL = ChangeSeverity(actor=AGENT, severity="critical", reason="Production is down.")
MANAGEMENT = RequestManagementEscalation(actor=CUSTOMER, reason="Nobody has answered.")
RESOLVE = ResolveCase(actor=AGENT, summary="The export index was rebuilt.")
RESOLVE_WITH_RCA = ResolveCase(
    actor=AGENT, summary="The export index was rebuilt.", root_cause_analysis="A bad migration."
)
CONFIRM = ConfirmResolution(actor=CUSTOMER, comment="Works again, thanks.")
CLOSE = CloseCase(actor=AGENT, reason="Confirmed by phone.")
REOPEN = ReopenCase(actor=CUSTOMER, reason="It fails again.")
OUT_OF_SCOPE = CloseOutOfScope(actor=AGENT, exclusion="third-party", reason="A plugin's bug.")
LINK = LinkRelease(actor=RELEASE_MANAGER, version="5.2.1")
UNLINK = UnlinkRelease(actor=RELEASE_MANAGER, version="5.2.1", reason="Fixed elsewhere.")


class Shout(CaseCommand):
    """A command the decisions do not know."""


# The fact each command records when it is allowed.
FACT_OF: dict[type[CaseCommand], str] = {
    AssignCase: "assigned",
    RespondPublicly: "responded",
    AddInternalNote: "note_added",
    RequestInformation: "information_requested",
    CustomerReply: "customer_replied",
    EscalateTier: "tier_escalated",
    ChangeSeverity: "severity_changed",
    RequestManagementEscalation: "management_escalated",
    ResolveCase: "resolved",
    ConfirmResolution: "confirmed",
    CloseCase: "closed",
    ReopenCase: "reopened",
    CloseOutOfScope: "closed_out_of_scope",
    LinkRelease: "release_linked",
    UnlinkRelease: "release_unlinked",
}


def tier1() -> CaseState:
    return opened("normal")


def tier2() -> CaseState:
    return opened("critical")  # critical cases start in tier 2 on `fast`


def tier3() -> CaseState:
    return apply(tier1(), TO_TIER_3)


def waiting() -> CaseState:
    return apply(tier1(), ASK)


def waiting_in_tier3() -> CaseState:
    return apply(tier3(), ASK)


def resolved() -> CaseState:
    return apply(tier1(), RESOLVE)  # at 15:01


def closed() -> CaseState:
    return apply(resolved(), CLOSE)  # at 15:02: the 1-hour reopen window ends at 16:02


def out_of_scope() -> CaseState:
    return apply(tier1(), OUT_OF_SCOPE)


def linked() -> CaseState:
    return apply(tier3(), LINK)


def office(*commands: CaseCommand) -> CaseState:
    return apply(opened("normal", plan("office")), *commands)


def kinds(facts: Iterable[transitions.Fact]) -> list[str]:
    return [fact.kind for fact in facts]


def refuse(state: CaseState, command: CaseCommand, now: datetime) -> str:
    """The reason `command` is refused; a refusal returns no outcome (so no facts) and
    leaves the state it was given as it was."""
    before = state.model_dump()
    with pytest.raises(Refused) as refusal:
        transitions.handle(state, command, now)
    assert type(refusal.value) is Refused
    assert str(refusal.value) == refusal.value.reason
    assert state.model_dump() == before
    return refusal.value.reason


@dataclass(frozen=True)
class Allowed:
    given: Callable[[], CaseState]
    command: CaseCommand
    after: timedelta = STEP


@dataclass(frozen=True)
class Refusal:
    name: str
    given: Callable[[], CaseState]
    command: CaseCommand
    reason: str
    after: timedelta = STEP
    allowed: Allowed | None = None


STATE_REFUSALS = [
    Refusal(
        "assign to the assignee",
        lambda: apply(tier1(), ASSIGN),
        ASSIGN,
        "the case is already assigned to agent-bob",
        allowed=Allowed(
            lambda: apply(tier1(), ASSIGN), ASSIGN.model_copy(update={"assignee": "agent-cy"})
        ),
    ),
    Refusal(
        "respond to a resolved case",
        resolved,
        RESPOND,
        "the case is resolved: reopen it first",
        allowed=Allowed(lambda: apply(resolved(), REOPEN), RESPOND),
    ),
    Refusal(
        "ask again while waiting",
        waiting,
        ASK,
        "information cannot be requested while the case is waiting_on_customer",
        allowed=Allowed(tier1, ASK),
    ),
    Refusal(
        "ask on a resolved case",
        resolved,
        ASK,
        "information cannot be requested while the case is resolved",
        allowed=Allowed(tier1, ASK),
    ),
    Refusal(
        "customer replies to a resolved case",
        resolved,
        REPLY,
        "the case is resolved: confirm or reopen it",
        allowed=Allowed(waiting, REPLY),
    ),
    Refusal(
        "escalate a resolved case",
        resolved,
        TO_TIER_3,
        "a resolved case cannot be escalated",
        allowed=Allowed(waiting, TO_TIER_3),
    ),
    Refusal(
        "escalate to the tier it is in",
        tier2,
        TO_TIER_2,
        "the case is already in tier 2",
        allowed=Allowed(tier2, TO_TIER_3),
    ),
    Refusal(
        # Tiers only go up; the reason says so only by implication.
        "escalate down a tier",
        tier3,
        TO_TIER_2,
        "the case is already in tier 3",
        allowed=Allowed(tier1, TO_TIER_2),
    ),
    Refusal(
        "change to the same severity",
        tier1,
        TO_CRITICAL.model_copy(update={"severity": "normal"}),
        "the severity is already normal",
        allowed=Allowed(tier1, TO_CRITICAL),
    ),
    Refusal(
        "change to a severity the plan lacks",
        tier1,
        TO_CRITICAL.model_copy(update={"severity": "urgent"}),
        "plan fast has no severity 'urgent'",
        allowed=Allowed(tier1, TO_CRITICAL),
    ),
    Refusal(
        "management escalation on a plan without a chain",
        office,
        MANAGEMENT,
        "plan office has no management escalation",
        allowed=Allowed(tier1, MANAGEMENT),
    ),
    Refusal(
        "customer asks for management on a plan that escalates only on missed targets",
        lambda: opened("normal", plan_escalating_only_on_missed_targets()),
        MANAGEMENT,
        "plan fast does not offer escalation on request",
        allowed=Allowed(
            lambda: opened("normal", plan_escalating_only_on_missed_targets()),
            MANAGEMENT.model_copy(update={"actor": AGENT}),
        ),
    ),
    Refusal(
        "management escalation past the top",
        lambda: apply(tier1(), MANAGEMENT, MANAGEMENT, MANAGEMENT),
        MANAGEMENT,
        "the case is already at the top of the management chain",
        allowed=Allowed(lambda: apply(tier1(), MANAGEMENT, MANAGEMENT), MANAGEMENT),
    ),
    Refusal(
        "resolve a resolved case",
        resolved,
        RESOLVE,
        "a resolved case cannot be resolved",
        allowed=Allowed(waiting, RESOLVE),
    ),
    Refusal(
        "resolve a critical case without a root-cause analysis",
        tier2,
        RESOLVE,
        "plan fast requires a root-cause analysis for this case",
        allowed=Allowed(tier2, RESOLVE_WITH_RCA),
    ),
    Refusal(
        "confirm an unresolved case",
        tier1,
        CONFIRM,
        "only a resolved case can be confirmed, this one is tier1",
        allowed=Allowed(resolved, CONFIRM),
    ),
    Refusal(
        "close an unresolved case",
        waiting,
        CLOSE,
        "only a resolved case can be closed, this one is waiting_on_customer",
        allowed=Allowed(resolved, CLOSE),
    ),
    Refusal(
        "reopen an open case",
        tier1,
        REOPEN,
        "a tier1 case cannot be reopened",
        allowed=Allowed(resolved, REOPEN),
    ),
    Refusal(
        # Reopening passes the guard on final cases, then meets this rule.
        "reopen a case closed out of scope",
        out_of_scope,
        REOPEN,
        "a closed_out_of_scope case cannot be reopened",
        allowed=Allowed(closed, REOPEN),
    ),
    Refusal(
        "reopen a closed case on a plan without a window",
        lambda: office(RESOLVE, CLOSE),
        REOPEN,
        "plan office allows no reopening once a case is closed",
        allowed=Allowed(lambda: office(RESOLVE), REOPEN),
    ),
    Refusal(
        "reopen a closed case after the window",
        closed,
        REOPEN,
        "the reopen window ended at 2026-11-20T16:02:00+00:00",
        after=timedelta(hours=1, seconds=1),
        allowed=Allowed(closed, REOPEN, after=timedelta(hours=1)),
    ),
    Refusal(
        "close a resolved case out of scope",
        resolved,
        OUT_OF_SCOPE,
        "a resolved case cannot be closed out of scope",
        allowed=Allowed(waiting, OUT_OF_SCOPE),
    ),
    Refusal(
        "close out of scope citing an exclusion the plan lacks",
        office,
        OUT_OF_SCOPE,
        "plan office has no exclusion 'third-party'",
        allowed=Allowed(tier1, OUT_OF_SCOPE),
    ),
    Refusal(
        "link a tier-2 case",
        tier2,
        LINK,
        "only tier-3 cases can be linked to a release; case 1 is tier2",
        allowed=Allowed(tier3, LINK),
    ),
    Refusal(
        # The reason names the waiting status, though it is the tier that refuses it.
        "link a tier-1 case waiting on the customer",
        waiting,
        LINK,
        "only tier-3 cases can be linked to a release; case 1 is waiting_on_customer",
        allowed=Allowed(waiting_in_tier3, LINK),
    ),
    Refusal(
        "link a case linked to another release",
        linked,
        LINK.model_copy(update={"version": "5.3.0"}),
        "case 1 is linked to release 5.2.1; unlink it first",
        allowed=Allowed(
            lambda: apply(linked(), UNLINK), LINK.model_copy(update={"version": "5.3.0"})
        ),
    ),
    Refusal("an unknown command", tier1, Shout(actor=AGENT), "unknown command Shout"),
]


@dataclass(frozen=True)
class RoleRule:
    """Who may send a command (an admin may send any), and a state that accepts it."""

    command: CaseCommand
    roles: frozenset[Role]
    given: Callable[[], CaseState]


def roles(*allowed: Role) -> frozenset[Role]:
    return frozenset(allowed)


ROLE_RULES = [
    RoleRule(ASSIGN, roles(Role.agent), tier1),
    RoleRule(RESPOND, roles(Role.agent), tier1),
    RoleRule(NOTE, roles(Role.agent, Role.release_manager), tier1),
    RoleRule(ASK, roles(Role.agent), tier1),
    RoleRule(REPLY, roles(Role.customer), waiting),
    RoleRule(TO_TIER_3, roles(Role.agent), tier1),
    RoleRule(TO_CRITICAL, roles(Role.agent, Role.customer), tier1),
    RoleRule(MANAGEMENT, roles(Role.customer, Role.agent), tier1),
    RoleRule(RESOLVE, roles(Role.agent, Role.release_manager), tier1),
    RoleRule(CONFIRM, roles(Role.customer), resolved),
    RoleRule(CLOSE, roles(Role.agent), resolved),
    RoleRule(REOPEN, roles(Role.customer, Role.agent), resolved),
    RoleRule(OUT_OF_SCOPE, roles(Role.agent), tier1),
    RoleRule(LINK, roles(Role.release_manager, Role.agent), tier3),
    RoleRule(UNLINK, roles(Role.release_manager, Role.agent), linked),
]

# Spelled out, article and underscore included, as the 409 shows them.
ROLE_REFUSED = {
    Role.customer: "a customer may not do this",
    Role.agent: "an agent may not do this",
    Role.release_manager: "a release manager may not do this",
    Role.auditor: "an auditor may not do this",
    Role.system: "Tierline itself may not do this",
}

ROLE_REFUSALS = [
    Refusal(
        f"{type(rule.command).__name__} by {role.value}",
        rule.given,
        as_role(rule.command, role),
        reason,
        allowed=Allowed(rule.given, rule.command),
    )
    for rule in ROLE_RULES
    for role, reason in ROLE_REFUSED.items()
    if role not in rule.roles
]

# Closed and closed-out-of-scope cases refuse every command before its own rules; only
# reopening gets through (and is then judged by its own rules, above).
FINAL = {closed: "the case is closed", out_of_scope: "the case is closed_out_of_scope"}

FINAL_REFUSALS = [
    Refusal(
        f"{type(rule.command).__name__} on a {reason.removeprefix('the case is ')} case",
        given,
        rule.command,
        reason,
        allowed=Allowed(rule.given, rule.command),
    )
    for rule in ROLE_RULES
    if not isinstance(rule.command, ReopenCase)
    for given, reason in FINAL.items()
]

REFUSALS = STATE_REFUSALS + ROLE_REFUSALS + FINAL_REFUSALS

OPEN_REFUSAL = "plan fast has no severity 'urgent'"


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.name)
def test_refused(case: Refusal) -> None:
    state = case.given()
    assert refuse(state, case.command, state.updated_at + case.after) == case.reason


@pytest.mark.parametrize(
    "case", [case for case in REFUSALS if case.allowed], ids=lambda case: case.name
)
def test_allowed_counterpart(case: Refusal) -> None:
    assert case.allowed is not None
    state = case.allowed.given()
    command = case.allowed.command
    _, facts = transitions.handle(state, command, state.updated_at + case.allowed.after)
    assert FACT_OF[type(command)] in kinds(facts)


@pytest.mark.parametrize(
    ("rule", "role"),
    [(rule, role) for rule in ROLE_RULES for role in sorted((*rule.roles, Role.admin))],
    ids=lambda value: type(value.command).__name__ if isinstance(value, RoleRule) else str(value),
)
def test_allowed_roles(rule: RoleRule, role: Role) -> None:
    state = rule.given()
    _, facts = transitions.handle(state, as_role(rule.command, role), state.updated_at + STEP)
    assert FACT_OF[type(rule.command)] in kinds(facts)


def handled_commands(source: str) -> set[str]:
    """The commands `handle` has a `case` for."""
    handle = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == "handle"
    )
    return {
        node.cls.id
        for node in ast.walk(handle)
        if isinstance(node, ast.MatchClass) and isinstance(node.cls, ast.Name)
    }


def test_every_role_is_judged_for_every_command() -> None:
    commands = {type(rule.command).__name__ for rule in ROLE_RULES}
    assert commands == handled_commands(Path(transitions.__file__).read_text())
    assert commands == {command.__name__ for command in FACT_OF}
    assert set(ROLE_REFUSED) == set(Role) - {Role.admin}


def test_open_case_refuses_a_severity_the_plan_lacks() -> None:
    command = OpenCase(
        number=1, details=case_details(severity="urgent"), plan=plan("fast"), opened_by=CUSTOMER
    )
    with pytest.raises(Refused) as refusal:
        transitions.open_case(command, OPENED)
    assert type(refusal.value) is Refused
    assert refusal.value.reason == OPEN_REFUSAL
    state, facts = transitions.open_case(
        command.model_copy(update={"details": case_details(severity="normal")}), OPENED
    )
    assert state.status is CaseStatus.tier1
    assert kinds(facts)[0] == "opened"


def test_linking_the_linked_release_and_unlinking_another_change_nothing() -> None:
    # The two ways LinkRelease and UnlinkRelease return early are answers, not refusals.
    state = linked()
    assert transitions.handle(state, LINK, state.updated_at + STEP) == (state, [])
    other = UNLINK.model_copy(update={"version": "5.3.0"})
    assert transitions.handle(state, other, state.updated_at + STEP) == (state, [])


# --- Every refusal in models/transitions.py has a test above --------------------------


@dataclass(frozen=True)
class Site:
    """One refusal reason in the source, for one entry point (and command, if it is
    inside one command's `case`)."""

    line: int
    template: str
    pattern: re.Pattern[str]
    literal: int  # characters of fixed text: the most specific template explains a reason
    function: str
    command: str | None


def _pattern(node: ast.expr) -> tuple[re.Pattern[str], int] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.compile(re.escape(node.value)), len(node.value)
    if isinstance(node, ast.JoinedStr):
        fixed = [str(v.value) for v in node.values if isinstance(v, ast.Constant)]
        parts = [
            re.escape(str(v.value)) if isinstance(v, ast.Constant) else ".+?" for v in node.values
        ]
        return re.compile("".join(parts)), sum(map(len, fixed))
    return None


def _reason_of(call: ast.Call) -> ast.expr | None:
    """The reason passed to `_require(condition, reason)` or `Refused(reason)`."""
    if not isinstance(call.func, ast.Name) or call.func.id not in ("_require", "Refused"):
        return None
    position = 1 if call.func.id == "_require" else 0
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == "reason"), None)


def refusal_sites(source: str) -> tuple[list[Site], list[str]]:
    """Every refusal reason in `source`, and the problems that keep one from being checked.

    A reason inside `case SomeCommand(...)` belongs to that command; one in a private
    helper belongs to wherever the helper is called (so `_require_role`'s one message is
    a refusal of each command that calls it).
    """
    tree = ast.parse(source)
    found: list[tuple[int, ast.expr, str, str | None]] = []
    calls: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    problems: list[str] = []

    def visit(node: ast.AST, function: str, command: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                continue  # visited on its own
            inner = command
            if isinstance(child, ast.match_case):
                pattern = child.pattern
                inner = None  # `case _:` and the like: any command
                if isinstance(pattern, ast.MatchClass) and isinstance(pattern.cls, ast.Name):
                    inner = pattern.cls.id
            if isinstance(child, ast.Call):
                if isinstance(child.func, ast.Name):
                    calls[child.func.id].add((function, command))
                reason = _reason_of(child)
                if reason is not None:
                    found.append((child.lineno, reason, function, command))
            visit(child, function, inner)

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            visit(node, node.name, None)

    def entries(
        function: str, command: str | None, seen: frozenset[str] = frozenset()
    ) -> set[tuple[str, str | None]]:
        if command is not None or not function.startswith("_"):
            return {(function, command)}
        if function in seen:
            return set()
        return {
            entry
            for caller, at in calls[function]
            for entry in entries(caller, at, seen | {function})
        }

    sites = []
    for line, reason, function, command in found:
        compiled = _pattern(reason)
        if compiled is None:
            if function != "_require":  # the helper passes its caller's reason on
                problems.append(f"line {line}: a reason that is not a literal or an f-string")
            continue
        reached = entries(function, command)
        if not reached:
            problems.append(f"line {line}: {ast.unparse(reason)} is never reached")
        sites += [
            Site(line, ast.unparse(reason), *compiled, entry_function, entry_command)
            for entry_function, entry_command in sorted(reached, key=str)
        ]
    return sites, problems


def uncovered(
    sites: list[Site], asserted: Iterable[tuple[str, str | None, str]]
) -> tuple[list[Site], list[str]]:
    """The sites no asserted reason comes from, and asserted reasons from no site."""
    covered: set[Site] = set()
    unexplained = []
    for function, command, reason in asserted:
        candidates = [
            site
            for site in sites
            if site.function == function
            and site.command in (None, command)
            and site.pattern.fullmatch(reason)
        ]
        if not candidates:
            unexplained.append(reason)
            continue
        best = max(site.literal for site in candidates)
        covered |= {site for site in candidates if site.literal == best}
    return [site for site in sites if site not in covered], unexplained


def asserted_here() -> list[tuple[str, str | None, str]]:
    return [("open_case", None, OPEN_REFUSAL)] + [
        ("handle", type(case.command).__name__, case.reason) for case in REFUSALS
    ]


def test_every_refusal_reason_is_asserted() -> None:
    sites, problems = refusal_sites(Path(transitions.__file__).read_text())
    assert not problems
    missing, unexplained = uncovered(sites, asserted_here())
    assert not unexplained, "asserted reasons no refusal gives"
    assert not missing, (
        "refusals without a test in tests/models/test_transitions.py:\n"
        + "\n".join(
            f"line {site.line}: {site.template} ({site.function}, {site.command or 'any command'})"
            for site in missing
        )
    )


def test_the_check_notices_a_refusal_without_a_test() -> None:
    source = """
def handle(state, command, now):
    _require(state.open, f"the case is {state.status}")
    match command:
        case Poke():
            _require_role(command.actor)
            _require(state.awake, f"case {state.number} is asleep")
        case Nudge():
            _require_role(command.actor)
        case _:
            raise Refused(reason_from_somewhere)

def _require_role(actor):
    _require(actor.ok, f"a {actor.role} may not do this")

def _require(condition, reason):
    if not condition:
        raise Refused(reason)

def _unused():
    _require(False, "never said")
"""
    sites, problems = refusal_sites(source)
    assert problems == [
        "line 11: a reason that is not a literal or an f-string",
        "line 21: 'never said' is never reached",
    ]
    missing, unexplained = uncovered(
        sites,
        [
            ("handle", "Poke", "the case is closed"),
            ("handle", "Poke", "case 7 is asleep"),
            ("handle", "Poke", "a customer may not do this"),
            ("handle", "Poke", "no such refusal"),
        ],
    )
    assert unexplained == ["no such refusal"]
    assert [(site.template, site.command) for site in missing] == [
        ("f'a {actor.role} may not do this'", "Nudge")
    ]


def test_a_response_records_the_article_it_points_to_and_none_without() -> None:
    state = opened()
    _, with_article = transitions.handle(
        state, RespondPublicly(actor=AGENT, message="See this", article=7), OPENED + STEP
    )
    _, without = transitions.handle(
        state, RespondPublicly(actor=AGENT, message="On it"), OPENED + STEP
    )
    responded = [f for f in with_article if f.kind == "responded"]
    assert [f.data for f in responded] == [{"article": 7}]
    # A response without one keeps the shape recorded in every history before articles.
    assert [f.data for f in without if f.kind == "responded"] == [{}]


def test_a_closed_case_shows_until_when_it_may_be_reopened() -> None:
    # The deadline the view shows is the one the reopen rule enforces (16:02, see above).
    at = OPENED + timedelta(hours=3)
    assert transitions.view(closed(), at).reopen_until == datetime(2026, 11, 20, 16, 2, tzinfo=UTC)
    assert transitions.view(resolved(), at).reopen_until is None  # reopening needs no window
    assert transitions.view(office(RESOLVE, CLOSE), at).reopen_until is None  # no window
    assert transitions.view(apply(closed(), REOPEN), at).reopen_until is None
