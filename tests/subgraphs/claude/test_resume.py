"""commandOutput is a resumable source: its events carry their seq as event id and a
``Last-Event-ID`` in the request resumes after it (what the gateway's SSE uses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext, SubgraphRequest
from gateway.transports.inprocess import InProcessTransport
from tests.subgraphs.claude.conftest import EXECUTE, Client, create

OUTPUT = """
subscription ($id: ID!) { commandOutput(sessionId: $id) { seq kind text } }
"""


async def _events(
    local: LocalSubgraph, session_id: str, headers: dict[str, str], count: int
) -> list[dict[str, Any]]:
    transport = InProcessTransport("claude", local)
    context = RequestContext(headers=CIMultiDictProxy(CIMultiDict(headers)))
    stream = transport.subscribe(
        SubgraphRequest(query=OUTPUT, variables={"id": session_id}, context=context)
    )
    results: list[dict[str, Any]] = []
    try:
        async for result in stream:
            results.append(result)  # type: ignore[arg-type]
            if len(results) == count:
                break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return results


async def test_events_carry_their_seq_as_event_id_and_last_event_id_resumes(
    client: Client, local: LocalSubgraph, workdir: Path
) -> None:
    session = await create(client, workdir)
    await client.data(EXECUTE, {"id": session["id"], "cmd": "What is 3+3?"})

    first = await _events(local, session["id"], {}, 3)
    ids = [r["extensions"]["eventId"] for r in first]
    seqs = [r["data"]["commandOutput"]["seq"] for r in first]
    assert ids == [str(seq) for seq in seqs] == ["1", "2", "3"]

    resumed = await _events(local, session["id"], {"Last-Event-ID": "2"}, 1)
    assert resumed[0]["extensions"]["eventId"] == "3"
    assert resumed[0]["data"] == first[2]["data"]


async def test_a_last_event_id_that_is_not_a_seq_is_bad_user_input(
    client: Client, local: LocalSubgraph, workdir: Path
) -> None:
    session = await create(client, workdir)
    results = await _events(local, session["id"], {"Last-Event-ID": "abc"}, 1)
    assert results[0]["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
