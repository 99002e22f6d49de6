"""Issue 24 item 1: every `curl` line in README.md and docs/*.md works as written.

Every ```bash block that calls curl is run, in the order of its file, against a
live `analytics-engine serve` (a child process on a free port; `localhost:3008` in the text becomes
its address). What a reader has when they start is set up first: `$KEY` (a key with every scope for
the tenant "Acme Learning", also in `data/demo-keys.json` like `scripts/start` writes it) and `$ADMIN`
(also in `data/dev-admin-key`). Variables a block sets (`COHORT=$(curl ... | jq -r .id)`) carry to
the blocks after it. Every curl call must answer 2xx (a `curl -N` stream: 200 until the time limit).

Files run in the order README.md, docs/*.md by name, in one bash, so a later file may use what an
earlier one made (`$MET`, the metric of docs/dashboards.md). A block that cannot run here says why
on its fence (```` ```bash not-run: needs a NATS server ````). The fence is the mark, so it survives
edits of the commands; a new curl block is run without asking.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from analytics_engine.bench.common import ServerProcess, server_process

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)(.*)$")
SHELLS = {"bash", "sh", "shell", "console"}
# A curl call: at the start of a line, after `$(`, a pipe, `&&`, or `;`.
COMMAND_LINE = re.compile(r"^\s*curl\s+(-|\"|'|\$|localhost|127\.|https?:)")  # not "curl command." in prose
CURL_CALL = re.compile(r"(?:^|\$\(|\||&&|;)\s*curl\s", re.MULTILINE)

# Each call appends "http code<TAB>curl exit<TAB>arguments" to $CURL_LOG; the body goes to stdout.
PREAMBLE = r"""
curl() {
  local out code status limit=60 arg
  for arg in "$@"; do [ "$arg" = "-N" ] && limit=3; done
  out=$(mktemp)
  code=$(command curl --max-time "$limit" -o "$out" -w '%{http_code}' "$@")
  status=$?
  local args="$*"
  printf '%s\t%s\t%s\t%s\n' "$CURL_AT" "$code" "$status" "${args//$'\n'/ }" >> "$CURL_LOG"
  cat "$out"
  rm -f "$out"
}
"""


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    text: str
    skip_reason: str | None

    @property
    def calls(self) -> int:
        return len(CURL_CALL.findall(strip_comments(self.text)))


def strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def shell_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match or not match.group(1):
            index += 1
            continue
        start, language, info = index, match.group(1), match.group(2).strip()
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        index += 1
        if language in SHELLS:
            reason = info.split(":", 1)[1].strip() if info.startswith("not-run") else None
            block = Block(path, start + 1, "\n".join(body), reason)
            if block.calls:
                blocks.append(block)
    return blocks


def test_curl_lines_are_only_in_shell_blocks() -> None:
    """A curl line outside a ```bash block would escape the check."""
    for path in DOCS:
        inside = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("```"):
                inside = not inside
                language = line[3:].split()[0] if len(line) > 3 and inside else ""
                shell = language in SHELLS
                continue
            if COMMAND_LINE.match(line) and not (inside and shell):
                pytest.fail(f"{path.name}:{number}: a curl line outside a ```bash block")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with server_process() as process:
        yield process


@pytest.fixture(scope="module")
def reader(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A working folder and environment as the README leaves a reader: $KEY and $ADMIN, data/ keys."""
    folder = tmp_path_factory.mktemp("reader")
    tenant_id, key = server.tenant_key("Acme Learning")
    (folder / "data").mkdir()
    (folder / "data" / "demo-keys.json").write_text(json.dumps({"Acme Learning": {"tenant_id": tenant_id, "key": key}}))
    (folder / "data" / "dev-admin-key").write_text(server.admin_key)
    (folder / "attendees.csv").write_text("distinct_id,name\nu-1,Ann\nu-2,Bo\n")
    events = [
        {"event": name, "distinct_id": f"u-{i % 7}", "properties": {"plan": "pro", "amount": i}}
        for i in range(40)
        for name in ("signup", "purchase", "pageview")
    ]
    httpx.post(
        f"{server.url}/v1/events", json=events, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ).raise_for_status()
    return folder, {"KEY": key, "ADMIN": server.admin_key, "TENANT_ID": tenant_id}


@pytest.mark.timeout(600)
def test_every_curl_line_works(server: ServerProcess, reader: tuple[Path, dict[str, str]]) -> None:
    folder, variables = reader
    blocks = [block for path in DOCS for block in shell_blocks(path) if block.skip_reason is None]
    address = server.url.removeprefix("http://")
    script = PREAMBLE + "\n".join(
        f"CURL_AT={block.file.name}:{block.line}\n"
        + block.text.replace("localhost:3008", address).replace("127.0.0.1:3008", address)
        for block in blocks
    )
    log = folder / "curl.log"
    completed = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "CURL_LOG": str(log), **variables},
        capture_output=True,
        text=True,
        timeout=540,
    )
    calls = [line.split("\t", 3) for line in log.read_text().splitlines()] if log.exists() else []
    failures = [
        f"{at}: HTTP {code} (curl exit {status}): curl {args[:300]}"
        for at, code, status, args in calls
        if not (code.startswith("2") and (status == "0" or (status == "28" and " -N" in f" {args}")))
    ]
    context = f"\nbash stderr: {completed.stderr[-2000:]}"
    assert not failures, "\n".join(failures) + context
    for path in DOCS:
        expected = sum(block.calls for block in blocks if block.file == path)
        ran = sum(1 for at, *_ in calls if at.split(":")[0] == path.name)
        assert ran == expected, f"{path.name}: {ran} curl calls ran, {expected} written" + context
