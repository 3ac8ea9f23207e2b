"""What a chat UI does with the claude subgraph, through a real ``gateway serve``.

Permission prompts answered over GraphQL while the output streams over SSE
(allow, deny, timeout, remember), live text deltas, interrupt mid-stream, fork,
import of a session the CLI wrote on its own, and a restart with a request open.
The CLI is scripts/fake-claude, speaking the SDK's control protocol.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers.claude import (
    FAKE_CLAUDE,
    INPROCESS,
    ClaudeStandIn,
    assert_no_traceback,
    create_session,
    fake_claude,
    inprocess_env,
)
from tests.helpers.curl import (
    curl_graphql,
    curl_sse,
    sse_events,
    start_curl,
)
from tests.helpers.processes import GatewayProcess, StartGateway

OUTPUT = """subscription($id: ID!, $deltas: Boolean) {
  commandOutput(sessionId: $id, deltas: $deltas) { seq kind text data commandId }
}"""
START = """mutation($id: ID!, $c: String!) {
  startCommand(sessionId: $id, command: $c) { id status }
}"""
ANSWER = """mutation($r: ID!, $allow: Boolean!, $m: String, $remember: Boolean) {
  answerPermission(requestId: $r, allow: $allow, message: $m, remember: $remember) {
    id status toolName remember
  }
}"""
PENDING = """query($id: ID!) {
  pendingPermissions(sessionId: $id) { id toolName input status commandId }
}"""
SESSION = """query($id: ID!) {
  session(id: $id) {
    status allowedTools permissionMode origin forkedFrom claudeSessionId
    usage { inputTokens outputTokens costUsd numTurns }
    commands { status result usage { inputTokens costUsd } }
    pendingPermissions { id }
  }
}"""


class OutputStream:
    """``commandOutput`` over SSE with curl -N, read event by event."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.frames: list[dict[str, str]] = []
        self.outputs: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls, gateway: GatewayProcess, session_id: str, *, deltas: bool = False
    ) -> OutputStream:
        argv = curl_sse(gateway.url, OUTPUT, {"id": session_id, "deltas": deltas})
        return cls(await start_curl(argv))

    async def until(self, kind: str, timeout: float = 30) -> dict[str, Any]:
        """Read until an output event of ``kind``; that event."""
        assert self.process.stdout is not None
        while True:
            frame = await asyncio.wait_for(
                self.process.stdout.readuntil(b"\n\n"), timeout
            )
            for event in sse_events(frame.decode()):
                self.frames.append(event)
                assert event.get("event") == "next", event
                output = json.loads(event["data"])["data"]["commandOutput"]
                self.outputs.append(output)
                if output["kind"] == kind:
                    return output

    def kinds(self) -> list[str]:
        return [o["kind"] for o in self.outputs]

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def gql(gateway: GatewayProcess, query: str, **variables: Any) -> Any:
    answer = await curl_graphql(gateway.url, query, variables)
    assert answer.status == 200 and "errors" not in answer.body, answer.body
    return answer.data


async def ask_for_bash(
    gateway: GatewayProcess, session_id: str, stream: OutputStream
) -> dict[str, Any]:
    await gql(gateway, START, id=session_id, c="Please list files")
    return await stream.until("PERMISSION_REQUEST")


def tool_result(stream: OutputStream) -> dict[str, Any]:
    [result] = [o for o in stream.outputs if o["kind"] == "TOOL_RESULT"]
    return result


async def test_a_ui_answers_permission_prompts_allow_deny_and_remember(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    (tmp_path / "hello.txt").write_text("hi\n")
    session = await create_session(gateway, tmp_path)
    stream = await OutputStream.open(gateway, session["id"])
    try:
        # Allow: the command paused until the answer, then the tool ran.
        asked = await ask_for_bash(gateway, session["id"], stream)
        assert asked["text"] == "Bash"
        assert asked["data"]["input"]["command"] == "ls"
        pending = (await gql(gateway, PENDING, id=session["id"]))["pendingPermissions"]
        assert [p["id"] for p in pending] == [asked["data"]["requestId"]]
        assert pending[0]["status"] == "OPEN"
        answered = await gql(
            gateway, ANSWER, r=asked["data"]["requestId"], allow=True, remember=False
        )
        assert answered["answerPermission"]["status"] == "ALLOWED"
        await stream.until("COMMAND_FINISHED")
        assert "hello.txt" in (tool_result(stream)["text"] or "")
        assert (await gql(gateway, PENDING, id=session["id"]))[
            "pendingPermissions"
        ] == []
        again = await curl_graphql(
            gateway.url, ANSWER, {"r": asked["data"]["requestId"], "allow": True}
        )
        assert again.body["errors"][0]["extensions"]["code"] == (
            "PERMISSION_REQUEST_NOT_FOUND"
        )

        # Deny: Claude is told the message.
        stream.outputs.clear()
        asked = await ask_for_bash(gateway, session["id"], stream)
        await gql(
            gateway,
            ANSWER,
            r=asked["data"]["requestId"],
            allow=False,
            m="Not now, please.",
        )
        finished = await stream.until("COMMAND_FINISHED")
        assert finished["text"] == "SUCCEEDED"
        result = tool_result(stream)
        assert (result["text"], result["data"]["isError"]) == ("Not now, please.", True)
        resolved = [o for o in stream.outputs if o["kind"] == "PERMISSION_RESOLVED"]
        assert [r["text"] for r in resolved] == ["DENIED"]

        # Remember: the rule joins the session; the next call is not asked about.
        stream.outputs.clear()
        asked = await ask_for_bash(gateway, session["id"], stream)
        await gql(
            gateway, ANSWER, r=asked["data"]["requestId"], allow=True, remember=True
        )
        await stream.until("COMMAND_FINISHED")
        state = (await gql(gateway, SESSION, id=session["id"]))["session"]
        assert state["allowedTools"] == ["Bash(ls)"]
        stream.outputs.clear()
        await gql(gateway, START, id=session["id"], c="Please list files")
        await stream.until("COMMAND_FINISHED")
        assert "PERMISSION_REQUEST" not in stream.kinds()
        assert tool_result(stream)["data"]["isError"] is False
        # The CLI got the remembered rule as a flag.
        last = claude.invocations()[-1]
        assert "--allowedTools" in last and last[last.index("--allowedTools") + 1] == (
            "Bash(ls)"
        )
    finally:
        await stream.close()
    assert_no_traceback(gateway)


async def test_an_unanswered_permission_request_times_out_as_a_denial(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(
        claude, git_root=tmp_path, extra={"E2E_CLAUDE_PERMISSION_TIMEOUT": "0.5"}
    )
    gateway = await start_gateway(INPROCESS, env=env)
    session = await create_session(gateway, tmp_path)
    stream = await OutputStream.open(gateway, session["id"])
    try:
        asked = await ask_for_bash(gateway, session["id"], stream)
        assert asked["data"]["expiresAt"]
        resolved = await stream.until("PERMISSION_RESOLVED")
        assert resolved["text"] == "TIMED_OUT"
        await stream.until("COMMAND_FINISHED")
        result = tool_result(stream)
        assert result["data"]["isError"] is True
        assert "within 0.5 s" in result["text"]
    finally:
        await stream.close()
    assert_no_traceback(gateway)


async def test_live_deltas_in_order_and_the_final_text_is_their_concatenation(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    session = await create_session(gateway, tmp_path)
    live = await OutputStream.open(gateway, session["id"], deltas=True)
    plain = await OutputStream.open(gateway, session["id"])
    try:
        await gql(gateway, START, id=session["id"], c="Please tell a story")
        await live.until("COMMAND_FINISHED")
        await plain.until("COMMAND_FINISHED")
    finally:
        await live.close()
        await plain.close()
    deltas = [o for o in live.outputs if o["kind"] == "TEXT_DELTA"]
    [text] = [o for o in live.outputs if o["kind"] == "TEXT"]
    assert len(deltas) > 10
    assert "".join(d["text"] for d in deltas) == text["text"]
    # Every event's SSE id is its seq; a delta's is the stored event's before
    # it, so a client reconnecting mid-message resumes there and gets the TEXT.
    assert [int(f["id"]) for f in live.frames] == [o["seq"] for o in live.outputs]
    assert {d["seq"] for d in deltas} == {text["seq"] - 1}
    # Without deltas: whole messages only, the same stored events.
    assert "TEXT_DELTA" not in plain.kinds()
    assert [o["seq"] for o in plain.outputs] == [
        o["seq"] for o in live.outputs if o["kind"] != "TEXT_DELTA"
    ]
    assert_no_traceback(gateway)


async def test_interrupt_mid_stream_keeps_the_partial_output(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path, extra={"FAKE_CLAUDE_DELAY": "0.05"})
    gateway = await start_gateway(INPROCESS, env=env)
    session = await create_session(gateway, tmp_path)
    live = await OutputStream.open(gateway, session["id"], deltas=True)
    try:
        await gql(gateway, START, id=session["id"], c="Please tell a story")
        for _ in range(3):
            await live.until("TEXT_DELTA")
        stopped = await gql(
            gateway,
            "mutation($id: ID!) { interruptCommand(sessionId: $id) { status } }",
            id=session["id"],
        )
        assert stopped == {"interruptCommand": {"status": "INTERRUPTED"}}
        await live.until("COMMAND_FINISHED")
    finally:
        await live.close()
    streamed = "".join(o["text"] for o in live.outputs if o["kind"] == "TEXT_DELTA")
    [partial] = [o for o in live.outputs if o["kind"] == "TEXT"]
    assert partial["data"] == {"partial": True}
    assert partial["text"] == streamed and len(streamed.split()) >= 3
    # Stored: a client that comes later reads the partial text too.
    replay = await start_curl(
        curl_sse(
            gateway.url,
            "subscription($id: ID!) { commandOutput(sessionId: $id) { kind text } }",
            {"id": session["id"]},
        )
    )
    stream = OutputStream(replay)
    try:
        await stream.until("COMMAND_FINISHED")
    finally:
        await stream.close()
    assert {"kind": "TEXT", "text": streamed} in stream.outputs
    assert_no_traceback(gateway)


async def test_fork_then_diverge(start_gateway: StartGateway, tmp_path: Path) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    session = await create_session(gateway, tmp_path)
    execute = """mutation($id: ID!, $c: String!) {
      executeCommand(sessionId: $id, command: $c) { result }
    }"""
    await gql(gateway, execute, id=session["id"], c="What is 2+2?")
    marker = (
        await gql(
            gateway,
            "query($id: ID!) { session(id: $id) { lastSeq } }",
            id=session["id"],
        )
    )["session"]["lastSeq"]
    await gql(gateway, execute, id=session["id"], c="What is 5*5?")
    fork = await gql(
        gateway,
        "mutation($id: ID!, $at: Int) { forkSession(id: $id, atSeq: $at) {"
        " id claudeSessionId origin forkedFrom lastSeq } }",
        id=session["id"],
        at=marker,
    )
    forked = fork["forkSession"]
    assert forked["origin"] == "FORKED"
    assert forked["forkedFrom"] == session["claudeSessionId"]
    assert forked["claudeSessionId"] != session["claudeSessionId"]
    assert forked["lastSeq"] == marker
    previous = "What was the previous calculation?"
    ran = await gql(gateway, execute, id=forked["id"], c=previous)
    assert ran["executeCommand"]["result"] == (
        "The previous calculation was 2+2, which equals 4."
    )
    ran = await gql(gateway, execute, id=session["id"], c=previous)
    assert ran["executeCommand"]["result"] == (
        "The previous calculation was 5*5, which equals 25."
    )
    # The CLI was told to fork at Claude's message, under the fork's own UUID.
    [first_of_fork] = [
        argv
        for argv in claude.invocations()
        if any(a == f"--session-id={forked['claudeSessionId']}" for a in argv)
    ]
    assert f"--resume={session['claudeSessionId']}" in first_of_fork
    assert "--fork-session" in first_of_fork
    assert any(a.startswith("--resume-session-at=") for a in first_of_fork)
    assert_no_traceback(gateway)


def run_cli_in_a_terminal(
    claude: ClaudeStandIn, directory: Path, prompt: str
) -> dict[str, Any]:
    """The user runs the CLI themselves (as ``claude -p`` would, stream-json);
    its init message."""
    lines = [
        {
            "type": "control_request",
            "request_id": "1",
            "request": {"subtype": "initialize"},
        },
        {"type": "user", "message": {"role": "user", "content": prompt}},
    ]
    done = subprocess.run(
        [
            sys.executable,
            str(FAKE_CLAUDE),
            "--output-format",
            "stream-json",
            "--input-format",
            "stream-json",
        ],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        cwd=directory,
        env={**os.environ, "CLAUDE_CONFIG_DIR": str(claude.state_dir)},
        timeout=30,
        check=True,
    )
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    return next(m for m in messages if m.get("subtype") == "init")


async def test_import_a_session_begun_in_the_terminal_and_continue_it(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    init = run_cli_in_a_terminal(claude, project, "What is 9-4?")
    claude_uuid = init["session_id"]
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    listed = await gql(
        gateway,
        "query($d: String!) { claudeCodeSessions(workingDirectory: $d) {"
        " sessionId title workingDirectory importedAs lastModified } }",
        d=str(project),
    )
    [found] = listed["claudeCodeSessions"]
    assert found["sessionId"] == claude_uuid
    assert found["title"] == "What is 9-4?"
    assert found["workingDirectory"] == str(project)
    assert found["importedAs"] is None
    imported = await gql(
        gateway,
        "mutation($u: ID!) { importSession(uuid: $u) {"
        " id claudeSessionId origin workingDirectory } }",
        u=claude_uuid,
    )
    ours = imported["importSession"]
    assert ours["claudeSessionId"] == claude_uuid and ours["origin"] == "IMPORTED"
    history = OutputStream(
        await start_curl(
            curl_sse(
                gateway.url,
                "subscription($id: ID!) { commandOutput(sessionId: $id) { kind text } }",
                {"id": ours["id"]},
            )
        )
    )
    try:
        await history.until("TEXT")
    finally:
        await history.close()
    assert history.outputs == [
        {"kind": "PROMPT", "text": "What is 9-4?"},
        {"kind": "TEXT", "text": "5"},
    ]
    ran = await gql(
        gateway,
        "mutation($id: ID!) { executeCommand(sessionId: $id,"
        ' command: "What was the previous calculation?") { result } }',
        id=ours["id"],
    )
    assert ran["executeCommand"]["result"] == (
        "The previous calculation was 9-4, which equals 5."
    )
    assert f"--resume={claude_uuid}" in claude.invocations()[-1]
    assert_no_traceback(gateway)


async def test_usage_per_command_and_per_session(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    session = await create_session(gateway, tmp_path)
    for prompt in ("What is 1+1?", "What is 2+2?"):
        await gql(
            gateway,
            "mutation($id: ID!, $c: String!) { executeCommand(sessionId: $id,"
            " command: $c) { status } }",
            id=session["id"],
            c=prompt,
        )
    state = (await gql(gateway, SESSION, id=session["id"]))["session"]
    per_command = [c["usage"] for c in state["commands"]]
    assert [u["inputTokens"] for u in per_command] == [10, 10]
    assert state["usage"]["inputTokens"] == 20
    assert state["usage"]["outputTokens"] == 10
    assert state["usage"]["numTurns"] == 2
    assert state["usage"]["costUsd"] == sum(u["costUsd"] for u in per_command) > 0


async def test_a_restart_with_a_pending_request_ends_that_command_interrupted(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path)
    gateway = await start_gateway(INPROCESS, env=env)
    session = await create_session(gateway, tmp_path)
    stream = await OutputStream.open(gateway, session["id"])
    try:
        asked = await ask_for_bash(gateway, session["id"], stream)
    finally:
        await stream.close()
    await gateway.stop(signal.SIGKILL)

    restarted = await start_gateway(INPROCESS, env=env)
    state = (await gql(restarted, SESSION, id=session["id"]))["session"]
    assert state["status"] == "IDLE"
    assert state["pendingPermissions"] == []
    assert [c["status"] for c in state["commands"]] == ["INTERRUPTED"]
    late = await curl_graphql(
        restarted.url, ANSWER, {"r": asked["data"]["requestId"], "allow": True}
    )
    assert (
        late.body["errors"][0]["extensions"]["code"] == "PERMISSION_REQUEST_NOT_FOUND"
    )
    replay = OutputStream(
        await start_curl(curl_sse(restarted.url, OUTPUT, {"id": session["id"]}))
    )
    try:
        await replay.until("COMMAND_FINISHED")
    finally:
        await replay.close()
    resolved = [o for o in replay.outputs if o["kind"] == "PERMISSION_RESOLVED"]
    assert [(r["text"], r["data"]["requestId"]) for r in resolved] == [
        ("INTERRUPTED", asked["data"]["requestId"])
    ]
    # The session goes on.
    stream = await OutputStream.open(restarted, session["id"])
    try:
        await stream.until("COMMAND_FINISHED")  # the replay of the first command
        fresh = await ask_for_bash(restarted, session["id"], stream)
        assert fresh["data"]["requestId"] != asked["data"]["requestId"]
        await gql(restarted, ANSWER, r=fresh["data"]["requestId"], allow=True)
        finished = await stream.until("COMMAND_FINISHED")
        assert finished["text"] == "SUCCEEDED"
    finally:
        await stream.close()
    assert_no_traceback(restarted)


async def test_a_clean_shutdown_with_a_pending_request_closes_it_and_the_command(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path)
    gateway = await start_gateway(INPROCESS, env=env)
    session = await create_session(gateway, tmp_path)
    stream = await OutputStream.open(gateway, session["id"])
    try:
        asked = await ask_for_bash(gateway, session["id"], stream)
    finally:
        await stream.close()
    assert await gateway.stop() == 0, gateway.output()
    assert_no_traceback(gateway)

    restarted = await start_gateway(INPROCESS, env=env)
    state = (await gql(restarted, SESSION, id=session["id"]))["session"]
    assert state["pendingPermissions"] == []
    assert [c["status"] for c in state["commands"]] == ["INTERRUPTED"]
    replay = OutputStream(
        await start_curl(curl_sse(restarted.url, OUTPUT, {"id": session["id"]}))
    )
    try:
        await replay.until("COMMAND_FINISHED")
    finally:
        await replay.close()
    resolved = [o for o in replay.outputs if o["kind"] == "PERMISSION_RESOLVED"]
    assert [(r["text"], r["data"]["requestId"]) for r in resolved] == [
        ("INTERRUPTED", asked["data"]["requestId"])
    ]
    assert_no_traceback(restarted)


async def test_reconnecting_mid_message_resumes_after_the_stored_event_and_gets_the_text(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path, extra={"FAKE_CLAUDE_DELAY": "0.05"})
    gateway = await start_gateway(INPROCESS, env=env)
    session = await create_session(gateway, tmp_path)
    first = await OutputStream.open(gateway, session["id"], deltas=True)
    try:
        await gql(gateway, START, id=session["id"], c="Please tell a story")
        for _ in range(3):
            await first.until("TEXT_DELTA")
    finally:
        await first.close()  # the connection drops mid-message
    last_id = first.frames[-1]["id"]
    seen_text = "".join(o["text"] for o in first.outputs if o["kind"] == "TEXT_DELTA")
    second = OutputStream(
        await start_curl(
            curl_sse(
                gateway.url,
                OUTPUT,
                {"id": session["id"], "deltas": True},
                headers={"Last-Event-ID": last_id},
            )
        )
    )
    try:
        await second.until("COMMAND_FINISHED")
    finally:
        await second.close()
    # Nothing before the resume point again; the message comes whole.
    assert all(o["seq"] >= int(last_id) for o in second.outputs)
    stored = [o for o in second.outputs if o["kind"] != "TEXT_DELTA"]
    assert [o["seq"] for o in stored] == list(
        range(int(last_id) + 1, int(last_id) + 1 + len(stored))
    )
    [text] = [o for o in second.outputs if o["kind"] == "TEXT"]
    assert text["text"].startswith(seen_text) and len(text["text"]) > len(seen_text)
    assert_no_traceback(gateway)
