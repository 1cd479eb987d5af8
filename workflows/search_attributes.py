"""Custom search attributes that make cases findable in Temporal (no personal data)."""

from temporalio.common import SearchAttributeKey

CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CASE_TIER = SearchAttributeKey.for_int("CaseTier")
CASE_SEVERITY = SearchAttributeKey.for_keyword("CaseSeverity")
CASE_ORGANISATION = SearchAttributeKey.for_keyword("CaseOrganisation")
CASE_NEXT_DUE = SearchAttributeKey.for_datetime("CaseNextDue")

ALL_KEYS = (CASE_STATUS, CASE_TIER, CASE_SEVERITY, CASE_ORGANISATION, CASE_NEXT_DUE)


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    kinds = {"KEYWORD": "Keyword", "INT": "Int", "DATETIME": "Datetime"}
    return [
        flag
        for key in ALL_KEYS
        for flag in ("--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}")
    ]
