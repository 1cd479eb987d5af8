"""Property-based API tests: schemathesis fuzzes every operation of the live app over HTTP.

Every operation gets a few derandomized examples, valid and invalid, sent as the admin
with generated path parameters (mostly unknown ids) and with ids that exist (a real
case, user, token, organisation, plan) so that success bodies are checked too, and a
few sent with whatever `Authorization` header schemathesis makes up. No response may be
a 5xx, and each must match what the OpenAPI document declares: status code, content
type and body schema. Failures are collected across operations and reported together.
The fuzzing runs on SQLite; on both databases, every integer parameter at 2**31 and at
2**63 (or at its declared maximum) must not be a 5xx either.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err

from tests.api.conftest import GLOBEX, Api

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PLAN = "us-software-002:enterprise"
PATH_PARAMETER = re.compile(r"{(\w+)}")
# A generated token id could be the admin's own: this one only ever revokes a throwaway.
KNOWN_IDS_ONLY = {"DELETE /tokens/{token_id}"}
# Error statuses the API answers with problem details (api/errors.py).
PROBLEM_STATUSES = {400, 401, 403, 404, 409, 422}


@dataclass(frozen=True)
class Variant:
    """One batch of examples of an operation."""

    mode: GenerationMode
    examples: int
    known_ids: bool
    as_admin: bool = True
    # Every integer parameter set to this, or to its declared maximum if lower.
    large_integer: int | None = None


VARIANTS = [
    Variant(POSITIVE, 10, known_ids=False),
    Variant(POSITIVE, 10, known_ids=True),
    Variant(NEGATIVE, 5, known_ids=False),
    Variant(NEGATIVE, 5, known_ids=True),
    Variant(POSITIVE, 3, known_ids=True, as_admin=False),
]
# Past what a PostgreSQL INTEGER column holds, and past SQLite's (and BIGINT's) limit.
PAST_THE_COLUMNS = [
    Variant(POSITIVE, 2, known_ids=False, large_integer=2**31),
    Variant(POSITIVE, 2, known_ids=False, large_integer=2**63),
]


@dataclass
class Finding:
    """What the checks said about one operation's responses of one status."""

    operation: str
    status: int
    problem_json: bool
    curl: str
    titles: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        titles = ", ".join(sorted(self.titles))
        return f"{self.operation} -> {self.status}: {titles}\n    {self.curl}"


@dataclass
class Findings:
    """Failures by operation and response status, and every status seen."""

    failures: dict[tuple[str, int], Finding] = field(default_factory=dict)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def add(self, finding: Finding, title: str) -> None:
        key = (finding.operation, finding.status)
        self.failures.setdefault(key, finding).titles.add(title)

    def where(self, keep: Callable[[Finding], bool]) -> list[Finding]:
        return [self.failures[key] for key in sorted(self.failures) if keep(self.failures[key])]


def is_server_error(finding: Finding) -> bool:
    return finding.status >= 500


def is_undeclared_problem(finding: Finding) -> bool:
    """An error the API answers on purpose (problem+json) that the schema does not declare."""
    return finding.status in PROBLEM_STATUSES and finding.problem_json


def fuzz(
    base_url: str,
    token: str,
    known: dict[str, Any],
    valid_body: dict[str, Any],
    variants: list[Variant] = VARIANTS,
) -> Findings:
    """Send every operation's examples to the server; blocking, so run it in a thread."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    findings = Findings()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            for variant in variants:
                strategy = strategy_for(operation, variant, token, known, valid_body)
                if strategy is not None:
                    send(strategy, variant.examples, base_url, session, findings)
    return findings


def strategy_for(
    operation: Any,
    variant: Variant,
    token: str,
    known: dict[str, Any],
    valid_body: dict[str, Any],
) -> st.SearchStrategy[Any] | None:
    """The variant's cases of the operation, or None where it adds nothing."""
    names = PATH_PARAMETER.findall(operation.path)
    fields = valid_body.get(operation.label)
    if variant.known_ids and not names and not fields:
        return None  # the same as the variant with generated ids
    path: dict[str, Any] = {}
    query: dict[str, Any] = {}
    if variant.large_integer is not None:
        path, query = large_integers(operation, variant.large_integer)
        if not path and not query:
            return None
    elif variant.known_ids:
        # Path parameters without a known value (a new route's) stay generated.
        path = {name: known[name] for name in names if name in known}
    elif names and operation.label in KNOWN_IDS_ONLY:
        return None
    strategy = operation.as_strategy(
        generation_mode=variant.mode,
        headers={"authorization": f"Bearer {token}"} if variant.as_admin else None,
        path_parameters=path or None,
        query=query or None,
    )
    if variant.known_ids and variant.mode is POSITIVE and fields:
        strategy = strategy.map(partial(with_fields, fields=fields))
    return strategy


def large_integers(operation: Any, value: int) -> tuple[dict[str, int], dict[str, int]]:
    """Every integer path and query parameter at `value`, or at its declared maximum if
    that is lower: the largest a client may send must not break the server."""
    found: dict[str, dict[str, int]] = {"path": {}, "query": {}}
    for parameter in operation.definition.raw.get("parameters", []):
        schema = parameter.get("schema", {})
        for option in schema.get("anyOf", [schema]):
            if option.get("type") == "integer" and parameter["in"] in found:
                found[parameter["in"]][parameter["name"]] = min(value, option.get("maximum", value))
    return found["path"], found["query"]


def with_fields(case: Any, fields: dict[str, Any]) -> Any:
    """Ids in a generated body that exist, so that some examples get past the lookups."""
    if isinstance(case.body, dict):
        case.body = {**case.body, **fields}
    return case


def send(
    strategy: st.SearchStrategy[Any],
    examples: int,
    base_url: str,
    session: requests.Session,
    findings: Findings,
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def examples_of(case: Any) -> None:
        response = case.call(base_url=base_url, session=session)
        findings.statuses[case.operation.label, response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            content_type = response.headers.get("content-type", [""])[0]
            finding = Finding(
                operation=case.operation.label,
                status=response.status_code,
                problem_json=content_type.startswith("application/problem+json"),
                curl=case.as_curl_command(base_url=base_url),
            )
            for failure in group.exceptions:
                findings.add(finding, failure.title)

    try:
        examples_of()
    except Unsatisfiable:
        pass  # a negative variant of an operation that has nothing to make invalid


def listing(findings: list[Finding]) -> str:
    return "\n".join(str(finding) for finding in findings)


@pytest.mark.parametrize("read_model", ["sqlite"], indirect=True)
async def test_every_operation_answers_as_documented(api: Api) -> None:
    opened = await api.bob.post(
        "/cases",
        json={
            "organisation": GLOBEX["id"],
            "company_name": GLOBEX["name"],
            "contact": {"name": "Gus", "email": "gus@globex.example"},
            "title": "Fuzzed case",
            "details": "Target of the schemathesis examples with known ids.",
            "severity": "high",
        },
    )
    assert opened.status_code == 201
    throwaway = await api.admin.post("/users/ada/tokens", json={"label": "fuzz"})
    known = {
        "number": opened.json()["number"],
        "user_id": "bob",
        "token_id": throwaway.json()["id"],
        "organisation_id": GLOBEX["id"],
        "plan": PLAN,
        "tier": 1,
    }
    base_url = str(api.admin.base_url).rstrip("/")
    token = api.admin.headers["Authorization"].removeprefix("Bearer ")
    valid_body = {
        "POST /cases": {
            "organisation": GLOBEX["id"],
            "severity": "high",
            "contact": {"name": "Gus", "email": "gus@globex.example"},
        },
        "POST /organisations": {"plan": PLAN, "contact_emails": [], "dedicated_engineer": None},
    }

    findings = await asyncio.to_thread(fuzz, base_url, token, known, valid_body)

    # The admin's token survived, and the examples got past validation and lookups.
    assert (await api.admin.get("/users")).status_code == 200
    successes = {operation for (operation, status), _ in findings.statuses.items() if status < 300}
    assert {"POST /cases", "GET /cases/{number}", "POST /cases/{number}/notes"} <= successes
    server_errors = findings.where(is_server_error)
    undeclared = findings.where(is_undeclared_problem)
    unexpected = findings.where(lambda f: not is_server_error(f) and not is_undeclared_problem(f))
    report = (
        f"5xx responses:\n{listing(server_errors)}\n\n"
        f"responses the schema does not describe:\n{listing(unexpected)}\n\n"
        f"problem+json errors the schema does not declare:\n{listing(undeclared)}"
    )
    assert not server_errors and not unexpected and not undeclared, report


async def test_integers_past_the_database_columns_are_refused(api: Api) -> None:
    """Ids and offsets past a column's range are a client's error on both databases."""
    base_url = str(api.admin.base_url).rstrip("/")
    token = api.admin.headers["Authorization"].removeprefix("Bearer ")

    findings = await asyncio.to_thread(fuzz, base_url, token, {}, {}, PAST_THE_COLUMNS)

    assert (await api.admin.get("/users")).status_code == 200
    server_errors = findings.where(is_server_error)
    assert not server_errors, f"5xx responses:\n{listing(server_errors)}"
