"""The sessions the Claude Code CLI keeps on disk, read with claude-agent-sdk.

The CLI writes each conversation to ``$CLAUDE_CONFIG_DIR/projects/<mangled
cwd>/<uuid>.jsonl`` (``CLAUDE_CONFIG_DIR`` defaults to ``~/.claude``); the SDK's
``list_sessions`` and ``get_session_messages`` read them (its own parser, so the
format stays the CLI's business). Git worktrees are not scanned (the SDK would
run ``git`` in the directory; nothing here runs a program chosen by a
repository). The reads are blocking file I/O, so they run in a thread.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from claude_agent_sdk import get_session_info, get_session_messages, list_sessions

from subgraphs.claude.runner import OutputItem

__all__ = [
    "UUID_PATTERN",
    "ClaudeCodeSession",
    "find_session",
    "session_items",
    "sessions_in",
]

UUID_PATTERN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


@dataclass(frozen=True, slots=True)
class ClaudeCodeSession:
    session_id: str
    title: str
    first_prompt: str | None
    last_modified: str
    created_at: str | None
    git_branch: str | None
    working_directory: str | None


def _iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _session(info: Any) -> ClaudeCodeSession:
    return ClaudeCodeSession(
        session_id=info.session_id,
        title=info.summary,
        first_prompt=info.first_prompt,
        last_modified=_iso(info.last_modified) or "",
        created_at=_iso(info.created_at),
        git_branch=info.git_branch or None,
        working_directory=info.cwd,
    )


async def sessions_in(directory: str) -> list[ClaudeCodeSession]:
    """The CLI's sessions for ``directory``, newest first."""
    infos = await asyncio.to_thread(
        list_sessions, directory=directory, include_worktrees=False
    )
    return [_session(info) for info in infos]


async def find_session(session_id: str) -> ClaudeCodeSession | None:
    info = await asyncio.to_thread(get_session_info, session_id)
    return _session(info) if info is not None else None


async def session_items(session_id: str, directory: str) -> list[OutputItem]:
    """A session's past messages as output items: PROMPT for what the user
    typed, TEXT / THINKING / TOOL_USE / TOOL_RESULT as in a live command."""
    messages = await asyncio.to_thread(
        get_session_messages, session_id, directory=directory
    )
    items: list[OutputItem] = []
    for message in messages:
        body = message.message if isinstance(message.message, dict) else {}
        content = body.get("content")
        uuid = message.uuid or None
        if isinstance(content, str):
            if message.type == "user":
                items.append(OutputItem("PROMPT", content, None, uuid))
            else:
                items.append(OutputItem("TEXT", content, None, uuid))
            continue
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                items.append(
                    OutputItem(
                        "PROMPT" if message.type == "user" else "TEXT",
                        str(block.get("text") or ""),
                        None,
                        uuid,
                    )
                )
            elif kind == "thinking":
                items.append(
                    OutputItem("THINKING", str(block.get("thinking") or ""), None, uuid)
                )
            elif kind == "tool_use":
                items.append(
                    OutputItem(
                        "TOOL_USE",
                        str(block.get("name")),
                        {
                            "id": block.get("id"),
                            "name": block.get("name"),
                            "input": block.get("input"),
                        },
                        uuid,
                    )
                )
            elif kind == "tool_result":
                result = block.get("content")
                items.append(
                    OutputItem(
                        "TOOL_RESULT",
                        result if isinstance(result, str) else None,
                        {
                            "toolUseId": block.get("tool_use_id"),
                            "content": result,
                            "isError": bool(block.get("is_error")),
                        },
                        uuid,
                    )
                )
    return items
