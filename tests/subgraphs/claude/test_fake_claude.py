"""scripts/fake-claude speaks the CLI's stream-json protocol, failures included."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from tests.subgraphs.claude.conftest import FAKE_CLAUDE

INIT = {
    "type": "control_request",
    "request_id": "req_1",
    "request": {"subtype": "initialize"},
}


def run(
    args: list[str], lines: list[dict[str, object]], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(FAKE_CLAUDE),
            "--output-format",
            "stream-json",
            "--verbose",
            *args,
            "--input-format",
            "stream-json",
        ],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
        check=False,
    )


def user(text: str) -> dict[str, object]:
    return {
        "type": "user",
        "session_id": "",
        "message": {"role": "user", "content": text},
        "parent_tool_use_id": None,
    }


def test_a_turn_answers_initialize_then_init_assistant_result(workdir: Path) -> None:
    claude_id = str(uuid.uuid4())
    done = run([f"--session-id={claude_id}"], [INIT, user("What is 3+3?")], workdir)
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(m["type"], m.get("subtype")) for m in messages] == [
        ("control_response", None),
        ("system", "init"),
        ("assistant", None),
        ("result", "success"),
    ]
    assert messages[0]["response"]["request_id"] == "req_1"
    assert {m.get("session_id") for m in messages[1:]} == {claude_id}
    assert messages[3]["result"] == "6"


def test_an_unknown_resume_uuid_fails_like_the_real_cli(workdir: Path) -> None:
    unknown = str(uuid.uuid4())
    done = run(["--resume", unknown], [INIT, user("hi")], workdir)
    expected = f"No conversation found with session ID: {unknown}"
    assert done.returncode == 1
    assert done.stderr.strip() == expected
    [result] = [json.loads(line) for line in done.stdout.splitlines()]
    assert (result["type"], result["subtype"], result["is_error"]) == (
        "result",
        "error_during_execution",
        True,
    )
    assert result["errors"] == [expected]


def test_a_session_id_in_use_is_refused(workdir: Path) -> None:
    claude_id = str(uuid.uuid4())
    assert (
        run([f"--session-id={claude_id}"], [INIT, user("hi")], workdir).returncode == 0
    )
    again = run([f"--session-id={claude_id}"], [INIT, user("hi")], workdir)
    assert again.returncode == 1
    assert f"Session ID {claude_id} is already in use." in again.stderr
