"""Evidence bundles: one case in one self-contained JSON file that can be checked offline.

A bundle (`case-<n>.evidence.json`) holds every run's Temporal history (oldest first, as
`WorkflowHistory.to_json()` gives it), the policy snapshot that applied, the case's
timeline, a header, an export block and a manifest:

- `header`: the case's record in brief: its number and workflow id, its runs with their
  event counts, and the digests of the policy snapshot and of the timeline. Nothing about
  the export.
- `export`: when and by whom the file was exported, outside the chain (see below).
- `parts`: SHA-256 of the canonical JSON of the header, each run, the policy snapshot, the
  timeline and the export block. Canonical JSON: sorted keys, no whitespace, UTF-8
  (Python's `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
- `chain`: a hash chain over every history event, carried across runs in order:
  h_0 = sha256(canonical(header)), h_i = sha256(hex(h_{i-1}) + canonical(event_i)), hex
  digests as ASCII text. One link per event, written "<eventId> <EventType> <h_i>", so an
  edit is located to the event.
- `head`: the last link, the one digest that stands for the case's record: its histories,
  and through the header its policy snapshot and timeline. It depends on nothing else
  (not the export time, the exporter, the server, nor the key order or spacing of what
  the bundle was built from), so every export of the same case gives the same head until
  the case gains an event, and then another. Recorded elsewhere (a ticket, a signed
  e-mail), it proves the record was not rewritten wholesale: pass it to
  `verify_bundle(..., expected_head=...)`. The timeline and snapshot are in the JSON form
  this code renders them in; a release that changes that form changes the head too.
- `digest`: SHA-256 of the manifest's own canonical JSON without this field, so an edit
  to the manifest is told apart from an edit to what it describes.

Why the export block has a digest of its own (`parts.export`) but is not in the chain: in
the chain, each export of a case had a head of its own (version 1), so a head noted at one
export could vouch for no other. Out of every digest, an edit of it (even a flipped byte)
would pass, where every other byte of a bundle is checked. So it is guarded as the
manifest guards itself: `verify_bundle` names an edited export time or exporter as the
part `export` (the file is not intact), reports any edit of the record beside it, and the
head is unaffected. Like every part the head does not pin, the block can be rewritten
along with its digests: when and by whom a file was exported is evidence only as far as
the place where its head was recorded says so.

The file is written with sorted keys and two-space indents; a verified bundle must be
byte for byte that rendering of its content, so even an edit that changes no value
(whitespace, an escape, key order) is caught.

Version 1 bundles, exported before the export block existed, have `exported_at` and
`exported_by` in the header and so in the chain. They still verify by the same rules,
their head still the one printed at their export.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from models.case import case_workflow_id
from policies.plan_snapshot import PlanSnapshot

FORMAT = "tierline-evidence-bundle"
VERSION = 2
CANONICAL_JSON = "sorted keys, no whitespace, UTF-8"
CHAIN_RULE = (
    "h_0 = sha256(canonical(header)); h_i = sha256(ascii(hex(h_{i-1})) + canonical(event_i)) "
    "over every event of every run in order; link = '<eventId> <EventType> <hex(h_i)>'"
)
EXPORT_RULE = (
    "export is outside the chain: parts.export = sha256(canonical(export)), covered by the "
    "manifest digest but not by the head, which is the same for every export of the record"
)
EXPORT_NOTE = (
    "When and by whom this file was exported: not covered by the head, which stands for "
    "the case's record alone; guarded only by the manifest's parts.export."
)


def bundle_filename(number: int) -> str:
    return f"case-{number}.evidence.json"


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (lone surrogates kept, so any parsed value hashes)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render(document: dict[str, Any]) -> bytes:
    """The one byte layout of a bundle: sorted keys, two-space indents, final newline."""
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "surrogatepass")


def event_type_name(event: dict[str, Any]) -> str:
    """'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' -> 'ActivityTaskScheduled'."""
    raw = event.get("eventType")
    if isinstance(raw, int):
        try:
            raw = EventType.Name(EventType.ValueType(raw))
        except ValueError:
            return f"EventType{raw}"
    if not isinstance(raw, str) or not raw:
        return "Unknown"
    words = raw.removeprefix("EVENT_TYPE_").split("_")
    return "".join(word.capitalize() for word in words)


def _event_id(event: dict[str, Any], position: int) -> str:
    value = event.get("eventId")
    return str(value) if isinstance(value, str | int) else f"#{position + 1}"


def _link(previous: str, event: dict[str, Any], position: int) -> str:
    digest = sha256_hex(previous.encode("ascii") + canonical(event))
    return f"{_event_id(event, position)} {event_type_name(event)} {digest}"


def _link_digest(link: str) -> str:
    return link.rsplit(" ", 1)[-1]


def _link_label(link: str) -> str:
    """'23 ActivityTaskScheduled <hex>' -> 'event 23 (ActivityTaskScheduled)'."""
    parts = link.split(" ")
    if len(parts) != 3:
        return "event ?"
    return f"event {parts[0]} ({parts[1]})"


def _manifest(
    header: dict[str, Any],
    runs: list[dict[str, Any]],
    policy_snapshot: Any,
    timeline: Any,
    export: Any,
) -> dict[str, Any]:
    """The manifest that this content calls for; `export` is None in a version 1 bundle."""
    h0 = sha256_hex(canonical(header))
    parts = {"header": h0}
    chain: list[dict[str, Any]] = []
    previous = h0
    for index, run in enumerate(runs):
        parts[f"runs[{index}]"] = sha256_hex(canonical(run))
        links: list[str] = []
        for position, event in enumerate(_events(run)):
            link = _link(previous, event, position)
            links.append(link)
            previous = _link_digest(link)
        chain.append({"run": index, "links": links})
    parts["policy_snapshot"] = sha256_hex(canonical(policy_snapshot))
    parts["timeline"] = sha256_hex(canonical(timeline))
    manifest: dict[str, Any] = {
        "algorithm": "sha256",
        "canonical_json": CANONICAL_JSON,
        "chain_rule": CHAIN_RULE,
        "parts": parts,
        "chain": chain,
        "head": previous,
    }
    if export is not None:
        parts["export"] = sha256_hex(canonical(export))
        manifest["export_rule"] = EXPORT_RULE
    manifest["digest"] = _manifest_digest(manifest)
    return manifest


def _manifest_digest(manifest: dict[str, Any]) -> str:
    return sha256_hex(canonical({k: v for k, v in manifest.items() if k != "digest"}))


def _events(run: Any) -> list[Any]:
    history = run.get("history") if isinstance(run, dict) else None
    events = history.get("events") if isinstance(history, dict) else None
    return events if isinstance(events, list) else []


def _start_input(events: list[Any]) -> dict[str, Any] | None:
    """The case workflow's input (`CaseStart` as JSON), decoded from the first event."""
    try:
        attributes = events[0]["workflowExecutionStartedEventAttributes"]
        payload = attributes["input"]["payloads"][0]
        decoded = json.loads(base64.b64decode(payload["data"]))
    except (LookupError, TypeError, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _started_case(start: dict[str, Any]) -> tuple[int | None, Any]:
    """Case number and plan from a `CaseStart`: a new case or a carried-over state."""
    body = start.get("open") or start.get("carried")
    if not isinstance(body, dict):
        return None, None
    number = body.get("number")
    return (number if isinstance(number, int) else None), body.get("plan")


def build_bundle(
    number: int,
    histories: list[WorkflowHistory],
    timeline: dict[str, Any],
    policy_snapshot: dict[str, Any],
    exported_at: datetime,
    exported_by: str,
) -> bytes:
    """One case as an evidence bundle; refuses histories that are not this case's runs.

    `histories` are the case's runs, oldest first; `timeline` and `policy_snapshot` are
    the JSON forms of `audit.timeline.timeline(histories)` and the case's `PlanSnapshot`.
    """
    if not histories:
        raise ValueError("a bundle needs at least one run")
    if exported_at.tzinfo is None:
        raise ValueError("exported_at must carry a time zone")
    workflow_id = case_workflow_id(number)
    runs: list[dict[str, Any]] = []
    for index, history in enumerate(histories):
        if history.workflow_id != workflow_id:
            raise ValueError(f"runs[{index}] is workflow {history.workflow_id}, not {workflow_id}")
        runs.append(
            {
                "workflow_id": history.workflow_id,
                "run_id": history.run_id,
                "history": json.loads(history.to_json()),
            }
        )
    header: dict[str, Any] = {
        "case": number,
        "workflow_id": workflow_id,
        "runs": [{"run_id": run["run_id"], "events": len(_events(run))} for run in runs],
        # In the header, so that h_0 and with it the head also stand for these two parts.
        "policy_snapshot_sha256": sha256_hex(canonical(policy_snapshot)),
        "timeline_sha256": sha256_hex(canonical(timeline)),
    }
    export = {
        "exported_at": exported_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "exported_by": exported_by,
        "note": EXPORT_NOTE,
    }
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "header": header,
        "export": export,
        "runs": runs,
        "policy_snapshot": policy_snapshot,
        "timeline": timeline,
        "manifest": _manifest(header, runs, policy_snapshot, timeline, export),
    }
    problems = _consistency(document)
    if problems:
        raise ValueError("; ".join(f"{p.part}: {p.detail}" for p in problems))
    return render(document)


def export_case_bundle(
    histories: list[WorkflowHistory], exported_by: str, exported_at: datetime | None = None
) -> bytes:
    """A bundle of a case's runs (oldest first), its timeline and plan taken from them."""
    from audit.history import case_plan
    from audit.timeline import timeline

    plan, number = case_plan(histories)
    return build_bundle(
        number,
        histories,
        timeline(histories).model_dump(mode="json"),
        plan.model_dump(mode="json"),
        exported_at or datetime.now(UTC),
        exported_by,
    )


class Problem(BaseModel):
    """One finding: which part of the bundle, and what is wrong with it."""

    model_config = ConfigDict(frozen=True)

    part: str = Field(description="e.g. 'runs[1] event 23 (ActivityTaskScheduled)', 'timeline'")
    detail: str


class VerifyReport(BaseModel):
    """The verdict on a bundle: intact, or every problem found with the part it is in."""

    intact: bool
    case: int | None = None
    workflow_id: str | None = None
    runs: int = 0
    events: int = 0
    head: str | None = None
    problems: list[Problem] = Field(default_factory=list)

    @property
    def edited(self) -> list[str]:
        return [problem.part for problem in self.problems]

    def summary(self) -> str:
        if self.intact:
            return (
                f"intact: case {self.case}, {self.runs} run(s), {self.events} events, "
                f"head {self.head}"
            )
        return "NOT intact: " + "; ".join(f"{p.part}: {p.detail}" for p in self.problems)


class _Shape(BaseModel):
    """The bundle's structure, so that a damaged one is named rather than crashing; a key
    no digest covers is refused, so nothing can be added beside the parts unnoticed."""

    model_config = ConfigDict(extra="forbid")

    format: str
    version: int
    header: _Header
    export: _Export
    runs: list[_Run]
    policy_snapshot: dict[str, Any]
    timeline: dict[str, Any]
    manifest: dict[str, Any]


class _ShapeV1(BaseModel):
    """Version 1: the export time and exporter in the header, no export block."""

    model_config = ConfigDict(extra="forbid")

    format: str
    version: int
    header: _HeaderV1
    runs: list[_Run]
    policy_snapshot: dict[str, Any]
    timeline: dict[str, Any]
    manifest: dict[str, Any]


class _Header(BaseModel):
    case: int
    workflow_id: str
    runs: list[_RunHeader]
    policy_snapshot_sha256: str
    timeline_sha256: str


class _HeaderV1(_Header):
    exported_at: str
    exported_by: str


class _Export(BaseModel):
    exported_at: str
    exported_by: str
    note: str


class _RunHeader(BaseModel):
    run_id: str
    events: int


class _Run(BaseModel):
    workflow_id: str
    run_id: str
    history: dict[str, Any]


_Shape.model_rebuild()
_ShapeV1.model_rebuild()
_SHAPES: dict[int, type[_Shape] | type[_ShapeV1]] = {1: _ShapeV1, VERSION: _Shape}


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _report(problems: list[Problem], **known: Any) -> VerifyReport:
    return VerifyReport(intact=not problems, problems=problems, **known)


def verify_bundle(data: bytes, expected_head: str | None = None) -> VerifyReport:
    """Check a bundle offline: every digest, the chain, the histories and their case.

    `expected_head`, when given, is the head digest recorded at export time elsewhere;
    without it a bundle rewritten wholesale (every digest recomputed) passes.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return _report([Problem(part="file", detail=f"not UTF-8 text at byte {err.start}")])
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        # A bundle always ends with its closing brace: one that does not was cut short.
        ending = text.rstrip()
        truncated = ending.startswith("{") and (not ending.endswith("}") or err.pos >= len(ending))
        where = f"truncated after {len(data)} bytes" if truncated else "corrupt"
        if not ending:
            where = "empty file"
        detail = f"not JSON ({where}: {err.msg} at line {err.lineno} column {err.colno})"
        return _report([Problem(part="file", detail=detail)])
    except ValueError as err:
        return _report([Problem(part="file", detail=f"not a valid bundle: {err}")])
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return _report([Problem(part="format", detail=f"not a {FORMAT} (no format {FORMAT!r})")])
    version = document.get("version")
    shape_of = _SHAPES.get(version) if type(version) is int else None
    if shape_of is None:
        readable = ", ".join(str(known) for known in _SHAPES)
        detail = f"version {version!r} is not one this code reads ({readable})"
        return _report([Problem(part="version", detail=detail)])
    try:
        shape = shape_of.model_validate(document)
    except ValidationError as err:
        return _report(
            [
                Problem(part=".".join(str(p) for p in error["loc"]), detail=error["msg"])
                for error in err.errors()
            ]
        )
    known = {
        "case": shape.header.case,
        "workflow_id": shape.header.workflow_id,
        "runs": len(shape.runs),
        "events": sum(len(_events(run)) for run in document["runs"]),
        "head": document["manifest"].get("head"),
    }
    problems = _integrity(document)
    if not problems:
        problems = _consistency(document)
    if not problems and render(document) != data:
        problems = [_layout(document, data)]
    if not problems and expected_head is not None and expected_head != known["head"]:
        problems = [
            Problem(
                part="manifest head", detail=f"is not the head recorded at export, {expected_head}"
            )
        ]
    # Outside the chain, so found beside whatever the record's checks found, never instead.
    return _report(problems + _export_edits(document), **known)


def _expected(document: dict[str, Any]) -> dict[str, Any]:
    return _manifest(
        document["header"],
        document["runs"],
        document["policy_snapshot"],
        document["timeline"],
        document.get("export"),
    )


def _export_edits(document: dict[str, Any]) -> list[Problem]:
    """The export block against its digest, when the manifest itself is intact (an edited
    manifest is named by `_integrity`)."""
    export, stored = document.get("export"), document["manifest"]
    parts = stored.get("parts")
    if export is None or stored.get("digest") != _manifest_digest(stored):
        return []
    if isinstance(parts, dict) and parts.get("export") == sha256_hex(canonical(export)):
        return []
    detail = (
        "does not match the manifest's parts.export: when or by whom the file was exported "
        "was changed; the head does not cover this block, and an edit of the case's record "
        "would be named on its own"
    )
    return [Problem(part="export", detail=detail)]


def _integrity(document: dict[str, Any]) -> list[Problem]:
    header, runs = document["header"], document["runs"]
    stored = document["manifest"]
    expected = _expected(document)
    if stored.get("digest") != _manifest_digest(stored):
        # The manifest itself was edited: name its entries that the content contradicts.
        return _manifest_edits(stored, expected)
    parts = stored.get("parts")
    if not isinstance(parts, dict):
        return [Problem(part="manifest parts", detail="missing")]
    problems: list[Problem] = []
    if parts.get("header") != expected["parts"]["header"]:
        problems.append(Problem(part="header", detail="digest does not match the manifest"))
    stored_chain = stored.get("chain")
    if not isinstance(stored_chain, list) or len(stored_chain) != len(runs):
        problems.append(
            Problem(part="runs", detail="the manifest records a different number of runs")
        )
    else:
        for index, run in enumerate(runs):
            if parts.get(f"runs[{index}]") == expected["parts"][f"runs[{index}]"]:
                continue
            previous = parts.get("header") if index == 0 else None
            if index > 0:
                earlier = stored_chain[index - 1].get("links") or []
                previous = _link_digest(earlier[-1]) if earlier else None
            found = _chain_edits(index, run, stored_chain[index].get("links"), previous)
            problems.extend(
                found
                or [Problem(part=f"runs[{index}]", detail=_run_field_edit(run, header, index))]
            )
    for key, name in (("policy_snapshot", "policy snapshot"), ("timeline", "timeline")):
        if parts.get(key) != expected["parts"][key]:
            problems.append(Problem(part=name, detail="digest does not match the manifest"))
        elif header.get(f"{key}_sha256") != parts.get(key):
            problems.append(Problem(part="header", detail=f"names another {name}"))
    if not problems and stored.get("head") != expected["head"]:
        problems.append(Problem(part="manifest head", detail="is not the end of the chain"))
    return problems


def _chain_edits(index: int, run: dict[str, Any], links: Any, previous: Any) -> list[Problem]:
    """Check each event against the stored link before it, so an edit stays local."""
    events = _events(run)
    if not isinstance(links, list) or not isinstance(previous, str):
        return [Problem(part=f"runs[{index}]", detail="the manifest's chain for it is damaged")]
    problems: list[Problem] = []
    for position, event in enumerate(events[: len(links)]):
        recorded = links[position]
        if not isinstance(recorded, str) or _link(previous, event, position) != recorded:
            label = _link_label(recorded) if isinstance(recorded, str) else f"event #{position}"
            if len(events) != len(links):
                detail = (
                    f"the manifest records {len(links)} events, the file has {len(events)}: "
                    "the chain breaks here (an event was removed or added)"
                )
                return [Problem(part=f"runs[{index}] {label}", detail=detail)]
            problems.append(
                Problem(part=f"runs[{index}] {label}", detail="does not match its chain link")
            )
        previous = _link_digest(recorded) if isinstance(recorded, str) else ""
    if not problems and len(events) != len(links):
        where = _link_label(links[len(events)]) if len(links) > len(events) else "end"
        detail = f"the manifest records {len(links)} events, the file has {len(events)}"
        problems.append(Problem(part=f"runs[{index}] {where}", detail=detail))
    return problems


def _run_field_edit(run: dict[str, Any], header: dict[str, Any], index: int) -> str:
    listed = header["runs"][index] if index < len(header["runs"]) else {}
    for key, recorded in (("workflow_id", header["workflow_id"]), ("run_id", listed.get("run_id"))):
        if run.get(key) != recorded:
            return f"{key} {run.get(key)!r} differs from the header's {recorded!r}"
    return "digest does not match the manifest (outside the events)"


def _manifest_edits(stored: dict[str, Any], expected: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for key in sorted(set(stored) | set(expected)):
        if key in ("digest", "chain") or stored.get(key) == expected.get(key):
            continue
        if key == "parts" and isinstance(stored.get(key), dict):
            for part in sorted(set(stored[key]) | set(expected[key])):
                if stored[key].get(part) != expected[key].get(part):
                    problems.append(
                        Problem(part=f"manifest parts.{part}", detail="differs from the content")
                    )
            continue
        problems.append(Problem(part=f"manifest {key}", detail="differs from the content"))
    chain, wanted = stored.get("chain"), expected["chain"]
    if chain != wanted:
        if not isinstance(chain, list) or len(chain) != len(wanted):
            problems.append(Problem(part="manifest chain", detail="differs from the content"))
        else:
            for index, (got, want) in enumerate(zip(chain, wanted, strict=True)):
                links = got.get("links") if isinstance(got, dict) else None
                if not isinstance(links, list) or len(links) != len(want["links"]):
                    problems.append(Problem(part=f"manifest chain runs[{index}]", detail="differs"))
                    continue
                for link, right in zip(links, want["links"], strict=True):
                    if link != right:
                        problems.append(
                            Problem(
                                part=f"manifest chain runs[{index}] {_link_label(right)}",
                                detail="differs from the event's recomputed link",
                            )
                        )
    if not problems:
        problems.append(Problem(part="manifest digest", detail="does not match the manifest"))
    return problems


def _consistency(document: dict[str, Any]) -> list[Problem]:
    """The histories parse, belong to the header's case, and follow one another."""
    header, runs = document["header"], document["runs"]
    number = header["case"]
    problems: list[Problem] = []
    if header.get("workflow_id") != case_workflow_id(number):
        problems.append(
            Problem(
                part="header", detail=f"workflow {header.get('workflow_id')} is not case {number}"
            )
        )
    if len(header.get("runs", [])) != len(runs):
        problems.append(Problem(part="header", detail="lists a different number of runs"))
        return problems
    timeline = document["timeline"]
    # A timeline from `audit.timeline` names its case and runs; a stand-in may not.
    if (
        timeline.get("number", number) != number
        or timeline.get("case_id", header["workflow_id"]) != (header["workflow_id"])
    ):
        problems.append(Problem(part="timeline", detail=f"is not the timeline of case {number}"))
    listed_runs = [run.get("run_id") for run in header["runs"]]
    if timeline.get("runs", listed_runs) != listed_runs:
        problems.append(Problem(part="timeline", detail="lists other runs than the bundle"))
    run_ids: list[str] = []
    for index, (run, listed) in enumerate(zip(runs, header["runs"], strict=True)):
        name = f"runs[{index}]"
        try:
            history = WorkflowHistory.from_json(run["workflow_id"], run["history"])
            run_id = history.run_id
        except Exception as err:  # any parse failure is a finding, not a crash
            problems.append(Problem(part=name, detail=f"history does not parse: {err}"))
            continue
        run_ids.append(run_id)
        if run["workflow_id"] != header["workflow_id"]:
            problems.append(Problem(part=name, detail=f"is workflow {run['workflow_id']}"))
        if run_id != run["run_id"] or run_id != listed.get("run_id"):
            problems.append(Problem(part=name, detail=f"history is run {run_id}"))
        events = _events(run)
        ids = [event.get("eventId") for event in events]
        if ids != [str(i) for i in range(1, len(events) + 1)]:
            problems.append(Problem(part=name, detail="event ids are not 1, 2, 3, ..."))
        if listed.get("events") != len(events):
            problems.append(
                Problem(
                    part=name,
                    detail=f"has {len(events)} events, header says {listed.get('events')}",
                )
            )
        start = _start_input(events)
        started_number, plan = _started_case(start) if start is not None else (None, None)
        if started_number != number:
            problems.append(
                Problem(part=name, detail=f"starts case {started_number}, not {number}")
            )
        attributes = events[0].get("workflowExecutionStartedEventAttributes", {})
        if attributes.get("workflowId") not in (None, header["workflow_id"]):
            problems.append(Problem(part=name, detail=f"started as {attributes['workflowId']}"))
        if index == 0 and plan is not None and not _same_plan(plan, document["policy_snapshot"]):
            problems.append(
                Problem(part="policy snapshot", detail="is not the plan runs[0] started with")
            )
        if index > 0:
            problems.extend(_follows(runs[index - 1], events, run_ids[-2:], name))
    return problems


def _follows(
    previous: dict[str, Any], events: list[Any], ids: list[str], name: str
) -> list[Problem]:
    """A later run continues the one before it as new, and says so."""
    if len(ids) != 2:
        return []
    last = _events(previous)[-1] if _events(previous) else {}
    continued = last.get("workflowExecutionContinuedAsNewEventAttributes", {})
    started = events[0].get("workflowExecutionStartedEventAttributes", {})
    if (
        continued.get("newExecutionRunId") != ids[1]
        or started.get("continuedExecutionRunId") != ids[0]
    ):
        return [Problem(part=name, detail="does not continue the run before it")]
    return []


def _same_plan(started: Any, snapshot: Any) -> bool:
    try:
        return PlanSnapshot.model_validate(started) == PlanSnapshot.model_validate(snapshot)
    except ValidationError:
        return False


def _layout(document: dict[str, Any], data: bytes) -> Problem:
    expected = render(document)
    offset = next(
        (i for i, (a, b) in enumerate(zip(expected, data, strict=False)) if a != b),
        min(len(expected), len(data)),
    )
    return Problem(
        part="file layout",
        detail=f"byte {offset} differs from the bundle's rendering: every digest matches, "
        "but whitespace, escapes or key order were changed after export",
    )
