"""The README's walkthrough, typed in order on a fresh `tierline run`: every command exits
0 and every curl answers 2xx, so the README cannot drift from what Tierline does.

The commands run one by one in one bash, as a person types them in a terminal, with two
differences that only make it stricter: curl fails on an HTTP error, and a pipeline fails
when any of its commands does (`set -o pipefail`)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from settings import ROOT, Settings
from tests.cli.test_stack import Stack, stack  # noqa: F401
from tests.conftest import VENV_BIN

README = ROOT / "README.md"

# The sections whose ```bash blocks a newcomer types, in document order, once `make run`
# is up in another terminal.
WALKTHROUGH = (
    "A first case",
    "Notices",
    "Releases",
    "Audit",
    "The command line",
    "The console",
    "The knowledge base",
    "E-mail",
    "Mail in development",
    "Policies",
    "Operating Tierline",
)

# The sections whose blocks cannot run here, and why. A block in any other section fails
# the test until it is placed in one list or the other.
SKIPPED = {
    "Two commands": "`make run` is the stack this test starts itself, and `make test` the "
    "suite this test belongs to",
    "Beyond one machine": "`docker compose` needs images the development machine cannot pull",
    "Tests": "the benchmarks run for up to 50 minutes, and `pip install` of their peers needs "
    "the network",
}

COMMAND_TIMEOUT = 60

# Every curl fails on an HTTP error and says so: a README example answered 409 is a bug.
CURL_FAILS_ON_HTTP_ERRORS = 'curl() { command curl --fail-with-body --show-error "$@"; }'


@dataclass
class Block:
    section: str
    line: int  # where the block starts in README.md
    text: str


def bash_blocks(markdown: str) -> list[Block]:
    """Every ```bash block with the heading it sits under, in document order."""
    blocks: list[Block] = []
    section = ""
    fence: list[str] | None = None
    language = ""
    start = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if fence is None:
            if line.startswith("```"):
                fence, language, start = [], line[3:].strip(), number
            elif heading := re.match(r"#{1,6} (.+)", line):
                section = heading[1].strip()
        elif line.startswith("```"):
            if language == "bash":
                blocks.append(Block(section, start, "\n".join(fence)))
            fence = None
        else:
            fence.append(line)
    return blocks


def complete(text: str) -> bool:
    """Whether bash would run `text` as it stands (no open quote, no continuation, no
    here-document waiting for its end)."""
    if text.rstrip().endswith("\\"):
        return False
    checked = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
    return checked.returncode == 0 and "here-document" not in checked.stderr


@dataclass
class Command:
    block: Block
    line: int  # where the command starts in README.md
    text: str

    def where(self) -> str:
        return f"README.md:{self.line} ({self.block.section})"


def commands(block: Block) -> list[Command]:
    """The commands of a block as a person types them: a line, or several joined by a
    trailing backslash or an open quote."""
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(block.text.splitlines(), start=block.line + 1):
        if not pending:
            if not line.strip():
                continue
            start = number
        pending.append(line)
        if complete("\n".join(pending)):
            found.append(Command(block, start, "\n".join(pending)))
            pending = []
    assert not pending, f"README.md:{start}: unfinished command:\n" + "\n".join(pending)
    return found


def walkthrough() -> list[Block]:
    blocks = bash_blocks(README.read_text())
    unplaced = [
        f"README.md:{b.line} ({b.section})"
        for b in blocks
        if b.section not in WALKTHROUGH and b.section not in SKIPPED
    ]
    assert not unplaced, f"bash blocks neither in WALKTHROUGH nor in SKIPPED: {unplaced}"
    sections = {b.section for b in blocks}
    assert sections >= set(WALKTHROUGH) | set(SKIPPED), (
        f"sections without a bash block (renamed?): {set(WALKTHROUGH) | set(SKIPPED) - sections}"
    )
    return [b for b in blocks if b.section in WALKTHROUGH]


@dataclass
class Step:
    command: Command
    status: int | None = None  # None: it did not finish in time
    output: str = ""

    def outcome(self) -> str:
        return "did not finish" if self.status is None else f"exit {self.status}"


@dataclass
class Shell:
    """One bash that keeps its variables from command to command, as a terminal does."""

    process: subprocess.Popen[bytes]
    stack: Stack
    steps: list[Step] = field(default_factory=list)
    buffer: bytes = b""

    def run(self, command: Command, timeout: float = COMMAND_TIMEOUT) -> Step:
        assert self.process.stdin is not None and self.process.stdout is not None
        step = Step(command)
        marker = f"-- exit status {uuid.uuid4().hex}"
        # The command reads no input (the rest of this script is on stdin), and its status
        # comes back after a line of its own.
        script = f"{{\n{command.text}\n}} </dev/null\nprintf '\\n{marker} %s\\n' \"$?\"\n"
        self.process.stdin.write(script.encode())
        self.process.stdin.flush()
        self.steps.append(step)
        pattern = re.compile(rb"\n" + re.escape(marker.encode()) + rb" (\d+)\n")
        deadline = time.monotonic() + timeout
        while not (found := pattern.search(self.buffer)):
            left = deadline - time.monotonic()
            if left <= 0 or self.process.poll() is not None:
                step.output = self.buffer.decode(errors="replace")
                return step
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if ready:
                self.buffer += os.read(self.process.stdout.fileno(), 65536)
        step.output = self.buffer[: found.start()].decode(errors="replace")
        step.status = int(found[1])
        self.buffer = self.buffer[found.end() :]
        return step

    def transcript(self) -> str:
        lines = []
        for step in self.steps:
            lines += [f"{step.command.where()} $ {step.command.text}"]
            lines += [step.output.rstrip(), f"[{step.outcome()}]", ""]
        return "\n".join(lines)


@pytest.fixture
def shell(stack: Stack) -> Iterator[Shell]:  # noqa: F811
    """bash in a directory laid out like a fresh clone running `make run`: `var/` is the
    stack's and `.venv` is this checkout's; TIERLINE_API points the CLI and the curls
    (through the README's `API=`) at the stack's port."""
    workdir = stack.var_dir.parent
    (workdir / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    settings = {name.upper() for name in Settings.model_fields} - {"WORKFLOW_SANDBOX"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in settings and not key.startswith("TIERLINE_")
    }
    env |= {
        "VAR_DIR": str(stack.var_dir),
        "TIERLINE_API": stack.api,
        "INBOUND_SMTP_PORT": str(stack.inbound_smtp_port),
        "WORKER_METRICS_PORT": stack.env["WORKER_METRICS_PORT"],
        "MAIL_METRICS_PORT": stack.env["MAIL_METRICS_PORT"],
        "COLUMNS": "200",
    }
    process = subprocess.Popen(
        ["bash", "--norc", "--noprofile"],
        cwd=workdir,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = Shell(process, stack)
    try:
        setup = f"set -o pipefail\n{CURL_FAILS_ON_HTTP_ERRORS}"
        assert running.run(Command(Block("test setup", 0, ""), 0, setup)).status == 0
        running.steps.clear()
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_every_readme_command_runs_in_order_on_a_fresh_stack(shell: Shell) -> None:
    for block in walkthrough():
        for command in commands(block):
            step = shell.run(command)
            if step.status != 0:
                log = "\n".join(shell.stack.log().splitlines()[-40:])
                pytest.fail(
                    f"--- every command so far ---\n{shell.transcript()}\n"
                    f"--- tierline run, last lines ---\n{log}\n\n"
                    f"{command.where()}: {step.outcome()}:\n$ {command.text}\n{step.output}",
                    pytrace=False,
                )


def test_every_bash_block_is_walked_or_skipped_for_a_reason() -> None:
    blocks = walkthrough()  # fails naming any block in neither list
    assert list(dict.fromkeys(b.section for b in blocks)) == list(WALKTHROUGH)
    assert all(reason.strip() for reason in SKIPPED.values())
    assert all(commands(block) for block in blocks)  # and each splits into whole commands
