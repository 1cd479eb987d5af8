"""The case-command registry is the one declaration every door reads: each command once,
and the workflow, the API, the CLI and the audit code all built from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models import transitions
from models.case import Actor, CaseStatus, Role
from models.commands import CaseCommand
from models.registry import BY_COMMAND, BY_ROUTE, BY_UPDATE, COMMANDS, may_send
from tests import builders


def all_commands() -> set[type[CaseCommand]]:
    found: set[type[CaseCommand]] = set()
    pending = list(CaseCommand.__subclasses__())
    while pending:
        command = pending.pop()
        if command.__module__.startswith("models."):  # not a test's stand-in
            found.add(command)
        pending.extend(command.__subclasses__())
    return found


def test_every_command_is_declared_once_with_unique_names() -> None:
    assert set(BY_COMMAND) == all_commands()
    assert len(BY_UPDATE) == len(COMMANDS)
    routes = [spec.route for spec in COMMANDS if spec.route]
    verbs = [spec.cli for spec in COMMANDS if spec.cli]
    assert len(set(routes)) == len(routes) == len(BY_ROUTE)
    assert len(set(verbs)) == len(verbs)
    for spec in COMMANDS:
        assert spec.roles and Role.system not in spec.roles
        assert spec.events, spec.update
        assert {argument.field for argument in spec.cli_arguments} <= set(
            spec.command.model_fields
        ) - {"actor"}


def test_the_cli_asks_for_every_field_a_command_requires() -> None:
    for spec in COMMANDS:
        if spec.cli is None:
            continue
        required = {
            name
            for name, field in spec.command.model_fields.items()
            if field.is_required() and name != "actor"
        }
        assert required <= {argument.field for argument in spec.cli_arguments}, spec.cli


def test_the_recorded_update_names_never_change() -> None:
    """Histories of running cases carry these names: a rename strands every open case."""
    assert sorted(BY_UPDATE) == sorted(
        [
            "assign",
            "respond",
            "add_note",
            "request_information",
            "customer_reply",
            "escalate_tier",
            "change_severity",
            "request_management_escalation",
            "resolve",
            "confirm",
            "close",
            "reopen",
            "close_out_of_scope",
            "link_release",
            "unlink_release",
        ]
    )


def test_the_api_mounts_a_route_per_registry_entry_with_one() -> None:
    from api.routes.cases import router

    mounted = {route.path for route in router.routes}  # type: ignore[attr-defined]
    for spec in COMMANDS:
        if spec.route:
            assert f"/cases/{{number}}/{spec.route}" in mounted


def test_the_cli_has_a_verb_per_registry_entry_with_one() -> None:
    from cli.cases import app

    verbs = {command.name for command in app.registered_commands}
    assert {spec.cli for spec in COMMANDS if spec.cli} <= verbs


def test_admins_may_send_anything_and_system_nothing() -> None:
    for spec in COMMANDS:
        assert may_send(Role.admin, spec)
        assert not may_send(Role.system, spec)
        assert not may_send(Role.auditor, spec)


def _sample(spec_command: type[CaseCommand]) -> CaseCommand:
    """A well-formed command of each type, sent by an admin (who may send any)."""
    values = {
        "assignee": "bob",
        "message": "text",
        "note": "text",
        "reason": "why",
        "tier": 3,
        "severity": "critical",
        "summary": "fixed",
        "root_cause_analysis": "the cause",
        "exclusion": "third-party",
        "version": "9.9.9",
    }
    fields = {n: values[n] for n in spec_command.model_fields if n in values}
    return spec_command(actor=Actor(id="root", role=Role.admin), **fields)


def test_a_command_a_screen_hides_for_a_status_is_refused_in_that_status() -> None:
    """`statuses` lets screens offer only what can apply: whatever it leaves out, the
    workflow refuses, so no screen hides an action that would have worked."""
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    opened, _ = transitions.open_case(
        builders.open_case(1, "short-sla:fast", now, severity="normal"), now
    )
    for spec in COMMANDS:
        for status in set(CaseStatus) - spec.statuses:
            tier = 3 if status is CaseStatus.tier3 else 1
            state = opened.model_copy(update={"status": status, "tier": tier})
            with pytest.raises(transitions.Refused):
                transitions.handle(state, _sample(spec.command), now + timedelta(minutes=1))
