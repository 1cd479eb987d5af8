"""Benchmark: business-time due instants, ours against the libraries a user might pick.

Run with `.venv/bin/python bench/business_time.py`. The peers (`workclock`,
`businesstimedelta`, `pandas`) are bench-only extras, never project dependencies:
`.venv/bin/pip install workclock businesstimedelta pandas`. A peer that is not
installed is skipped with a note.

Every engine gets the same seeded corpus of due-instant questions (start, duration,
calendar) and its most faithful equivalent of each calendar. Speed is calls per
second of the single-call API, best of a few rounds, with calendars built and warmed
up beforehand (a worker compiles a calendar once and keeps it). Agreement is against the brute-force
oracle in tests/policies/oracle.py on a fixed sample, comparing UTC instants rounded to
the nearest second. The last line printed is one JSON object.

Tierline is measured twice: the engine's own query (`BusinessCalendar.due` on a compiled
calendar held by the bench) and `due_at()`, the function the case workflow calls, given
the calendar of a plan snapshot as a workflow holds it: a shipped plan with the question's
calendar, deserialized from JSON once per simulated case (`--cases-per-calendar`), so
each case passes an object of its own that equals the others.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from datetime import time as clock
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from policies.business_time import compile_calendar, due_at  # noqa: E402
from policies.loading import load_catalogs  # noqa: E402
from policies.plan_snapshot import PlanSnapshot  # noqa: E402
from policies.resolution import resolve_plan  # noqa: E402
from policies.snapshot import CalendarSnapshot, TimeBasis  # noqa: E402
from tests.policies.oracle import Oracle, epoch_ceil, standard_calendars, utc  # noqa: E402

SEED = 20250101
CORPUS_SIZE = 100_000
CASES_PER_CALENDAR = 100
# The shipped plan whose snapshot carries each calendar in the due_at() measurement.
PLAN = ("us-software-002", "enterprise")
SAMPLE_SIZE = 2_000
# Each engine is timed for up to this many rounds over the corpus, and for about this
# long at most; a slow peer is timed on a prefix of the corpus and extrapolated.
TIMING_ROUNDS = 3
TIME_BUDGET_SECONDS = 10.0
HOUR = 3600
FIRST = epoch_ceil(datetime(2025, 1, 1, tzinfo=UTC))
LAST = epoch_ceil(datetime(2028, 1, 1, tzinfo=UTC))
OTHER_ZONES: list[tzinfo] = [
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("America/Sao_Paulo"),
    timezone(timedelta(hours=-3, minutes=-30)),
]
ALL_DAYS = range(7)
WEEKDAYS = range(5)


@dataclass(frozen=True)
class Case:
    calendar: str
    start: datetime
    seconds: int


def make_corpus(calendars: dict[str, CalendarSnapshot], size: int, seed: int) -> list[Case]:
    """Due-instant questions over 2025-2027: starts on whole minutes, half of them in UTC
    (as a workflow clock gives them), a quarter in the calendar's zone, a quarter
    elsewhere; durations from 30 minutes to 10 business days, half of them whole hours
    (as SLA targets usually are), half any whole minute."""
    rnd = random.Random(seed)
    names = sorted(calendars)
    cases = []
    for _ in range(size):
        name = rnd.choice(names)
        snapshot = calendars[name]
        roll = rnd.random()
        if roll < 0.5:
            zone: tzinfo = UTC
        elif roll < 0.75:
            zone = ZoneInfo(snapshot.zone)
        else:
            zone = rnd.choice(OTHER_ZONES)
        start = utc(60 * rnd.randrange(FIRST // 60, LAST // 60)).astimezone(zone)
        longest = 10 * snapshot.business_day_seconds
        if rnd.random() < 0.5:
            seconds = HOUR * rnd.randint(1, longest // HOUR)
        else:
            seconds = 60 * rnd.randint(30, longest // 60)
        cases.append(Case(name, start, seconds))
    return cases


def whole_hours(seconds: int) -> int:
    """pandas' CustomBusinessHour takes whole hours only."""
    return max(1, round(seconds / HOUR))


# Oracle answers, computed in parallel because the oracle walks minute by minute ----------

_ORACLES: dict[str, Oracle] = {}


def _oracle_due(question: tuple[str, datetime, int]) -> int:
    name, start, seconds = question
    if name not in _ORACLES:
        _ORACLES[name] = Oracle(standard_calendars()[name])
    return _ORACLES[name].due(start, seconds)


def oracle_answers(questions: Sequence[tuple[str, datetime, int]]) -> list[int]:
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_oracle_due, questions, chunksize=25))


# Engines ---------------------------------------------------------------------------------


# One question as this engine asks it: `function(a, b)` returns the due instant. Every
# engine is timed by the same loop over these rows, so harness overhead is equal.
Row = tuple[Callable[[Any, Any], Any], Any, Any]


@dataclass
class Engine:
    name: str
    version: str
    prepare: Callable[[list[Case]], list[Row]]
    notes: list[str] = field(default_factory=list)
    # Whether the engine is asked for whole hours instead of the real duration.
    whole_hours: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def asked(self, seconds: int) -> int:
        return HOUR * whole_hours(seconds) if self.whole_hours else seconds


def _ours(calendars: dict[str, CalendarSnapshot]) -> Engine:
    compiled = {name: compile_calendar(snapshot) for name, snapshot in calendars.items()}
    for name, calendar in compiled.items():
        started = time.perf_counter()
        calendar.due(datetime(2026, 1, 1, tzinfo=UTC), 1)
        for year in (2025, 2027, 2028):
            calendar.is_open(datetime(year, 6, 1, tzinfo=UTC))
        cold = time.perf_counter() - started
        print(f"  ours: {name} tables for 2025-2028 built in {cold * 1000:.1f} ms (once)")

    def prepare(cases: list[Case]) -> list[Row]:
        return [(compiled[case.calendar].due, case.start, case.seconds) for case in cases]

    return Engine("tierline", "local", prepare)


def _due_at(calendars: dict[str, CalendarSnapshot], cases_per_calendar: int) -> Engine:
    catalog_id, plan_id = PLAN
    plan = resolve_plan(load_catalogs()[catalog_id], plan_id, datetime(2026, 1, 1, tzinfo=UTC))
    # What each case workflow holds: its own plan, deserialized from its input.
    held: dict[str, list[CalendarSnapshot]] = {}
    for name, snapshot in calendars.items():
        payload = plan.model_copy(update={"calendar": snapshot}).model_dump_json()
        held[name] = [
            PlanSnapshot.model_validate_json(payload).calendar for _ in range(cases_per_calendar)
        ]
    asks = {
        name: [partial(due_at, basis=TimeBasis.business, snapshot=copy) for copy in copies]
        for name, copies in held.items()
    }

    def prepare(cases: list[Case]) -> list[Row]:
        return [
            (asks[case.calendar][index % cases_per_calendar], case.start, case.seconds)
            for index, case in enumerate(cases)
        ]

    return Engine(
        "tierline due_at()",
        "local",
        prepare,
        [
            f"due_at(start, seconds, business, plan.calendar) as the case workflow calls it, "
            f"on {cases_per_calendar} deserialized plan snapshots per calendar "
            f"({'/'.join(PLAN)} with the question's calendar)"
        ],
    )


def _workclock(calendars: dict[str, CalendarSnapshot]) -> Engine | str:
    try:
        import workclock
        from workclock import Holidays, Schedule, WorkDay
    except ImportError:
        return "workclock is not installed"

    def schedule(name: str) -> Any:
        snapshot = calendars[name]
        zone = snapshot.zone
        holidays = [Holidays(snapshot.closed_dates)] if snapshot.closed_dates else []
        rules = {
            "berlin_9_17_de": [WorkDay(clock(9), clock(17), days=WEEKDAYS)],
            "chicago_8_17_us": [WorkDay(clock(8), clock(17), days=WEEKDAYS)],
            # start == end is a shift from one local midnight to the next.
            "berlin_24x7": [WorkDay(clock(0), clock(0), days=ALL_DAYS)],
            "chicago_24x7": [WorkDay(clock(0), clock(0), days=ALL_DAYS)],
            "berlin_split": [
                WorkDay(clock(0, 30), clock(3, 30), days=ALL_DAYS),
                WorkDay(clock(18), clock(23), days=ALL_DAYS),
            ],
            "chicago_split": [
                WorkDay(clock(0), clock(2, 30), days=ALL_DAYS),
                WorkDay(clock(20), clock(0), days=ALL_DAYS),
            ],
        }[name]
        return Schedule([*rules, *holidays], time_zone=zone)

    schedules = {name: schedule(name) for name in calendars}

    def prepare(cases: list[Case]) -> list[Row]:
        return [
            (schedules[case.calendar].add, case.start, timedelta(seconds=case.seconds))
            for case in cases
        ]

    engine = Engine(
        "workclock",
        workclock.__version__,
        prepare,
        [
            "every calendar expressed (IANA zone, overnight shift to 24:00, holidays)",
            "reads a wall time skipped by spring-forward (02:30 in Chicago) as the shifted "
            "instant (03:30, as RFC 5545 does); the spec says it never occurs",
        ],
    )
    engine.extra["schedules"] = schedules
    return engine


def _businesstimedelta(calendars: dict[str, CalendarSnapshot]) -> Engine | str:
    try:
        import businesstimedelta as btd
        import pytz
    except ImportError:
        return "businesstimedelta is not installed"
    # It cannot say 24:00: an end equal to the start is an empty shift (and loops
    # forever), and an overnight shift is skipped once it has started. 23:59:59.999999
    # loses a microsecond a day, which rounding to the second forgives.
    midnight = clock(23, 59, 59, 999999)

    def rules(name: str) -> Any:
        snapshot = calendars[name]
        tz = pytz.timezone(snapshot.zone)

        def day(start: clock, end: clock, days: range) -> Any:
            return btd.WorkDayRule(start_time=start, end_time=end, working_days=list(days), tz=tz)

        hours = {
            "berlin_9_17_de": [day(clock(9), clock(17), WEEKDAYS)],
            "chicago_8_17_us": [day(clock(8), clock(17), WEEKDAYS)],
            "berlin_24x7": [day(clock(0), midnight, ALL_DAYS)],
            "chicago_24x7": [day(clock(0), midnight, ALL_DAYS)],
            "berlin_split": [
                day(clock(0, 30), clock(3, 30), ALL_DAYS),
                day(clock(18), clock(23), ALL_DAYS),
            ],
            "chicago_split": [
                day(clock(0), clock(2, 30), ALL_DAYS),
                day(clock(20), midnight, ALL_DAYS),
            ],
        }[name]
        # A set, not the `holidays` object, so it knows exactly the snapshot's dates.
        closed = [btd.HolidayRule(frozenset(snapshot.closed_dates), tz=tz)]
        return btd.Rules(hours + (closed if snapshot.closed_dates else []))

    all_rules = {name: rules(name) for name in calendars}

    def prepare(cases: list[Case]) -> list[Row]:
        # `start + BusinessTimeDelta(...)` is how its users ask.
        return [
            (
                operator.add,
                case.start,
                btd.BusinessTimeDelta(all_rules[case.calendar], seconds=case.seconds),
            )
            for case in cases
        ]

    return Engine(
        "businesstimedelta",
        metadata.version("businesstimedelta"),
        prepare,
        [
            "24:00 written as 23:59:59.999999 (it has no end-of-day time); a due instant "
            "at such an end then slips to the next opening",
        ],
    )


def _pandas(calendars: dict[str, CalendarSnapshot]) -> Engine | str:
    try:
        import pandas as pd
        from pandas.tseries.offsets import CustomBusinessHour
    except ImportError:
        return "pandas is not installed"
    every_day = "Mon Tue Wed Thu Fri Sat Sun"
    shapes: dict[str, dict[str, Any]] = {
        "berlin_9_17_de": {"start": "09:00", "end": "17:00"},
        "chicago_8_17_us": {"start": "08:00", "end": "17:00"},
        # Opening hours may not touch, and times are whole minutes: 24x7 is out of reach.
        "berlin_24x7": {"start": "00:00", "end": "23:59", "weekmask": every_day},
        "chicago_24x7": {"start": "00:00", "end": "23:59", "weekmask": every_day},
        "berlin_split": {
            "start": ["00:30", "18:00"],
            "end": ["03:30", "23:00"],
            "weekmask": every_day,
        },
        # One overnight interval is the same open time as 00:00-02:30 plus 20:00-24:00.
        "chicago_split": {"start": "20:00", "end": "02:30", "weekmask": every_day},
    }
    offsets: dict[tuple[str, int], Any] = {}

    def offset(name: str, hours: int) -> Any:
        # Building an offset costs more than applying it, so build each one once.
        key = (name, hours)
        if key not in offsets:
            snapshot = calendars[name]
            offsets[key] = CustomBusinessHour(
                hours, holidays=list(snapshot.closed_dates), **shapes[name]
            )
        return offsets[key]

    def in_zone(zone: str) -> Callable[[datetime, Any], datetime]:
        # Offsets work on the timestamp's own wall clock, so move it to the calendar's.
        def due(start: datetime, business_hours: Any) -> datetime:
            result: datetime = pd.Timestamp(start).tz_convert(zone) + business_hours
            return result

        return due

    dues = {name: in_zone(snapshot.zone) for name, snapshot in calendars.items()}

    def prepare(cases: list[Case]) -> list[Row]:
        return [
            (dues[case.calendar], case.start, offset(case.calendar, whole_hours(case.seconds)))
            for case in cases
        ]

    engine = Engine(
        "pandas CustomBusinessHour",
        pd.__version__,
        prepare,
        [
            "whole hours only: each duration rounded to the nearest hour (at least 1) and "
            "checked against the oracle for that rounded duration",
            "24x7 not expressible; given 00:00-23:59 every day",
            "wall-clock arithmetic: DST gaps raise, counted as disagreement",
            "offsets prebuilt per (calendar, hours); timing includes tz_convert",
        ],
    )
    engine.whole_hours = True
    return engine


# Measurement -----------------------------------------------------------------------------


def answer(row: Row) -> datetime | None:
    function, a, b = row
    try:
        result: datetime = function(a, b)
    except Exception:
        return None
    return result


def calls_per_second(rows: list[Row]) -> tuple[float, int]:
    """Best calls per second of a few rounds over all rows (fewer rounds, or a prefix
    of the rows, when the time budget runs out). The best round is the one least
    disturbed by whatever else the machine is doing."""
    best, timed = 0.0, 0
    deadline = time.perf_counter() + TIME_BUDGET_SECONDS
    for _ in range(TIMING_ROUNDS):
        done = 0
        started = time.perf_counter()
        for chunk in _chunks(rows, 500):
            for function, a, b in chunk:
                try:
                    function(a, b)
                except Exception:
                    pass
            done += len(chunk)
            if time.perf_counter() > deadline:
                break
        rate = done / (time.perf_counter() - started)
        if done == len(rows) or timed == 0:
            if rate > best:
                best, timed = rate, done
        if time.perf_counter() > deadline:
            break
    return best, timed


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def agreement(results: list[datetime | None], expected: list[int]) -> float:
    matches = sum(
        result is not None and round(result.timestamp()) == answer
        for result, answer in zip(results, expected, strict=True)
    )
    return matches / len(expected)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _load() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--cases-per-calendar",
        type=int,
        default=CASES_PER_CALENDAR,
        help="plan snapshot objects per calendar in the due_at() measurement "
        f"(default {CASES_PER_CALENDAR})",
    )
    args = parser.parse_args()
    load_at_start = _load()
    calendars = standard_calendars()
    corpus = make_corpus(calendars, CORPUS_SIZE, SEED)
    sample = corpus[:SAMPLE_SIZE]
    print(f"corpus: {CORPUS_SIZE} due-instant questions on {len(calendars)} calendars")
    print("building engines")
    engines: list[Engine] = [_ours(calendars), _due_at(calendars, args.cases_per_calendar)]
    skipped: dict[str, str] = {}
    for build in (_workclock, _businesstimedelta, _pandas):
        built = build(calendars)
        if isinstance(built, str):
            skipped[build.__name__.strip("_")] = built
        else:
            engines.append(built)

    print(f"oracle: answering the {SAMPLE_SIZE}-case sample (minute walk, {os.cpu_count()} procs)")
    started = time.perf_counter()
    exact = oracle_answers([(case.calendar, case.start, case.seconds) for case in sample])
    answers = {False: exact, True: list(exact)}
    if any(engine.whole_hours for engine in engines):
        # Ask again only where rounding to whole hours changed the duration.
        changed = [i for i, case in enumerate(sample) if case.seconds % HOUR]
        rounded = oracle_answers(
            [
                (sample[i].calendar, sample[i].start, HOUR * whole_hours(sample[i].seconds))
                for i in changed
            ]
        )
        for i, due in zip(changed, rounded, strict=True):
            answers[True][i] = due
    print(f"oracle: done in {time.perf_counter() - started:.1f} s")

    report: dict[str, dict[str, Any]] = {}
    for engine in engines:
        rows = engine.prepare(corpus)
        for row in rows[:1000]:
            answer(row)
        rate, timed = calls_per_second(rows)
        results = [answer(row) for row in rows[:SAMPLE_SIZE]]
        expected = answers[engine.whole_hours]
        agree = agreement(results, expected)
        by_calendar = {
            name: agreement(
                [r for r, case in zip(results, sample, strict=True) if case.calendar == name],
                [e for e, case in zip(expected, sample, strict=True) if case.calendar == name],
            )
            for name in sorted(calendars)
        }
        entry: dict[str, Any] = {
            "version": engine.version,
            "calls_per_s": round(rate),
            "timed_calls": timed,
            "extrapolated": timed < len(rows),
            "agreement": agree,
            "errors": sum(result is None for result in results),
            "notes": engine.notes,
            "agreement_by_calendar": by_calendar,
        }
        if engine.name == "workclock":
            entry["batch_items_per_s"] = _workclock_batch_rate(engine, corpus)
        report[engine.name] = entry

    ours = report.pop("tierline")
    workflow = report.pop("tierline due_at()")
    fastest = max((peer["calls_per_s"] for peer in report.values()), default=None)
    ratio = round(ours["calls_per_s"] / fastest, 2) if fastest else None
    due_at_ratio = round(workflow["calls_per_s"] / fastest, 2) if fastest else None
    ours_rows = [("tierline (ours)", ours), ("tierline due_at()", workflow)]

    print()
    print(f"{'engine':<28}{'calls/s':>12}{'timed calls':>13}{'agreement':>11}{'errors':>8}")
    for name, entry in [*ours_rows, *report.items()]:
        count = f"{entry['timed_calls']}{'*' if entry['extrapolated'] else ''}"
        print(
            f"{name:<28}{entry['calls_per_s']:>12,}{count:>13}"
            f"{entry['agreement']:>10.2%}{entry['errors']:>8}"
        )
    print("* timed on a prefix of the corpus and extrapolated to calls per second")
    print("agreement by calendar:")
    for name, entry in [*ours_rows, *report.items()]:
        cells = ", ".join(
            f"{cal} {share:.1%}" for cal, share in entry["agreement_by_calendar"].items()
        )
        print(f"  {name}: {cells}")
    print("notes:")
    for name, entry in [("tierline due_at()", workflow), *report.items()]:
        for note in entry["notes"]:
            print(f"  {name}: {note}")
        if "batch_items_per_s" in entry:
            print(
                f"  {name}: add_many batch API, not a per-call figure: "
                f"{entry['batch_items_per_s']:,} items/s"
            )
    for name, reason in skipped.items():
        print(f"  skipped {name}: {reason}")
    print(f"ours / fastest peer (calls per second): {ratio}")
    print(
        f"due_at() / fastest peer: {due_at_ratio}; due_at() / engine: "
        f"{workflow['calls_per_s'] / ours['calls_per_s']:.2f}"
    )
    print(
        json.dumps(
            {
                "machine": machine(),
                "load_average": {"start": load_at_start, "end": _load()},
                "corpus": CORPUS_SIZE,
                "sample": SAMPLE_SIZE,
                "ours_calls_per_s": ours["calls_per_s"],
                "ours_agreement": ours["agreement"],
                "due_at_calls_per_s": workflow["calls_per_s"],
                "due_at_agreement": workflow["agreement"],
                "due_at_errors": workflow["errors"],
                "due_at_snapshots": args.cases_per_calendar * len(calendars),
                "peers": {
                    name: {
                        key: entry[key]
                        for key in (
                            "version",
                            "calls_per_s",
                            "agreement",
                            "timed_calls",
                            "errors",
                            "batch_items_per_s",
                        )
                        if key in entry
                    }
                    for name, entry in report.items()
                },
                "skipped": skipped,
                "ratio_to_fastest_peer": ratio,
                "due_at_ratio_to_fastest_peer": due_at_ratio,
            }
        )
    )


def _workclock_batch_rate(engine: Engine, corpus: list[Case]) -> int:
    schedules = engine.extra["schedules"]
    by_calendar: dict[str, tuple[list[datetime], list[timedelta]]] = {}
    for case in corpus:
        starts, deltas = by_calendar.setdefault(case.calendar, ([], []))
        starts.append(case.start)
        deltas.append(timedelta(seconds=case.seconds))
    started = time.perf_counter()
    for name, (starts, deltas) in by_calendar.items():
        schedules[name].add_many(starts, deltas)
    return round(len(corpus) / (time.perf_counter() - started))


if __name__ == "__main__":
    main()
