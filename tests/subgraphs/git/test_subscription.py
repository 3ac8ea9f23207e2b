"""repositoryChanged emits when HEAD, the index or the working tree changes."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from graphql import ExecutionResult, parse, subscribe

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from tests.subgraphs.git.conftest import commit_file, git

SUBSCRIPTION = parse(
    """subscription($path: String) { repositoryChanged(path: $path) {
        parts head branch fingerprint repository { status { clean } } } }"""
)
# A safety net against a hung test, not a timing assertion.
PATIENCE = 20


async def _open(
    local: LocalSubgraph, path: str
) -> AsyncIterator[ExecutionResult] | ExecutionResult:
    assert local.context is not None
    return cast(
        Any,
        await subscribe(
            local.schema,
            SUBSCRIPTION,
            variable_values={"path": path},
            context_value=local.context(RequestContext()),
        ),
    )


async def _until(stream: AsyncIterator[ExecutionResult], part: str) -> dict[str, Any]:
    """The first event whose ``parts`` include ``part`` (a commit may first show
    as an index change, then as a HEAD change)."""
    while True:
        result = await asyncio.wait_for(anext(stream), PATIENCE)
        assert result.errors is None, result.errors
        event = result.data["repositoryChanged"]
        if part in event["parts"]:
            return event


async def test_emits_on_commit_and_on_file_edit(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    stream = await _open(subgraph, "repo")
    assert not isinstance(stream, ExecutionResult)
    try:
        (repo / "README.md").write_text("edited\n")
        edited = await _until(stream, "WORKTREE")
        assert edited["repository"] == {"status": {"clean": False}}
        (repo / "README.md").write_text("edited again\n")  # still just "modified"
        await _until(stream, "WORKTREE")
        new_head = commit_file(repo, "README.md", "committed\n", "commit it")
        committed = await _until(stream, "HEAD")
        while committed["head"] != new_head:  # the commit seen half-way
            committed = await _until(stream, "HEAD")
        assert committed["branch"] == "main"
        git(repo, "checkout", "-q", "-b", "topic")
        switched = await _until(stream, "HEAD")
        assert switched["branch"] == "topic"
        assert switched["fingerprint"] != committed["fingerprint"]
    finally:
        await cast(Any, stream).aclose()


async def test_one_poller_per_repository_stopped_when_the_last_subscriber_leaves(
    subgraph: LocalSubgraph, repo: Path
) -> None:
    assert subgraph.context is not None
    watcher = subgraph.context(RequestContext()).watcher
    first = await _open(subgraph, "repo")
    second = await _open(subgraph, str(repo / "src"))
    assert watcher.watched == (repo,)
    (repo / "new.txt").write_text("x\n")
    for stream in (first, second):
        event = await _until(cast(Any, stream), "WORKTREE")
        assert event["repository"]["status"]["clean"] is False
    await cast(Any, first).aclose()
    assert watcher.watched == (repo,)
    await cast(Any, second).aclose()
    assert watcher.watched == ()


async def test_forbidden_or_missing_repository_fails_at_once(
    subgraph: LocalSubgraph, root: Path
) -> None:
    (root / "plain").mkdir()
    forbidden = await _open(subgraph, "/")
    assert isinstance(forbidden, ExecutionResult)
    assert forbidden.errors[0].extensions["code"] == "FORBIDDEN_PATH"
    plain = await _open(subgraph, "plain")
    assert isinstance(plain, ExecutionResult)
    assert plain.errors[0].extensions["code"] == "NOT_A_REPOSITORY"


async def test_shutdown_ends_every_stream(subgraph: LocalSubgraph, repo: Path) -> None:
    assert subgraph.lifespan is not None
    async with subgraph.lifespan():
        stream = await _open(subgraph, "repo")
        waiting = asyncio.ensure_future(anext(cast(Any, stream)))
        await asyncio.sleep(0)
    # Leaving the lifespan stopped the poller: the stream completes.
    done, _ = await asyncio.wait({waiting}, timeout=PATIENCE)
    assert waiting in done
    assert isinstance(waiting.exception(), StopAsyncIteration)


async def test_repository_removed_while_watched_ends_the_stream_with_an_error(
    subgraph: LocalSubgraph, repo: Path
) -> None:

    stream = cast(Any, await _open(subgraph, "repo"))
    shutil.rmtree(repo / ".git")
    result = await asyncio.wait_for(anext(stream), PATIENCE)
    assert result.data is None
    assert result.errors[0].extensions["code"] == "GIT_ERROR"
    assert result.errors[0].path == ["repositoryChanged"]
    ended = asyncio.ensure_future(anext(stream))
    done, _ = await asyncio.wait({ended}, timeout=PATIENCE)
    assert ended in done and isinstance(ended.exception(), StopAsyncIteration)
