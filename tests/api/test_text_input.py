"""No NUL or control character gets into Tierline from a request: a 422 naming each bad
field, nothing created, on SQLite and on PostgreSQL (which cannot store NUL at all)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.text import body_errors
from tests.api.conftest import Api
from tests.builders import case_body


async def case_count(api: Api) -> int:
    total: int = (await api.admin.get("/cases")).json()["total"]
    return total


def fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "Exports \u0000 fail"}, "body.title"),
        ({"title": "two\nlines"}, "body.title"),
        ({"title": "tab\there"}, "body.title"),
        ({"details": "bell \u0007"}, "body.details"),
        ({"details": "escape \u001b[31m red"}, "body.details"),
        ({"company_name": "Acme\u009b"}, "body.company_name"),
        ({"title": "half a pair \ud800"}, "body.title"),
        ({"contact": {"name": "Ann\u0000", "email": "ann@acme.example"}}, "body.contact.name"),
    ],
)
async def test_a_case_with_a_control_character_is_refused(
    api: Api, overrides: dict[str, Any], field: str
) -> None:
    before = await case_count(api)
    # Encoded with every non-ASCII character escaped, as `\ud800` must be.
    response = await api.ann.post(
        "/cases",
        content=json.dumps(case_body() | overrides),
        headers={"Idempotency-Key": "nul", "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert fields(response) == [field]
    assert "U+" in response.json()["errors"][0]["message"]
    assert await case_count(api) == before
    # The key was never claimed: a good body with it opens the case.
    good = await api.ann.post("/cases", json=case_body(), headers={"Idempotency-Key": "nul"})
    assert good.status_code == 201


async def test_long_text_keeps_tabs_and_line_breaks(api: Api) -> None:
    details = "Steps:\n\t1. export\r\n\t2. wait"
    opened = await api.ann.post("/cases", json=case_body(details=details))
    assert opened.status_code == 201, opened.text
    assert opened.json()["details"]["details"] == details


async def test_every_bad_field_of_an_action_and_a_query_is_named(api: Api) -> None:
    number = (await api.ann.post("/cases", json=case_body())).json()["number"]
    note = await api.bob.post(f"/cases/{number}/notes", json={"note": "x\u0000y"})
    assert note.status_code == 422
    assert fields(note) == ["body.note"]
    organisation = await api.admin.post(
        "/organisations",
        json={"id": "nul", "name": "N\u0000", "plan": "x:y", "contact_emails": ["a\u0000@b.c"]},
    )
    assert fields(organisation) == ["body.name", "body.contact_emails.0"]
    query = await api.bob.get("/cases", params={"q": "per\u0000cent"})
    assert query.status_code == 422
    assert fields(query) == ["query.q"]
    path = await api.admin.get("/organisations/ac%00me")
    assert path.status_code == 422
    assert fields(path) == ["path"]
    timeline = (await api.bob.get(f"/cases/{number}/timeline")).json()
    assert [e["kind"] for e in timeline].count("note_added") == 0


def test_bodies_without_suspect_bytes_are_not_parsed() -> None:
    assert body_errors(b'{"title": "plain"}') == []
    assert body_errors(b"not json \\u0000") == []
    assert body_errors(b'{"t": ["ok", "\\u0000"]}') == [
        {
            "field": "body.t.1",
            "message": "contains the control character U+0000 (tab, CR and LF are allowed here)",
            "type": "string_control_character",
        }
    ]
