"""GraphQL over WebSocket through the real ``gateway serve`` process, end to end.

Clients: the npm ``graphql-ws`` client (graphql-transport-ws) as its users run it, and
raw frames of the legacy ``graphql-ws`` protocol (subscriptions-transport-ws) over
aiohttp. Upstreams: the in-process ticker, and the ticker as its own server process
streaming to the gateway over WebSocket (``subscription.protocol: ws``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers.processes import ROOT, GatewayProcess, StartGateway, free_port
from tests.helpers.ticker import config, eventually, listeners, publish

MESSAGES = (
    "subscription ($t: String!) { messages(topic: $t) { seq text product { name } } }"
)
WS_CLIENT = ROOT / "tests" / "e2e" / "ws_client.mjs"
TIMEOUT = 15.0

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="Node.js is not installed"
)


def ws_url(gateway: GatewayProcess) -> str:
    return gateway.url.replace("http://", "ws://")


class NodeClient:
    """``ws_client.mjs`` running: its JSON lines, read one at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *argv: str) -> NodeClient:
        modules = ROOT / "tests" / "node" / "node_modules" / "graphql-ws"
        assert modules.exists(), "run scripts/lib/node-deps.sh (npm install)"
        process = await asyncio.create_subprocess_exec(
            "node", str(WS_CLIENT), *argv,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=str(ROOT),
        )  # fmt: skip
        return cls(process)

    async def line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
        if not raw:
            assert self.process.stderr is not None
            err = await self.process.stderr.read()
            raise AssertionError(f"the client ended: {err.decode()}")
        value: dict[str, Any] = json.loads(raw)
        return value

    async def wait(self) -> int:
        return await asyncio.wait_for(self.process.wait(), TIMEOUT)

    def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
        yield s


@pytest.fixture
async def clients() -> AsyncIterator[list[NodeClient]]:
    started: list[NodeClient] = []
    yield started
    for client in started:
        client.stop()
        await client.process.wait()


async def node_client(started: list[NodeClient], *argv: str) -> NodeClient:
    client = await NodeClient.start(*argv)
    started.append(client)
    return client


# -- graphql-ws (graphql-transport-ws) ---------------------------------------------


async def test_graphql_ws_client_subscribes_and_its_disconnect_closes_the_upstream(
    start_gateway: StartGateway,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    clients: list[NodeClient],
) -> None:
    gateway = await start_gateway(config(tmp_path))
    client = await node_client(
        clients, ws_url(gateway), MESSAGES, json.dumps({"t": "w"}), "2"
    )
    assert await client.line() == {"connected": True}

    async def subscribed() -> bool:
        return await listeners(session, gateway, "w") == 1

    await eventually(subscribed, "the upstream opens")
    await publish(session, gateway, "w", "one", "two")
    first, second = await client.line(), await client.line()
    assert first == {
        "data": {
            "messages": {"seq": 1, "text": "one", "product": {"name": "Product 1"}}
        }
    }
    assert second["data"]["messages"]["text"] == "two"
    assert await client.line() == {"disposed": True}
    assert await client.wait() == 0

    async def closed() -> bool:
        return await listeners(session, gateway, "w") == 0

    await eventually(closed, "the client's disconnect closes the upstream")


async def test_graphql_ws_client_runs_queries_and_mutations(
    start_gateway: StartGateway, tmp_path: Path, clients: list[NodeClient]
) -> None:
    gateway = await start_gateway(config(tmp_path))
    mutation = await node_client(
        clients,
        ws_url(gateway),
        'mutation { publish(topic: "q", text: "hi") { seq text } }',
    )
    assert await mutation.line() == {"connected": True}
    assert await mutation.line() == {"data": {"publish": {"seq": 1, "text": "hi"}}}
    assert await mutation.line() == {"complete": True}
    query = await node_client(
        clients,
        ws_url(gateway),
        '{ history(topic: "q") { text } product(upc: "p2") { name } }',
    )
    await query.line()
    assert await query.line() == {
        "data": {"history": [{"text": "hi"}], "product": {"name": "Product 2"}}
    }
    assert await query.line() == {"complete": True}


async def test_connection_params_reach_the_subgraph_as_headers(
    start_gateway: StartGateway, tmp_path: Path, clients: list[NodeClient]
) -> None:
    gateway = await start_gateway(config(tmp_path))
    client = await node_client(
        clients,
        ws_url(gateway),
        '{ header(name: "Authorization") }',
        "{}",
        "",
        json.dumps({"Authorization": "Bearer from-init"}),
    )
    await client.line()
    assert await client.line() == {"data": {"header": "Bearer from-init"}}


async def test_an_origin_outside_the_allow_list_cannot_open_a_socket(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await session.ws_connect(
            ws_url(gateway),
            protocols=("graphql-transport-ws",),
            headers={"Origin": "https://attacker.example"},
        )
    assert caught.value.status == 403
    async with session.get(
        gateway.url,
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Protocol": "mqtt",
        },
    ) as response:
        assert response.status == 400
        body = await response.json()
    assert "graphql-transport-ws, graphql-ws" in body["errors"][0]["message"]


# -- legacy graphql-ws (subscriptions-transport-ws), raw frames ----------------------


async def test_legacy_protocol_frames_start_data_stop_and_disconnect(
    start_gateway: StartGateway, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(config(tmp_path))
    ws = await session.ws_connect(ws_url(gateway), protocols=("graphql-ws",))
    await ws.send_json({"type": "connection_init", "payload": {}})
    assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "connection_ack"
    assert (await ws.receive_json(timeout=TIMEOUT))["type"] == "ka"
    for op_id in ("1", "2"):
        await ws.send_json(
            {"id": op_id, "type": "start", "payload": {"query": MESSAGES, "variables": {"t": op_id}}}
        )  # fmt: skip

    async def both_open() -> bool:
        return all([await listeners(session, gateway, t) == 1 for t in ("1", "2")])

    await eventually(both_open, "both upstreams open on one socket")
    await publish(session, gateway, "2", "to two")
    data = await ws.receive_json(timeout=TIMEOUT)
    assert data["id"] == "2" and data["type"] == "data"
    assert data["payload"]["data"]["messages"]["text"] == "to two"
    await ws.send_json({"id": "2", "type": "stop"})
    assert await ws.receive_json(timeout=TIMEOUT) == {"id": "2", "type": "complete"}

    async def two_closed() -> bool:
        return await listeners(session, gateway, "2") == 0

    await eventually(two_closed, "stop closes its upstream")
    await ws.close()

    async def one_closed() -> bool:
        return await listeners(session, gateway, "1") == 0

    await eventually(one_closed, "a disconnect closes every upstream of the socket")


async def test_sigterm_closes_graphql_ws_clients_with_1001(
    start_gateway: StartGateway,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    clients: list[NodeClient],
) -> None:
    gateway = await start_gateway(config(tmp_path))
    client = await node_client(
        clients, ws_url(gateway), MESSAGES, json.dumps({"t": "s"})
    )
    assert await client.line() == {"connected": True}

    async def subscribed() -> bool:
        return await listeners(session, gateway, "s") == 1

    await eventually(subscribed, "the upstream opens")
    assert await gateway.stop(signal.SIGTERM) == 0
    ended = await client.line()
    assert ended["code"] == 1001, ended


# -- an upstream subgraph over WebSocket ----------------------------------------------


@pytest.fixture
async def remote_ticker(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """The ticker as its own server process: its GraphQL URL and the process."""
    port = free_port()
    log = tmp_path / "ticker.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fixtures.ticker", "--port", str(port),
            cwd=str(ROOT), stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        async with aiohttp.ClientSession() as client:
            for _ in range(300):
                try:
                    async with client.get(f"http://127.0.0.1:{port}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"ticker did not start:\n{log.read_text()}")
        yield url, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("subprotocol", ["graphql-transport-ws", "graphql-ws", "auto"])
async def test_a_remote_subgraph_streams_to_the_gateway_over_websocket(
    start_gateway: StartGateway,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    clients: list[NodeClient],
    remote_ticker: tuple[str, asyncio.subprocess.Process],
    subprotocol: str,
) -> None:
    url, ticker = remote_ticker
    gateway = await start_gateway(
        config(tmp_path, ticker=f"routing_url: {url}\nsubscription:\n  protocol: ws\n"
               f"  websocketSubprotocol: {subprotocol}")
    )  # fmt: skip
    first = await node_client(
        clients, ws_url(gateway), MESSAGES, json.dumps({"t": "r"})
    )
    second = await node_client(
        clients, ws_url(gateway), MESSAGES, json.dumps({"t": "r"})
    )
    for client in (first, second):
        assert await client.line() == {"connected": True}

    async def shared() -> bool:
        return await listeners(session, gateway, "r") == 1

    await eventually(shared, "identical subscriptions share one upstream socket")
    await publish(session, gateway, "r", "over ws")
    for client in (first, second):
        assert await client.line() == {
            "data": {
                "messages": {
                    "seq": 1,
                    "text": "over ws",
                    "product": {"name": "Product 1"},
                }
            }
        }
    # The subgraph dies mid-stream: an error to every client, then the end.
    ticker.kill()
    for client in (first, second):
        error = await client.line()
        [problem] = error["errors"]
        assert problem["extensions"]["serviceName"] == "ticker", error
        assert "without 'complete'" in problem["message"]
        assert await client.line() == {"complete": True}
    assert "Traceback" not in gateway.output()


async def test_data_over_a_ws_upstream_keeps_its_ids_for_resume(
    start_gateway: StartGateway,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    remote_ticker: tuple[str, asyncio.subprocess.Process],
) -> None:
    url, _ = remote_ticker
    gateway = await start_gateway(
        config(tmp_path, ticker=f"routing_url: {url}\nsubscription:\n  protocol: ws")
    )
    query = {"query": MESSAGES, "variables": {"t": "id"}}
    await publish(session, gateway, "id", "a", "b", "c")
    async with session.post(
        gateway.url,
        json=query,
        headers={"Accept": "text/event-stream", "Last-Event-ID": "1"},
    ) as response:
        assert response.status == 200
        received = b""
        while received.count(b"event: next") < 2:
            received += await asyncio.wait_for(response.content.readany(), TIMEOUT)
    text = received.decode()
    assert "id: 2\n" in text and "id: 3\n" in text
    assert '"text":"b"' in text and '"text":"c"' in text
    assert '"text":"a"' not in text


# -- the README's graphql-ws snippet, as written ----------------------------------------


def readme_snippet(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    marker = f"<!-- snippet: {name} -->"
    assert marker in text, f"README.md has no {marker}"
    block = text.split(marker, 1)[1].split("```js\n", 1)[1].split("```", 1)[0]
    return block


async def test_the_readme_graphql_ws_snippet_streams_command_output(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    from tests.helpers.claude import (
        INPROCESS,
        create_session,
        execute,
        fake_claude,
        inprocess_env,
    )
    from tests.helpers.curl import curl_graphql

    claude = fake_claude(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    created = await create_session(gateway, work)
    done = await execute(gateway, created["id"], "What is 3+3?")
    assert done["data"]["executeCommand"]["status"] == "SUCCEEDED", done
    source = readme_snippet("graphql-ws")
    source = source.replace("ws://localhost:4000/graphql", ws_url(gateway))
    source = source.replace("SESSION", created["id"])
    # Bare imports ("graphql-ws", "ws") resolve from tests/node/node_modules.
    script = ROOT / "tests" / "node" / f".readme-snippet-{gateway.port}.mjs"
    script.write_text(source)
    try:
        process = await asyncio.create_subprocess_exec(
            "node", str(script),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        kinds: list[str] = []
        while "COMMAND_FINISHED" not in kinds:
            line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
            assert line, (await process.communicate())[1].decode()
            kinds.append(json.loads(line)["data"]["commandOutput"]["kind"])
        assert kinds[0] == "COMMAND_STARTED", kinds
        closed = await curl_graphql(
            gateway.url, "mutation($id: ID!) { closeSession(id: $id) { status } }",
            {"id": created["id"]},
        )  # fmt: skip
        assert closed.status == 200, closed
        _, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
        assert process.returncode == 0, err.decode()
    finally:
        script.unlink(missing_ok=True)


async def test_a_second_identical_command_output_subscription_gets_the_replay(
    start_gateway: StartGateway, tmp_path: Path, clients: list[NodeClient]
) -> None:
    # Issue 16: a UI that reconnects while its old connection lingers must see the
    # stored output again, then the live events, on both connections.
    from tests.helpers.claude import (
        INPROCESS,
        OUTPUT,
        create_session,
        execute,
        fake_claude,
        inprocess_env,
    )

    claude = fake_claude(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    gateway = await start_gateway(
        INPROCESS, env=inprocess_env(claude, git_root=tmp_path)
    )
    created = await create_session(gateway, work)
    await execute(gateway, created["id"], "What is 3+3?")
    variables = json.dumps({"id": created["id"]})
    old = await node_client(clients, ws_url(gateway), OUTPUT, variables)
    assert await old.line() == {"connected": True}
    stored: list[dict[str, Any]] = []
    while not stored or stored[-1]["kind"] != "COMMAND_FINISHED":
        stored.append((await old.line())["data"]["commandOutput"])
    new = await node_client(clients, ws_url(gateway), OUTPUT, variables)
    assert await new.line() == {"connected": True}
    replayed = [(await new.line())["data"]["commandOutput"] for _ in stored]
    assert replayed == stored
    await execute(gateway, created["id"], "And 4+4?")
    live_old = (await old.line())["data"]["commandOutput"]
    live_new = (await new.line())["data"]["commandOutput"]
    assert live_old == live_new
    assert live_old["seq"] == stored[-1]["seq"] + 1


# -- issue 16: the id of a resumed stream never goes back ---------------------------


async def test_a_resumed_stream_whose_subgraph_stops_keeps_its_last_event_id(
    start_gateway: StartGateway,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    remote_ticker: tuple[str, asyncio.subprocess.Process],
) -> None:
    # The subgraph server ends its streams with a SHUTTING_DOWN error that has no
    # id: the gateway's client must keep the id it resumed from, never get 1.
    url, ticker = remote_ticker
    gateway = await start_gateway(config(tmp_path, ticker=f"routing_url: {url}"))
    await publish(session, gateway, "x", "a", "b", "c", "d", "e")
    async with session.post(
        gateway.url,
        json={"query": MESSAGES, "variables": {"t": "x"}},
        headers={"Accept": "text/event-stream", "Last-Event-ID": "5"},
    ) as response:
        assert response.status == 200

        async def upstream_open() -> bool:
            return await listeners(session, gateway, "x") == 1

        await eventually(upstream_open, "the resumed upstream opens")
        ticker.send_signal(signal.SIGTERM)
        body = (await asyncio.wait_for(response.read(), TIMEOUT)).decode()
    frames = [frame for frame in body.split("\n\n") if frame.startswith("event:")]
    assert frames[-1].startswith("event: complete"), body
    [error] = frames[:-1]
    assert "id: 5\n" in error, body
    assert "SHUTTING_DOWN" in error, body
