"""Every POST honours an Idempotency-Key: a retry replays the first answer, changes nothing."""

from __future__ import annotations

from sqlmodel import Session

from api.cases import allocate_number, scoped_key
from tests.api.conftest import Api
from tests.builders import case_body


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


INITECH = {"id": "initech", "name": "Initech", "plan": "us-software-002:standard"}


async def test_organisation_retry_returns_the_first_answer(api: Api) -> None:
    first = await api.admin.post("/organisations", json=INITECH, headers=key("org-1"))
    assert first.status_code == 201, first.text
    # Without the header, this body is a conflict: the retry must not run again.
    retry = await api.admin.post("/organisations", json=INITECH, headers=key("org-1"))
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert (await api.admin.post("/organisations", json=INITECH)).status_code == 409

    other = await api.admin.post(
        "/organisations", json={**INITECH, "name": "Initrode"}, headers=key("org-1")
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert "different body" in other.json()["detail"]
    assert (await api.admin.get("/organisations/initech")).json()["name"] == "Initech"


async def test_same_json_in_another_spelling_is_the_same_body(api: Api) -> None:
    compact = '{"id":"initech","name":"Initech","plan":"us-software-002:standard"}'
    spaced = '{ "plan": "us-software-002:standard",  "name": "Initech", "id": "initech" }'
    headers = {**key("org-2"), "Content-Type": "application/json"}
    assert (await api.admin.post("/organisations", content=compact, headers=headers)).is_success
    again = await api.admin.post("/organisations", content=spaced, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_users_and_tokens(api: Api) -> None:
    user = {"id": "cal", "name": "Cal Agent", "role": "agent", "tiers": [1]}
    assert (await api.admin.post("/users", json=user, headers=key("u-1"))).status_code == 201
    retry = await api.admin.post("/users", json=user, headers=key("u-1"))
    assert retry.status_code == 201
    assert retry.json()["id"] == "cal"
    changed = await api.admin.post("/users", json={**user, "tiers": [2]}, headers=key("u-1"))
    assert changed.status_code == 422
    users = (await api.admin.get("/users")).json()
    assert [u["tiers"] for u in users if u["id"] == "cal"] == [[1]]

    first = await api.admin.post("/users/cal/tokens", json={"label": "ci"}, headers=key("t-1"))
    again = await api.admin.post("/users/cal/tokens", json={"label": "ci"}, headers=key("t-1"))
    assert first.status_code == again.status_code == 201
    assert again.json()["token"] == first.json()["token"]
    assert len((await api.admin.get("/users/cal/tokens")).json()) == 1
    other = await api.admin.post("/users/cal/tokens", json={"label": "cd"}, headers=key("t-1"))
    assert other.status_code == 422
    # The same key on another user's path is another request.
    elsewhere = await api.admin.post("/users/bob/tokens", json={"label": "ci"}, headers=key("t-1"))
    assert elsewhere.status_code == 201
    assert elsewhere.json()["user_id"] == "bob"


async def test_releases_plan_and_actions(api: Api) -> None:
    body = {"version": "5.0.1", "kind": "hotfix"}
    planned = await api.rex.post("/releases", json=body, headers=key("r-1"))
    assert planned.status_code == 201, planned.text
    replayed = await api.rex.post("/releases", json=body, headers=key("r-1"))
    assert replayed.json() == planned.json()
    assert replayed.headers["Idempotent-Replayed"] == "true"
    other = await api.rex.post("/releases", json={**body, "kind": "patch"}, headers=key("r-1"))
    assert other.status_code == 422
    assert (await api.rex.get("/releases/5.0.1")).json()["kind"] == "hotfix"

    started = await api.rex.post("/releases/5.0.1/start", headers=key("r-2"))
    assert started.json()["status"] == "in_progress"
    again = await api.rex.post("/releases/5.0.1/start", headers=key("r-2"))
    assert again.json() == started.json()
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_keys_belong_to_their_caller_and_failures_release_them(api: Api) -> None:
    bad = await api.admin.post(
        "/organisations", json={**INITECH, "plan": "nope:nope"}, headers=key("k")
    )
    assert bad.status_code == 422
    # Nothing changed, so the key is free again for the corrected request.
    fixed = await api.admin.post("/organisations", json=INITECH, headers=key("k"))
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers

    # Another caller's identical key is its own request (Rex may not create organisations).
    assert (await api.rex.post("/organisations", json=INITECH, headers=key("k"))).status_code == 403

    too_long = await api.admin.post("/organisations", json=INITECH, headers=key("x" * 201))
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "header.Idempotency-Key"


# An Idempotency-Key is the client's choice, often guessable: at every layer it belongs
# to its caller (and the organisation), so another caller's same key never reaches the
# first caller's answer.


async def test_two_customers_with_one_key_open_two_cases(api: Api) -> None:
    ann_case = case_body(title="Ann's exports", details="Ann's confidential details")
    gus_case = case_body(
        organisation="globex",
        company_name="Globex",
        title="Gus's login",
        details="Gus's details",
        severity="high",
        contact={"name": "Gus", "email": "gus@globex.example"},
    )
    ann = await api.ann.post("/cases", json=ann_case, headers=key("case-1"))
    gus = await api.gus.post("/cases", json=gus_case, headers=key("case-1"))
    assert ann.status_code == gus.status_code == 201, (ann.text, gus.text)
    assert "Idempotent-Replayed" not in gus.headers
    assert gus.json()["number"] != ann.json()["number"]
    assert gus.json()["details"]["title"] == "Gus's login"
    assert "Ann" not in gus.text
    seen = (await api.gus.get(f"/cases/{gus.json()['number']}")).json()
    assert seen["details"]["organisation"] == "globex"


async def test_an_agent_and_a_customer_with_one_key_open_two_cases(api: Api) -> None:
    body = case_body(title="Same body, two callers")
    ann = await api.ann.post("/cases", json=body, headers=key("shared"))
    bob = await api.bob.post("/cases", json=body, headers=key("shared"))
    assert ann.status_code == bob.status_code == 201
    assert bob.json()["number"] != ann.json()["number"]
    assert bob.json()["opened_by"]["id"] == "bob"
    # Each caller's retry still finds its own case.
    again = await api.bob.post("/cases", json=body, headers=key("shared"))
    assert again.json()["number"] == bob.json()["number"]


async def test_case_numbers_are_filed_under_caller_organisation_and_key(api: Api) -> None:
    """Below the HTTP replay: the case-number allocation itself."""
    engine = api.engine
    with Session(engine) as session:
        ann = allocate_number(session, scoped_key("ann", "acme", "k"))
        gus = allocate_number(session, scoped_key("gus", "acme", "k"))
        other_org = allocate_number(session, scoped_key("ann", "globex", "k"))
        again = allocate_number(session, scoped_key("ann", "acme", "k"))
    assert len({ann, gus, other_org}) == 3
    assert again == ann


async def test_two_callers_with_one_key_act_twice_on_a_case(api: Api) -> None:
    """The workflow update id carries the caller: Rex's note keyed like Bob's is a note."""
    opened = await api.ann.post("/cases", json=case_body())
    number = opened.json()["number"]
    bob = await api.bob.post(f"/cases/{number}/notes", json={"note": "Bob's"}, headers=key("n"))
    rex = await api.rex.post(f"/cases/{number}/notes", json={"note": "Rex's"}, headers=key("n"))
    assert bob.status_code == rex.status_code == 200, (bob.text, rex.text)
    assert rex.json()["seq"] > bob.json()["seq"]
    timeline = (await api.bob.get(f"/cases/{number}/timeline")).json()
    notes = [e["actor_id"] for e in timeline if e["kind"] == "note_added"]
    assert notes == ["bob", "rex"]


async def test_two_callers_with_one_key_each_take_a_quota_slot(api: Api) -> None:
    """short-sla:fast allows 4 incidents a month: a shared key must not share a slot."""
    for n in range(3):
        assert (await api.ann.post("/cases", json=case_body(), headers=key(f"q{n}"))).is_success
    ann = await api.ann.post("/cases", json=case_body(), headers=key("last"))
    bob = await api.bob.post("/cases", json=case_body(), headers=key("last"))
    assert ann.status_code == 201
    assert bob.status_code == 409, bob.text
    assert bob.json()["title"] == "Incident quota exhausted"
