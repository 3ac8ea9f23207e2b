"""bench.floor: the recorded subgraph requests of a query, replayed by the floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.common import PY, RunFailed, free_port, start, stop, wait_until_up
from bench.floor import _Floor, record
from bench.guild import HEAVY, JOIN, LIGHT, NAMES, SDL, expected_answer, schema_for
from bench.peers import (
    FLOOR_SCRIPT,
    TARGETS,
    check_answer,
    checked_answer,
    launch,
    record_floor,
    wait_up,
)
from bench.subgraphs import create_app


async def _subgraphs(aiohttp_server: Any) -> dict[str, str]:
    urls = {}
    for name in NAMES:
        server = await aiohttp_server(create_app(schema_for(name)))
        urls[name] = str(server.make_url("/graphql"))
    return urls


async def test_the_engine_s_requests_are_recorded_in_order(aiohttp_server: Any) -> None:
    urls = await _subgraphs(aiohttp_server)
    scripts = await record(SDL, urls, [LIGHT, JOIN, HEAVY, "{ __typename }"])
    light = scripts[LIGHT]["exchanges"]
    assert [(e["service"], e["after"]) for e in light] == [("products", [])]
    assert orjson.loads(light[0]["body"])["query"].startswith("query")
    join = scripts[JOIN]["exchanges"]
    # The join's entity fetch needs the first answer's keys: it went after it.
    assert [e["after"] for e in join] == [[], [0]]
    heavy = scripts[HEAVY]["exchanges"]
    assert len(heavy) == 7 and heavy[0]["after"] == []
    # Each went after answers to requests sent before it, and some waited.
    assert all(all(j < i for j in e["after"]) for i, e in enumerate(heavy))
    assert any(e["after"] for e in heavy)
    assert scripts["{ __typename }"] == {"exchanges": [], "answer": '{"data":[]}'}
    # What the subgraphs said, before the engine merged anything into it.
    answer = orjson.loads(scripts[LIGHT]["answer"])
    assert list(answer["data"][0]) == ["topProducts"]
    assert (
        "reviews"
        not in orjson.loads(scripts[JOIN]["answer"])["data"][0]["topProducts"][0]
    )


async def test_the_floor_replays_a_recorded_query(aiohttp_server: Any) -> None:
    urls = await _subgraphs(aiohttp_server)
    scripts = await record(SDL, urls, [JOIN, HEAVY])
    floor = _Floor(scripts)
    try:
        for query in (JOIN, HEAVY):
            status, body = await floor.answer(orjson.dumps({"query": query}))
            assert status == 200
            assert body == scripts[query]["answer"].encode()
        status, body = await floor.answer(orjson.dumps({"query": "{ me { id } }"}))
        assert status == 400 and b"not a recorded query" in body
    finally:
        await floor.client.close()


def test_the_peers_run_records_launches_and_checks_the_floor(tmp_path: Path) -> None:
    # As `scripts/bench --peers` does: the subgraphs as processes, the requests
    # recorded, the floor started as a target and its answers checked.
    ports = {name: free_port() for name in NAMES}
    urls = {name: f"http://127.0.0.1:{port}/graphql" for name, port in ports.items()}
    floor_target = next(t for t in TARGETS if t.family == "floor")
    procs = [
        start(
            [PY, "-m", "bench.guild", name, "--port", str(ports[name])],
            tmp_path / f"{name}.log",
        )
        for name in NAMES
    ]
    try:
        for name in NAMES:
            wait_until_up(urls[name])
        expected = record_floor(tmp_path, urls, ["light", "heavy"])
        assert (tmp_path / FLOOR_SCRIPT).is_file()
        assert list(expected) == ["light", "heavy"]
        port = free_port()
        proc = launch(floor_target, port, tmp_path, urls, None)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/graphql"
        wait_up(url, proc, tmp_path / "floor.log")
        body = checked_answer(url, HEAVY, expected["heavy"], "floor, heavy")
        assert len(body) > 50_000  # about the size of the heavy answer
        with pytest.raises(RunFailed):  # the query's own answer is not the floor's
            check_answer(body, expected_answer(HEAVY), "floor, heavy")
    finally:
        stop(procs)
