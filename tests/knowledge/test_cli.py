"""`tierline kb` against the running API: write, publish, read, search, roll back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, cli  # noqa: F401
from tests.cli.test_cli import open_case

# One database is enough for the command line: the API's tests cover both.
pytestmark = pytest.mark.parametrize("read_model", ["sqlite"], indirect=True)


async def test_write_publish_read_and_search(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    article = tmp_path / "exports.md"
    article.write_text("## Large exports\n\nSplit the **export** into parts of 1,000 rows.\n")
    created = await cli(
        "bob",
        *("kb", "create", "--title", "Exports time out", "--body-file", str(article)),
        *("--category", "exports", "--visibility", "customers"),
    )
    assert created.exit_code == 0, created.output
    assert "Article 1 (exports-time-out): Exports time out [draft]" in created.stdout
    assert "never published" in created.stdout

    hidden = await cli("ann", "kb", "show", "exports-time-out")
    assert hidden.exit_code == 1
    assert "Not found (404)" in hidden.stderr

    published = await cli("bob", "kb", "publish", "1")
    assert published.exit_code == 0, published.output
    assert "[published]" in published.stdout
    shown = await cli("ann", "kb", "show", "exports-time-out")
    assert shown.exit_code == 0, shown.output
    assert "Large exports" in shown.stdout and "**" not in shown.stdout  # laid out
    raw = await cli("ann", "kb", "show", "1", "--raw")
    assert "Split the **export** into parts" in raw.stdout

    edited = await cli("bob", "kb", "edit", "1", "--title", "Exports stall", "--base-version", "1")
    assert edited.exit_code == 0, edited.output
    assert "version 2 of 2, published: 1" in edited.stdout
    stale = await cli("bob", "kb", "edit", "1", "--body", "x", "--base-version", "1")
    assert stale.exit_code == 1 and "(409)" in stale.stderr
    listed = await cli("bob", "kb", "list")
    assert "2 (published 1)" in listed.stdout and "1-1 of 1" in listed.stdout
    versions = await cli("rex", "kb", "versions", "1")
    assert versions.exit_code == 0, versions.output
    assert "1 *" in versions.stdout

    found = await cli("ann", "kb", "search", "exporting")
    assert found.exit_code == 0, found.output
    assert "Exports time out" in found.stdout and "Split the export into" in found.stdout
    nothing = await cli("ann", "kb", "search", "refund")
    assert "No article matches 'refund'" in nothing.stdout
    as_json = await cli("ann", "kb", "search", "export", "--json")
    snippet = json.loads(as_json.stdout)["items"][0]["snippet_html"]
    assert (
        snippet
        == "Large <mark>exports</mark>\nSplit the <mark>export</mark> into parts of 1,000 rows."
    )

    archived = await cli("bob", "kb", "archive", "1")
    assert "[archived]" in archived.stdout
    assert (await cli("ann", "kb", "show", "1")).exit_code == 1


async def test_a_draft_from_a_resolved_case(cli: Cli) -> None:  # noqa: F811
    number = await open_case(cli)
    early = await cli("bob", "kb", "from-case", str(number))
    assert early.exit_code == 1 and "only a resolved case" in early.stderr
    resolved = await cli(
        "bob",
        *("cases", "resolve", str(number), "--summary", "Raise the export timeout."),
        *("--rca", "A lock held too long."),
    )
    assert resolved.exit_code == 0, resolved.output
    drafted = await cli("bob", "kb", "from-case", str(number), "--category", "exports")
    assert drafted.exit_code == 0, drafted.output
    assert f"from case {number}" in drafted.stdout
    assert "Raise the export timeout." in drafted.stdout

    deflections = await cli("ada", "kb", "deflections")
    assert deflections.exit_code == 0, deflections.output
    assert "0 in all" in deflections.stdout
