"""Case lists straight on the read model (SQLite and PostgreSQL): text search through its
index, a capped count for common words, and every filter combined with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from api.cases import TEXT_COUNT_CAP, CaseFilters, list_cases
from db.read_model import CaseRecord
from models.case import CaseStatus

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def rows(count: int) -> list[dict[str, object]]:
    """Cases numbered 1..count: every one mentions a report, every tenth a proxy."""
    made = []
    for number in range(1, count + 1):
        made.append(
            {
                "number": number,
                "case_id": f"case-{number}",
                "organisation": "acme" if number % 2 else "globex",
                "company_name": "Acme",
                "title": f"Report {number} fails" + (" behind a Proxy" if number % 10 == 0 else ""),
                "details": "The monthly report stops at page two.",
                "severity": "high",
                "status": "tier2" if number % 3 else "closed",
                "tier": 2,
                "assignee": None,
                "breached": False,
                "next_due_at": NOW + timedelta(hours=number % 48),
                "opened_at": NOW,
                "updated_at": NOW,
                "seq": 1,
                "view": {},
            }
        )
    return made


def test_text_search_counts_up_to_the_cap_and_pages_newest_first(read_model: Engine) -> None:
    total = TEXT_COUNT_CAP + 200
    with read_model.begin() as connection:
        connection.execute(insert(CaseRecord), rows(total))

    common = list_cases(read_model, CaseFilters(text="REPORT"), limit=5, offset=0)
    assert (common.total, common.total_capped) == (TEXT_COUNT_CAP, True)
    assert [item.number for item in common.items] == [total - i for i in range(5)]

    rare = list_cases(read_model, CaseFilters(text="proxy"), limit=200, offset=0)
    assert (rare.total, rare.total_capped) == (total // 10, False)
    assert all(item.number % 10 == 0 for item in rare.items)

    narrowed = CaseFilters(text="proxy page", organisation="globex", statuses=[CaseStatus.closed])
    found = list_cases(read_model, narrowed, limit=200, offset=0)
    expected = [n for n in range(total, 0, -1) if n % 10 == 0 and n % 3 == 0]
    assert [item.number for item in found.items] == expected
    assert (found.total, found.total_capped) == (len(expected), False)

    # Without text the count is exact, however many match.
    everything = list_cases(read_model, CaseFilters(), limit=1, offset=0)
    assert (everything.total, everything.total_capped) == (total, False)
    due = CaseFilters(due_before=NOW + timedelta(hours=1), breached=False)
    assert list_cases(read_model, due, limit=1, offset=0).total == len(
        [n for n in range(1, total + 1) if n % 48 == 0]
    )


def test_percent_underscore_and_backslash_in_q_match_only_themselves(read_model: Engine) -> None:
    """`q` words are literal text, on both databases and for short and long words alike."""
    titles = {
        1: "Uptime 99 percent",
        2: "Discount 50% off",
        3: "Field user_id empty",
        4: "Field userXid empty",
        5: r"Path C:\temp missing",
        6: "Path C:xtemp missing",
    }
    made = rows(len(titles))
    for row in made:
        row["title"] = titles[int(str(row["number"]))]
        row["details"] = ""
    with read_model.begin() as connection:
        connection.execute(insert(CaseRecord), made)

    def found(text: str) -> set[int]:
        page = list_cases(read_model, CaseFilters(text=text), limit=50, offset=0)
        return {item.number for item in page.items}

    assert found("per%nt") == set()
    assert found("%") == {2}
    assert found("0%") == {2}
    assert found("50%") == {2}
    assert found("r_id") == {3}
    assert found("_") == {3}
    assert found("user_id") == {3}
    assert found("C:\\temp") == {5}
    assert found("\\") == {5}
