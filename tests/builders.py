"""Plain builder functions for test data."""

from __future__ import annotations

from typing import Any

from models.case import CaseDetails, Contact


def case_details(**overrides: Any) -> CaseDetails:
    values: dict[str, Any] = {
        "organisation": "acme",
        "company_name": "Acme Corp",
        "contact": Contact(name="Ann Example", email="ann@acme.example"),
        "channel": "web",
        "title": "Exports fail with a timeout",
        "details": "Since this morning every export of more than 1,000 rows times out.",
        "severity": "sev2",
    }
    values.update(overrides)
    return CaseDetails.model_validate(values)


def case_body(**overrides: Any) -> dict[str, Any]:
    return case_details(**overrides).model_dump(mode="json")
