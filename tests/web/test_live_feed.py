"""The live feed (web/live.py) against a real read model on both databases: every change
reaches staff screens once, a customer's screens only their organisation's changes they
may see (an internal note's or a clock's timing is not theirs), and the projection keeps
the instant a case's public part last changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from db.read_model import CaseRecord, utcnow
from web.live import CaseFeed, Change, Subscriber


@pytest.fixture(params=["sqlite_engine", "postgresql_engine"])
def engine(request: pytest.FixtureRequest) -> Engine:
    found: Engine = request.getfixturevalue(request.param)
    return found


def add_case(engine: Engine, number: int, organisation: str) -> None:
    now = utcnow()
    with Session(engine) as session:
        session.add(
            CaseRecord(
                number=number,
                case_id=f"case-{number}",
                organisation=organisation,
                company_name=organisation,
                title=f"Case {number}",
                severity="normal",
                status="tier1",
                tier=1,
                opened_at=now,
                updated_at=now,
                seq=1,
                view={},
                projected_at=now,
                public_changed_at=now,  # opening is the customer's own
            )
        )
        session.commit()


def project(engine: Engine, number: int, seq: int, public: bool) -> None:
    """What the projection writes for a new event (activities/projection.py)."""
    now = utcnow()
    values: dict[str, object] = {"seq": seq, "projected_at": now}
    if public:
        values["public_changed_at"] = now
    with engine.begin() as connection:
        connection.execute(
            update(CaseRecord).where(col(CaseRecord.number) == number).values(**values)
        )


def heard(subscriber: Subscriber) -> list[int]:
    found = []
    while not subscriber.queue.empty():
        change = subscriber.queue.get_nowait()
        assert isinstance(change, Change)
        found.append(change.number)
    return found


def test_customers_hear_only_of_what_they_may_see(engine: Engine) -> None:
    feed = CaseFeed(engine)
    staff, acme, globex = Subscriber(None), Subscriber("acme"), Subscriber("globex")
    feed._subscribers = {staff, acme, globex}
    feed._since = utcnow() - timedelta(seconds=1)

    def poll() -> None:
        for change in feed._poll():
            feed._publish(change)

    add_case(engine, 1, "acme")
    add_case(engine, 2, "globex")
    poll()
    assert sorted(heard(staff)) == [1, 2]
    assert heard(acme) == [1] and heard(globex) == [2]

    project(engine, 1, 2, public=False)  # an internal note
    poll()
    assert heard(staff) == [1]
    assert heard(acme) == []
    project(engine, 1, 3, public=True)  # a response
    poll()
    assert heard(staff) == [1] and heard(acme) == [1]
    poll()  # the look back overlaps: nothing is sent twice
    assert heard(staff) == [] and heard(acme) == []
    project(engine, 1, 4, public=False)  # a clock met, in a batch of its own
    poll()
    assert heard(staff) == [1] and heard(acme) == [] and heard(globex) == []


def test_a_feed_started_after_a_public_change_does_not_repeat_old_ones(engine: Engine) -> None:
    add_case(engine, 7, "acme")
    with engine.begin() as connection:  # its public part changed long ago
        connection.execute(
            update(CaseRecord)
            .where(col(CaseRecord.number) == 7)
            .values(public_changed_at=utcnow() - timedelta(hours=1))
        )
    feed = CaseFeed(engine)
    staff, acme = Subscriber(None), Subscriber("acme")
    feed._subscribers = {staff, acme}
    feed._since = utcnow() - timedelta(seconds=1)
    project(engine, 7, 2, public=False)
    for change in feed._poll():
        feed._publish(change)
    assert heard(staff) == [7] and heard(acme) == []
