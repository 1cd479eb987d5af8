"""`tierline audit` against the running API: the auditor's whole round, and the offline check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.api.conftest import Api
from tests.api.test_audit_api import closed_case
from tests.cli.conftest import Cli


async def test_auditor_reads_replays_exports_and_verifies(
    cli: Cli, api: Api, tmp_path: Path
) -> None:
    began = datetime.now(UTC) - timedelta(minutes=1)
    number, _, after = await closed_case(api)

    shown = await cli("ada", "audit", "timeline", str(number))
    assert shown.exit_code == 0, shown.output
    assert "responded" in shown.output and "confirmed" in shown.output
    assert "short-sla:fast" in shown.output

    gate = await cli("ada", "audit", "replay", "--closed-from", began.isoformat())
    assert gate.exit_code == 0, gate.output
    assert "1 intact, 0 diverged" in gate.output
    assert "[green]" not in gate.output  # styles, not markup printed as text
    # A gate over a period with no closed case checked nothing: it must not pass.
    empty = await cli("ada", "audit", "replay", "--closed-from", "2999-01-01")
    assert empty.exit_code == 2, empty.output
    assert "nothing was checked" in empty.output

    then = await cli("ada", "audit", "as-of", str(number), "--at", after["respond"].isoformat())
    assert then.exit_code == 0, then.output
    assert "first_response" in then.output

    bundle = tmp_path / "case.evidence.json"
    exported = await cli("ada", "audit", "export", str(number), "-o", str(bundle))
    assert exported.exit_code == 0, exported.output
    head = exported.output.split("head digest ")[1].split()[0]
    verified = await cli("ada", "audit", "verify", str(bundle), "--head", head)
    assert verified.exit_code == 0, verified.output
    assert verified.output.startswith("intact")

    text = bundle.read_text()
    bundle.write_text(text.replace("Looking into it.", "Looking into it!", 1))
    tampered = await cli("ada", "audit", "verify", str(bundle))
    assert tampered.exit_code == 1
    assert "NOT intact" in tampered.output

    other = await cli("ada", "audit", "what-if", str(number), "--plan", "short-sla:office")
    assert other.exit_code == 0, other.output
    assert "short-sla:office" in other.output

    report = await cli("ada", "audit", "attainment", "--format", "csv")
    assert report.exit_code == 0, report.output
    assert report.output.splitlines()[0].startswith("plan,")

    refused = await cli("bob", "audit", "timeline", str(number))
    assert refused.exit_code == 1
    assert "403" in refused.output
