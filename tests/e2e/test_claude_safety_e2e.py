"""The claude subgraph is safe by default, through a real ``gateway serve``.

Working directories stay inside the roots, the CLI never sees the gateway's
secrets, a state directory has one owner, and a CLI never outlives a gateway
killed with SIGKILL; what was stored survives it (``PRAGMA integrity_check``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.helpers.claude import (
    INPROCESS,
    assert_no_traceback,
    create_session,
    execute,
    fake_claude,
    inprocess_env,
    process_state,
    start_hanging_command,
)
from tests.helpers.curl import curl_graphql
from tests.helpers.processes import StartGateway

CREATE = """mutation($dir: String!) {
  createSession(input: {workingDirectory: $dir}) { id }
}"""


async def test_a_working_directory_outside_the_roots_is_forbidden_before_anything_runs(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    root = tmp_path / "projects"
    root.mkdir()
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path, claude_root=root)
    )
    for outside in ["/", "/etc", str(tmp_path), "~", str(root / ".." / "fake-claude")]:
        answer = await curl_graphql(gateway.url, CREATE, {"dir": outside})
        assert answer.status == 200
        assert answer.body["data"] is None
        [error] = answer.body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN_PATH", error
        # It names the path as sent, never the server's roots.
        assert error["message"].startswith(f"working directory {outside!r} is outside")
    sessions = await curl_graphql(gateway.url, "{ sessions { id } }")
    assert sessions.body == {"data": {"sessions": []}}
    assert claude.invocations() == []  # no CLI was started
    await create_session(gateway, root)  # inside: fine
    assert_no_traceback(gateway)


async def test_the_cli_never_sees_the_gateways_secrets(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(
        claude,
        git_root=tmp_path,
        extra={
            "GITHUB_TOKEN": "ghp_gateway_secret",
            "AWS_SECRET_ACCESS_KEY": "aws-secret",
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        },
    )
    gateway = await start_gateway(INPROCESS, env=env)
    session = await create_session(gateway, tmp_path)
    assert await execute(gateway, session["id"], "What is 2+2?") == {
        "data": {"executeCommand": {"status": "SUCCEEDED", "result": "4"}}
    }
    seen = claude.environment()
    assert "GITHUB_TOKEN" not in seen
    assert "E2E_GITHUB_TOKEN" not in seen
    assert "AWS_SECRET_ACCESS_KEY" not in seen
    assert seen["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert seen["CLAUDE_CONFIG_DIR"] == str(claude.state_dir)
    assert seen["FAKE_CLAUDE_DELAY"] == "0"  # named in the env option
    assert "PATH" in seen and "HOME" in seen


async def test_a_second_gateway_on_the_same_state_directory_exits_with_one_line(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path)
    first = await start_gateway(INPROCESS, env=env)
    second = await start_gateway(INPROCESS, env=env, wait=False)
    code = await asyncio.wait_for(second.process.wait(), 60)
    assert code == 1
    lines = [line for line in second.output().splitlines() if line.strip()]
    state_dir = tmp_path / "state" / "gateway"
    assert lines[-1] == (
        f"gateway: state directory {state_dir} is in use by another process "
        f"(pid {first.process.pid}); stop it or give this one another state "
        "directory"
    ), second.output()
    assert "Traceback" not in second.output()
    # The first one is untouched.
    session = await create_session(first, tmp_path)
    assert await execute(first, session["id"], "What is 1+1?") == {
        "data": {"executeCommand": {"status": "SUCCEEDED", "result": "2"}}
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
async def test_the_cli_dies_with_a_sigkilled_gateway_and_nothing_stored_is_lost(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    env = inprocess_env(claude, git_root=tmp_path)
    gateway = await start_gateway(INPROCESS, env=env)
    done = await create_session(gateway, tmp_path)
    assert (await execute(gateway, done["id"], "What is 3+3?"))["data"]
    session = await create_session(gateway, tmp_path)
    pid = await start_hanging_command(gateway, claude, session["id"])
    assert os.getpgid(pid) == pid  # the CLI leads its own process group
    await gateway.stop(signal.SIGKILL)
    try:
        for _ in range(400):
            if process_state(pid) in (None, "Z"):
                break
            await asyncio.sleep(0.05)
        assert process_state(pid) in (None, "Z")
    finally:
        if process_state(pid) not in (None, "Z"):
            os.kill(pid, signal.SIGKILL)

    database = tmp_path / "state" / "gateway" / "claude.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    restarted = await start_gateway(INPROCESS, env=env)
    history = await curl_graphql(
        restarted.url,
        "query($a: ID!, $b: ID!) { a: session(id: $a) { commands { status result } }"
        " b: session(id: $b) { status commands { status errorCode } } }",
        {"a": done["id"], "b": session["id"]},
    )
    assert history.data == {
        "a": {"commands": [{"status": "SUCCEEDED", "result": "6"}]},
        "b": {
            "status": "IDLE",
            "commands": [{"status": "INTERRUPTED", "errorCode": "COMMAND_INTERRUPTED"}],
        },
    }
    await restarted.stop()
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert_no_traceback(restarted)
