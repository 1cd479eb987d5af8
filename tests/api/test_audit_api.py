"""An auditor reads, replays, reconstructs and exports a case over HTTP; nobody else may."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from audit.evidence import verify_bundle
from audit.history import histories_from_json
from audit.replay import replay_case
from tests.api.conftest import Api
from tests.api.test_permissions import open_acme_case


async def act(api: Api, user: str, number: int, action: str, body: dict[str, str]) -> dict:
    response = await getattr(api, user).post(f"/cases/{number}/{action}", json=body)
    assert response.status_code == 200, response.text
    view: dict = response.json()
    return view


async def closed_case(api: Api) -> tuple[int, dict[str, dict], dict[str, datetime]]:
    """A case taken to closed; the view each action answered, and the instant after each."""
    number = await open_acme_case(api)
    views: dict[str, dict] = {}
    after: dict[str, datetime] = {"opened": datetime.now(UTC)}
    for user, action, body in (
        ("bob", "respond", {"message": "Looking into it."}),
        ("bob", "notes", {"note": "Queue is stuck."}),
        (
            "bob",
            "resolve",
            {"summary": "Restarted the export queue.", "root_cause_analysis": "Disk full."},
        ),
        ("ann", "confirm", {"comment": "Works again."}),
    ):
        views[action] = await act(api, user, number, action, body)
        after[action] = datetime.now(UTC)
    return number, views, after


async def test_only_auditors_and_admins_read_the_audit_trail(api: Api) -> None:
    number = await open_acme_case(api)
    for user in ("ann", "bob", "rex"):
        response = await getattr(api, user).get(f"/audit/cases/{number}/timeline")
        assert response.status_code == 403, user
    assert (await api.anonymous.get(f"/audit/cases/{number}/timeline")).status_code == 401
    assert (await api.ada.get(f"/audit/cases/{number}/timeline")).status_code == 200
    assert (await api.admin.get(f"/audit/cases/{number}/timeline")).status_code == 200
    assert (await api.ada.get("/audit/cases/999999/timeline")).status_code == 404


async def test_timeline_replay_and_as_of_come_from_the_history(api: Api) -> None:
    number, views, after = await closed_case(api)

    audited = (await api.ada.get(f"/audit/cases/{number}/timeline")).json()
    projected = (await api.ada.get(f"/cases/{number}/timeline")).json()
    assert [(e["seq"], e["kind"]) for e in audited["entries"]] == [
        (e["seq"], e["kind"]) for e in projected
    ]
    assert {"opened", "responded", "resolved", "confirmed"} <= {
        e["kind"] for e in audited["entries"]
    }
    assert audited["policy"]["plan_id"] == "fast"

    closed = await api.ada.get(
        "/audit/cases",
        params={"closed_from": (after["opened"] - timedelta(minutes=1)).isoformat()},
    )
    assert number in closed.json()["numbers"]
    # Plain days too, as the CLI and the attainment report take them (00:00 UTC).
    day = after["opened"].astimezone(UTC).date()
    by_day = await api.ada.get(
        "/audit/cases",
        params={"closed_from": day.isoformat(), "closed_until": (day + timedelta(2)).isoformat()},
    )
    assert by_day.status_code == 200, by_day.text
    assert number in by_day.json()["numbers"]
    later = {"closed_from": (day + timedelta(2)).isoformat()}
    assert number not in (await api.ada.get("/audit/cases", params=later)).json()["numbers"]
    bad = await api.ada.get("/audit/cases", params={"closed_from": "2026-13-01"})
    assert [e["field"] for e in bad.json()["errors"]] == ["query.closed_from"]

    verdict = (await api.ada.get(f"/audit/cases/{number}/replay")).json()
    assert verdict["status"] == "intact", verdict

    # The same histories replay locally too: what the CLI's deploy gate does.
    runs = histories_from_json((await api.ada.get(f"/audit/cases/{number}/histories")).text)
    assert (await replay_case(runs)).intact

    # As of the instant after each action, the case stood as that action answered.
    for action in ("respond", "resolve"):
        at = after[action].isoformat()
        as_of = (await api.ada.get(f"/audit/cases/{number}/as-of", params={"at": at})).json()
        answered = views[action]
        assert as_of["view"]["status"] == answered["status"]
        assert as_of["view"]["seq"] == answered["seq"]
        assert [c["state"] for c in as_of["view"]["clocks"]] == [
            c["state"] for c in answered["clocks"]
        ]
    before = (after["opened"] - timedelta(days=1)).isoformat()
    early = await api.ada.get(f"/audit/cases/{number}/as-of", params={"at": before})
    assert early.status_code == 422
    naive = await api.ada.get(f"/audit/cases/{number}/as-of", params={"at": "2026-01-01T10:00"})
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "query.at"


async def test_evidence_bundle_verifies_and_an_edit_is_caught(api: Api) -> None:
    number, _, _ = await closed_case(api)
    response = await api.ada.get(f"/audit/cases/{number}/evidence")
    assert response.status_code == 200
    assert f"case-{number}" in response.headers["content-disposition"]
    report = verify_bundle(response.content)
    assert report.intact, report.summary()
    assert report.head == response.headers["x-evidence-head"]

    edited = response.content.replace(
        b"Restarted the export queue.", b"Restarted the export queue!"
    )
    assert edited != response.content
    tampered = verify_bundle(edited)
    assert not tampered.intact
    assert tampered.problems


@pytest.mark.parametrize("plan", ["short-sla:office"])
async def test_what_if_and_attainment(api: Api, plan: str) -> None:
    number, _, _ = await closed_case(api)
    report = await api.ada.get(f"/audit/cases/{number}/what-if", params={"plan": plan})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["plan_id"] == "office" and body["actual_plan_id"] == "fast"
    assert {c["clock"] for c in body["clocks"]} >= {"first_response"}
    # The real case is untouched.
    assert (await api.ada.get(f"/cases/{number}")).json()["plan_id"] == "fast"
    unknown = await api.ada.get(f"/audit/cases/{number}/what-if", params={"plan": "nope:x"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "query.plan"

    as_json = (await api.ada.get("/audit/attainment")).json()
    assert any(row["plan"] == "short-sla:fast" for row in as_json["rows"]), as_json
    as_csv = await api.ada.get("/audit/attainment", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(as_json["rows"])
    page = await api.ada.get("/audit/attainment", params={"format": "html"})
    assert "<svg" in page.text
    bad = await api.ada.get(
        "/audit/attainment", params={"since": "2026-12-01", "until": "2026-11-01"}
    )
    assert bad.status_code == 422
    assert (await api.bob.get("/audit/attainment")).status_code == 403
