"""Evidence bundles from the stored real histories: intact, and every edit found and named."""

from __future__ import annotations

import base64
import copy
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from audit.evidence import (
    FORMAT,
    VERSION,
    bundle_filename,
    canonical,
    event_type_name,
    export_case_bundle,
    render,
    sha256_hex,
)
from audit.evidence import build_bundle as build
from audit.evidence import verify_bundle as verify
from policies.plan_snapshot import PlanSnapshot

HISTORIES = Path(__file__).parents[1] / "histories"
EXPORTED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
# Case 111's two runs exported by `export_case_bundle(..., "ada", EXPORTED_AT)` before the
# export time and exporter left the chain (version 1), and the head it printed then.
VERSION_1_BUNDLE = Path(__file__).parent / "bundles" / "case-111.v1.evidence.json"
VERSION_1_HEAD = "8888af20dc7256353518943edbf82619c502b7ac91a0dadfccf153ae3e9896bb"
MARK = "@@evidence-test-mark@@"


def start_input(text: str) -> dict[str, Any]:
    first = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    decoded: dict[str, Any] = json.loads(base64.b64decode(first["input"]["payloads"][0]["data"]))
    return decoded


def case_runs(*stems: str) -> tuple[int, list[WorkflowHistory], dict[str, Any]]:
    """The case number, its runs and the plan it started with, from stored histories."""
    texts = [(HISTORIES / f"{stem}.json").read_text() for stem in stems]
    first = start_input(texts[0])["open"]
    number = first["number"]
    runs = [WorkflowHistory.from_json(f"case-{number}", text) for text in texts]
    plan = PlanSnapshot.model_validate(first["plan"]).model_dump(mode="json")
    return number, runs, plan


def timeline_of(number: int) -> dict[str, Any]:
    # A stand-in with the shape of a timeline; the bundle treats it as opaque JSON.
    return {
        "case": number,
        "entries": [
            {"seq": 1, "at": "2026-11-22T03:18:42Z", "kind": "opened", "actor": "ann"},
            {"seq": 2, "at": "2026-11-22T03:19:02Z", "kind": "responded", "actor": "bob"},
        ],
    }


@pytest.fixture(scope="module")
def bundle() -> bytes:
    number, runs, plan = case_runs("continued-as-new-1", "continued-as-new-2")
    return build(number, runs, timeline_of(number), plan, EXPORTED_AT, "ada")


def offset_of(document: dict[str, Any], path: tuple[str | int, ...]) -> int:
    """Where the value at `path` starts in the rendered bundle: rendering is deterministic,
    so everything before a marker put in its place is the same bytes as before."""
    marked = copy.deepcopy(document)
    holder: Any = marked
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = MARK
    return render(marked).index(json.dumps(MARK).encode())


def edit_byte(data: bytes, offset: int) -> bytes:
    """Change one byte of a value's text into another character that keeps the JSON valid."""
    for position in range(offset, offset + 80):
        if chr(data[position]).isalnum():
            changed = data[position] ^ 0x01
            return data[:position] + bytes([changed]) + data[position + 1 :]
    raise AssertionError("no letter or digit to edit")


def test_bundle_of_two_runs_is_intact_and_readable(bundle: bytes) -> None:
    report = verify(bundle)

    assert report.intact, report.summary()
    assert (report.case, report.workflow_id, report.runs, report.events) == (
        111,
        "case-111",
        2,
        121,
    )
    document = json.loads(bundle)
    assert (document["format"], document["version"]) == (FORMAT, VERSION)
    assert document["export"]["exported_at"] == "2026-11-23T09:30:00Z"
    assert document["export"]["exported_by"] == "ada"
    assert "not covered by the head" in document["export"]["note"]
    assert [run["run_id"] for run in document["runs"]] == [
        "01a20143-6017-7c18-9fc8-199214272c7a",
        "cfb5d998-ce44-42a6-9cf9-e327d562242e",
    ]
    assert document["manifest"]["head"] == report.head
    assert bundle_filename(111) == "case-111.evidence.json"
    assert bundle.count(b"\n") > 1000  # indented for a human, not one long line


def test_the_chain_can_be_recomputed_by_hand(bundle: bytes) -> None:
    document = json.loads(bundle)
    # The header the chain starts from is the case's record only: nothing about the export.
    assert sorted(document["header"]) == [
        "case",
        "policy_snapshot_sha256",
        "runs",
        "timeline_sha256",
        "workflow_id",
    ]
    digest = sha256_hex(canonical(document["header"]))
    assert document["manifest"]["parts"]["header"] == digest
    for run in document["runs"]:
        for event in run["history"]["events"]:
            digest = sha256_hex(digest.encode() + canonical(event))
    assert digest == document["manifest"]["head"]
    assert document["manifest"]["parts"]["timeline"] == sha256_hex(
        json.dumps(document["timeline"], sort_keys=True, separators=(",", ":")).encode()
    )


@pytest.mark.parametrize(
    "stem", sorted(p.stem for p in HISTORIES.glob("*.json") if "continued-as-new" not in p.stem)
)
def test_every_stored_history_makes_an_intact_bundle(stem: str) -> None:
    number, runs, plan = case_runs(stem)

    report = verify(build(number, runs, timeline_of(number), plan, EXPORTED_AT, "ada"))

    assert report.intact, report.summary()
    assert report.events == len(runs[0].events)


def event_label(document: dict[str, Any], run: int, index: int) -> str:
    event = document["runs"][run]["history"]["events"][index]
    return f"runs[{run}] event {event['eventId']} ({event_type_name(event)})"


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("runs", 1, "history", "events", 22, "eventTime"), None),
        (("runs", 0, "history", "events", 6, "eventTime"), None),
        (("runs", 0, "history", "events", 0, "eventTime"), None),
        (("runs", 1, "history", "events", 53, "eventTime"), None),
        (("timeline", "entries", 1, "kind"), "timeline"),
        (("policy_snapshot", "plan_name"), "policy snapshot"),
        (("policy_snapshot", "calendar", "zone"), "policy snapshot"),
        (("header", "workflow_id"), "header"),
        (("header", "runs", 0, "run_id"), "header"),
        (("export", "exported_at"), "export"),
        (("export", "exported_by"), "export"),
        (("export", "note"), "export"),
        (("runs", 1, "run_id"), "runs[1]"),
        (("manifest", "head"), "manifest head"),
        (("manifest", "digest"), "manifest digest"),
        (("manifest", "parts", "timeline"), "manifest parts.timeline"),
        (("manifest", "parts", "runs[0]"), "manifest parts.runs[0]"),
        (("manifest", "chain", 1, "links", 4), "manifest chain runs[1] event 5"),
        (("manifest", "chain_rule"), "manifest chain_rule"),
        (("manifest", "export_rule"), "manifest export_rule"),
        (("manifest", "parts", "export"), "manifest parts.export"),
        (("format",), "format"),
    ],
)
def test_an_edited_byte_is_found_and_its_part_named(
    bundle: bytes, path: tuple[str | int, ...], named: str | None
) -> None:
    document = json.loads(bundle)
    if named is None:
        named = event_label(document, int(path[1]), int(path[4]))

    edited = edit_byte(bundle, offset_of(document, path))
    report = verify(edited)

    assert edited != bundle
    assert not report.intact
    assert len(report.edited) == 1, report.summary()
    assert report.edited[0].startswith(named), report.summary()


def test_an_event_edit_names_the_event_type(bundle: bytes) -> None:
    document = json.loads(bundle)
    event = document["runs"][1]["history"]["events"][22]
    event["eventTime"] = "2026-11-22T03:20:00Z"

    report = verify(render(document))

    assert report.edited == [f"runs[1] event 23 ({event_type_name(event)})"]
    assert event_type_name({"eventType": "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"}) == (
        "ActivityTaskScheduled"
    )


@pytest.mark.parametrize(("run", "index"), [(0, 4), (1, 30), (1, 53)])
def test_a_removed_event_breaks_the_chain(bundle: bytes, run: int, index: int) -> None:
    document = json.loads(bundle)
    label = event_label(document, run, index)
    del document["runs"][run]["history"]["events"][index]

    report = verify(render(document))

    assert not report.intact
    assert report.edited == [label], report.summary()
    assert "the file has" in report.problems[0].detail


def test_swapped_events_are_both_named(bundle: bytes) -> None:
    document = json.loads(bundle)
    events = document["runs"][0]["history"]["events"]
    labels = [event_label(document, 0, 9), event_label(document, 0, 10)]
    events[9], events[10] = events[10], events[9]

    assert verify(render(document)).edited == labels


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "not JSON (empty file"),
        (b" \n", "not JSON (empty file"),
        (b"case 42, all fine", "not JSON (corrupt"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
    ],
)
def test_not_a_bundle_at_all(data: bytes, detail: str) -> None:
    report = verify(data)

    assert not report.intact
    assert report.edited == ["file"]
    assert detail in report.problems[0].detail


def test_other_json_is_not_a_bundle() -> None:
    report = verify(b'{"events": []}')

    assert report.edited == ["format"]
    assert "not a tierline-evidence-bundle" in report.summary()


def test_a_truncated_bundle_says_so(bundle: bytes) -> None:
    for keep in (len(bundle) // 3, len(bundle) - 2):
        report = verify(bundle[:keep])

        assert report.edited == ["file"]
        assert "truncated" in report.problems[0].detail


def test_a_missing_part_is_named(bundle: bytes) -> None:
    document = json.loads(bundle)
    del document["timeline"]

    assert verify(render(document)).edited == ["timeline"]


def test_a_change_that_keeps_every_value_is_still_caught(bundle: bytes) -> None:
    reindented = json.dumps(json.loads(bundle), indent=4, sort_keys=True).encode()

    for changed in (bundle + b"\n", bundle.replace(b'"case": 111', b'"case":111', 1), reindented):
        report = verify(changed)
        assert report.edited == ["file layout"], report.summary()


def test_bytes_flipped_anywhere_are_always_caught(bundle: bytes) -> None:
    rng = random.Random(20261123)
    for offset in sorted(rng.sample(range(len(bundle)), 120)):
        flipped = (
            bundle[:offset]
            + bytes([bundle[offset] ^ (1 << rng.randrange(8))])
            + bundle[offset + 1 :]
        )
        report = verify(flipped)
        assert not report.intact, f"byte {offset} flipped and not caught"
        assert report.problems


def test_a_bundle_rewritten_wholesale_needs_the_recorded_head(bundle: bytes) -> None:
    number, runs, plan = case_runs("continued-as-new-1", "continued-as-new-2")
    head = verify(bundle).head
    forged_timeline = timeline_of(number)
    forged_timeline["entries"].pop()
    forged = build(number, runs, forged_timeline, plan, EXPORTED_AT, "ada")

    assert verify(forged).intact  # every digest recomputed: only the head tells
    assert verify(forged, expected_head=head).edited == ["manifest head"]
    assert verify(bundle, expected_head=head).intact


def test_the_snapshot_must_be_the_plan_the_case_started_with() -> None:
    number, runs, plan = case_runs("opened")
    other = copy.deepcopy(plan)
    other["plan_name"] = "Something else"

    with pytest.raises(ValueError, match="policy snapshot: is not the plan runs\\[0\\] started"):
        build(number, runs, timeline_of(number), other, EXPORTED_AT, "ada")


def test_runs_of_another_case_or_out_of_order_are_refused() -> None:
    number, runs, plan = case_runs("continued-as-new-1", "continued-as-new-2")
    _, opened, _ = case_runs("opened")

    with pytest.raises(ValueError, match="not case-111"):
        build(number, [runs[0], *opened], timeline_of(number), plan, EXPORTED_AT, "ada")
    renamed = WorkflowHistory(f"case-{number}", opened[0].events)
    with pytest.raises(ValueError, match="runs\\[1\\]: starts case 101, not 111"):
        build(number, [runs[0], renamed], timeline_of(number), plan, EXPORTED_AT, "ada")
    with pytest.raises(ValueError, match="does not continue the run before it"):
        build(number, runs[::-1], timeline_of(number), plan, EXPORTED_AT, "ada")


def test_a_bundle_with_the_real_timeline_and_plan() -> None:
    number, runs, _ = case_runs("continued-as-new-1", "continued-as-new-2")

    bundle = export_case_bundle(runs, "ada", EXPORTED_AT)
    report = verify(bundle)

    assert report.intact, report.summary()
    document = json.loads(bundle)
    assert document["timeline"]["number"] == number
    assert document["timeline"]["runs"] == [run["run_id"] for run in document["runs"]]
    assert document["policy_snapshot"]["plan_id"] == document["timeline"]["policy"]["plan_id"]


def test_a_timeline_of_another_case_is_refused() -> None:
    number, runs, plan = case_runs("opened")
    other = {"number": number + 1, "case_id": f"case-{number + 1}", "runs": [], "entries": []}

    with pytest.raises(ValueError, match="timeline: is not the timeline of case"):
        build(number, runs, other, plan, EXPORTED_AT, "ada")


def reordered(value: Any) -> Any:
    """The same JSON with every object's keys in reverse insertion order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


def without_export(bundle: bytes) -> dict[str, Any]:
    """The bundle less what the head does not cover: the export block and its digests."""
    document: dict[str, Any] = json.loads(bundle)
    del document["export"], document["manifest"]["parts"]["export"]
    del document["manifest"]["digest"]
    return document


def test_the_same_case_exported_twice_has_the_same_head() -> None:
    number, runs, plan = case_runs("continued-as-new-1", "continued-as-new-2")
    later = datetime(2027, 2, 1, 17, 5, 9, 123456, tzinfo=UTC)

    first = export_case_bundle(runs, "ada", EXPORTED_AT)
    second = export_case_bundle(runs, "admin", later)

    assert first != second
    assert verify(first).head == verify(second).head == json.loads(first)["manifest"]["head"]
    assert without_export(first) == without_export(second)
    assert json.loads(second)["export"]["exported_at"] == "2027-02-01T17:05:09.123456Z"
    # The head noted at one export verifies any other export of the same record.
    assert verify(second, expected_head=verify(first).head).intact
    # Key order in what the caller hands over does not reach the chain either.
    timeline = timeline_of(number)
    built = build(number, runs, timeline, plan, EXPORTED_AT, "ada")
    rebuilt = build(number, runs, reordered(timeline), reordered(plan), later, "bob")
    assert verify(rebuilt).head == verify(built).head


@pytest.mark.parametrize("stems", [("opened",), ("continued-as-new-1", "continued-as-new-2")])
def test_a_case_that_gained_an_event_has_another_head(stems: tuple[str, ...]) -> None:
    _, runs, _ = case_runs(*stems)
    last = runs[-1]
    before = [*runs[:-1], WorkflowHistory(last.workflow_id, last.events[:-1])]

    earlier = export_case_bundle(before, "ada", EXPORTED_AT)
    now = export_case_bundle(runs, "ada", EXPORTED_AT)

    assert verify(earlier).intact and verify(now).intact
    assert verify(now).head != verify(earlier).head
    assert verify(now, expected_head=verify(earlier).head).edited == ["manifest head"]


def test_an_edited_export_is_named_and_is_no_edit_of_the_record(bundle: bytes) -> None:
    head = verify(bundle).head
    document = json.loads(bundle)
    document["export"]["exported_at"] = "2026-11-24T09:30:00Z"

    report = verify(render(document), expected_head=head)

    assert report.edited == ["export"], report.summary()
    assert "head" in report.problems[0].detail
    assert report.head == head

    # An edit of the record beside it is named too, not hidden behind the export's.
    document["timeline"]["entries"][0]["actor"] = "mallory"
    assert verify(render(document), expected_head=head).edited == ["timeline", "export"]


def test_an_export_block_rewritten_with_its_digests_passes_even_with_the_head(
    bundle: bytes,
) -> None:
    # By design: the head stands for the case's record, not for when or by whom the file
    # was exported, so that block can be rewritten as any unpinned part can.
    number, runs, plan = case_runs("continued-as-new-1", "continued-as-new-2")
    head = verify(bundle).head
    rewritten = build(
        number, runs, timeline_of(number), plan, datetime(2020, 1, 1, tzinfo=UTC), "mallory"
    )

    assert verify(rewritten, expected_head=head).intact


def test_a_bundle_of_version_1_still_verifies() -> None:
    bundle = VERSION_1_BUNDLE.read_bytes()

    report = verify(bundle, expected_head=VERSION_1_HEAD)

    assert report.intact, report.summary()
    assert (report.case, report.runs, report.events, report.head) == (111, 2, 121, VERSION_1_HEAD)
    document = json.loads(bundle)
    assert document["version"] == 1 and "export" not in document
    assert document["header"]["exported_at"] == "2026-11-23T09:30:00Z"
    assert verify(bundle, expected_head="0" * 64).edited == ["manifest head"]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("runs", 1, "history", "events", 22, "eventTime"), "runs[1] event 23 ("),
        (("runs", 0, "history", "events", 0, "eventTime"), "runs[0] event 1 ("),
        (("timeline", "entries", 1, "kind"), "timeline"),
        (("policy_snapshot", "plan_name"), "policy snapshot"),
        # In version 1 the export time is in the header, and so in the chain.
        (("header", "exported_at"), "header"),
        (("header", "exported_by"), "header"),
        (("manifest", "head"), "manifest head"),
        (("manifest", "parts", "timeline"), "manifest parts.timeline"),
        (("manifest", "chain", 1, "links", 4), "manifest chain runs[1] event 5"),
    ],
)
def test_an_edit_of_a_version_1_bundle_is_named_as_before(
    path: tuple[str | int, ...], named: str
) -> None:
    bundle = VERSION_1_BUNDLE.read_bytes()

    report = verify(edit_byte(bundle, offset_of(json.loads(bundle), path)))

    assert len(report.edited) == 1, report.summary()
    assert report.edited[0].startswith(named), report.summary()


def test_a_version_1_bundle_does_not_take_an_export_block() -> None:
    document = json.loads(VERSION_1_BUNDLE.read_bytes())
    document["export"] = {"exported_at": "2026-11-24T09:30:00Z", "exported_by": "ada"}

    assert verify(render(document)).edited == ["export"]


def test_an_unknown_version_or_an_extra_part_is_named(bundle: bytes) -> None:
    document = json.loads(bundle)
    document["version"] = VERSION + 1

    report = verify(render(document))
    assert report.edited == ["version"]
    assert f"version {VERSION + 1}" in report.problems[0].detail

    document = json.loads(bundle)
    document["comment"] = "checked by ada"
    assert verify(render(document)).edited == ["comment"]
