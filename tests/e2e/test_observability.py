"""Metrics and access logs of a real ``gateway serve`` (issue 13).

Known traffic goes in; ``/metrics`` (scraped over HTTP and checked by ``promtool``)
and the access log lines must count exactly that traffic.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.claude import (
    INPROCESS,
    create_session,
    execute,
    fake_claude,
    inprocess_env,
)
from tests.helpers.processes import (
    GATEWAY,
    ROOT,
    GatewayProcess,
    StartGateway,
    free_port,
    wait_ready,
)

SHOP_SUBGRAPHS = """\
subgraphs:
  - name: products
    module: tests.fixtures.shop:products
  - name: reviews
    module: tests.fixtures.shop:reviews
  - name: ticker
    module: tests.fixtures.ticker:ticker
"""

JOIN = "query Top { topProducts(first: 2) { upc name reviews { body } } }"


def _config(tmp_path: Path, gateway: str) -> Path:
    path = tmp_path / "supergraph.yaml"
    path.write_text(SHOP_SUBGRAPHS + "gateway:\n" + gateway)
    return path


def _metrics_config(tmp_path: Path, port: int, extra: str = "") -> Path:
    return _config(
        tmp_path,
        "  telemetry:\n"
        "    metrics:\n"
        "      prometheus:\n"
        f"        listen_addr: 127.0.0.1:{port}\n"
        "        max_operation_names: 3\n" + extra,
    )


async def _post(
    session: aiohttp.ClientSession,
    gateway: GatewayProcess,
    query: str,
    *,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], str]:
    async with session.post(
        gateway.url, json={"query": query}, headers=headers or {}
    ) as response:
        body = await response.json(content_type=None)
        return response.status, body, response.headers.get("X-Request-Id", "")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _scrape(session: aiohttp.ClientSession, port: int) -> str:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


async def test_metrics_count_known_traffic_on_their_own_listener(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    metrics_port = free_port()
    gateway = await start_gateway(_metrics_config(tmp_path, metrics_port))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            status, body, _ = await _post(session, gateway, JOIN)
            assert status == 200 and "errors" not in body
        await _post(session, gateway, "{ topProducts(first: 1) { upc } }")
        # Five distinct names past the first: three are kept, the rest overflow.
        for name in ("A", "B", "C", "D"):
            await _post(session, gateway, f"query {name} {{ topProducts {{ upc }} }}")
        status, body, _ = await _post(session, gateway, "query Bad { nope }")
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        # /metrics is not on the GraphQL port.
        async with session.get(f"{gateway.base}/metrics") as response:
            assert response.status == 404
        text = await _scrape(session, metrics_port)
    samples = _samples(text)
    requests = "gateway_requests_total"
    assert (
        _value(
            samples,
            requests,
            operation_type="query",
            operation_name="Top",
            outcome="success",
        )
        == 3
    )
    assert (
        _value(
            samples,
            requests,
            operation_type="query",
            operation_name="__unnamed__",
            outcome="success",
        )
        == 1
    )
    for kept in ("A", "B"):
        assert (
            _value(
                samples,
                requests,
                operation_type="query",
                operation_name=kept,
                outcome="success",
            )
            == 1
        )
    assert (
        _value(
            samples,
            requests,
            operation_type="query",
            operation_name="__overflow__",
            outcome="success",
        )
        == 2
    )
    # A document that does not validate has no operation type yet.
    assert (
        _value(
            samples,
            requests,
            operation_type="unknown",
            operation_name="__unnamed__",
            outcome="error",
        )
        == 1
    )
    assert (
        _value(
            samples,
            "gateway_request_duration_seconds_count",
            operation_type="query",
            outcome="success",
        )
        == 8
    )
    # The join: products then reviews, three times; the other five queries: products.
    assert (
        _value(
            samples,
            "gateway_subgraph_fetches_total",
            subgraph="products",
            outcome="success",
        )
        == 8
    )
    assert (
        _value(
            samples,
            "gateway_subgraph_fetches_total",
            subgraph="reviews",
            outcome="success",
        )
        == 3
    )
    assert (
        _value(
            samples, "gateway_subgraph_fetch_duration_seconds_count", subgraph="reviews"
        )
        == 3
    )
    # Six distinct documents were parsed and validated, the join's twice reused.
    assert _value(samples, "gateway_cache_misses_total", cache="documents") == 7
    assert _value(samples, "gateway_cache_hits_total", cache="documents") == 2
    assert _value(samples, "gateway_cache_entries", cache="documents") == 7


async def test_promtool_accepts_the_exposition(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    assert shutil.which("promtool"), (
        "promtool is missing: scripts/lib/system-deps.sh installs it "
        "(Debian package prometheus)"
    )
    metrics_port = free_port()
    gateway = await start_gateway(_metrics_config(tmp_path, metrics_port))
    async with aiohttp.ClientSession() as session:
        await _post(session, gateway, JOIN)
        text = await _scrape(session, metrics_port)
    process = await asyncio.create_subprocess_exec(
        "promtool",
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate(text.encode())
    assert process.returncode == 0, out.decode()
    assert out.decode().strip() == ""


async def test_open_streams_and_upstream_subscriptions_are_gauged(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    metrics_port = free_port()
    gateway = await start_gateway(_metrics_config(tmp_path, metrics_port))
    query = 'subscription Feed { messages(topic: "t") { seq text } }'
    async with aiohttp.ClientSession() as session:
        async with session.post(
            gateway.url,
            json={"query": query},
            headers={"Accept": "text/event-stream"},
        ) as stream:
            assert stream.status == 200
            # The upstream is open once a published message comes through.
            while True:
                await _post(
                    session,
                    gateway,
                    'mutation { publish(topic: "t", text: "x") { seq } }',
                )
                line = await asyncio.wait_for(stream.content.readline(), 10)
                if line.startswith(b"data:") and b'"seq"' in line:
                    break
            samples = _samples(await _scrape(session, metrics_port))
            assert _value(samples, "gateway_open_streams", protocol="sse") == 1
            assert (
                _value(samples, "gateway_upstream_subscriptions", subgraph="ticker")
                == 1
            )
        # The client went away: the stream and its upstream close.
        for _ in range(200):
            samples = _samples(await _scrape(session, metrics_port))
            if (
                _value(samples, "gateway_upstream_subscriptions", subgraph="ticker")
                == 0
            ):
                break
            await asyncio.sleep(0.05)
        assert _value(samples, "gateway_open_streams", protocol="sse") == 0
        assert _value(samples, "gateway_upstream_subscriptions", subgraph="ticker") == 0
        assert (
            _value(
                samples,
                "gateway_requests_total",
                operation_type="subscription",
                operation_name="Feed",
                outcome="rejected",
            )
            + _value(
                samples,
                "gateway_requests_total",
                operation_type="subscription",
                operation_name="Feed",
                outcome="success",
            )
            == 1
        )


async def test_metrics_can_share_the_graphql_port(tmp_path: Path) -> None:
    # The listener names the main address: /metrics is served on the GraphQL port.
    port = free_port()
    config = _config(
        tmp_path,
        f"  port: {port}\n"
        "  telemetry:\n"
        "    metrics:\n"
        "      prometheus:\n"
        f"        listen_addr: 127.0.0.1:{port}\n",
    )
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *GATEWAY,
            "serve",
            "--config",
            str(config),
            cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
    gateway = GatewayProcess(process, port, log)
    try:
        await wait_ready(gateway)
        async with aiohttp.ClientSession() as session:
            await _post(session, gateway, JOIN)
            text = await _scrape(session, gateway.port)
    finally:
        await gateway.stop()
    assert "gateway_requests_total" in text


def _access_lines(gateway: GatewayProcess) -> list[dict[str, Any]]:
    lines = []
    for line in gateway.output().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "gateway.access":
                lines.append(entry)
    return lines


async def test_json_access_log_has_one_line_per_request_with_its_id(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = await start_gateway(
        _metrics_config(tmp_path, free_port()), args=["--log-format", "json"]
    )
    async with aiohttp.ClientSession() as session:
        status, body, given = await _post(
            session, gateway, JOIN, headers={"X-Request-Id": "client-id-1"}
        )
        assert status == 200 and given == "client-id-1"
        status, body, made = await _post(session, gateway, "query Bad { nope }")
        assert made and made != "client-id-1"
        assert body["errors"][0]["extensions"]["requestId"] == made
    await gateway.stop()
    lines = [e for e in _access_lines(gateway) if e["path"] == "/graphql"]
    assert len(lines) == 2
    first, second = lines
    assert first["request_id"] == "client-id-1"
    assert first["method"] == "POST" and first["status"] == 200
    assert first["operation_type"] == "query" and first["operation_name"] == "Top"
    assert first["subgraph_fetches"] == 2
    assert first["error_codes"] == []
    assert first["client"] == "127.0.0.1"
    assert first["duration_ms"] >= 0 and first["time"].endswith("Z")
    assert second["request_id"] == made
    assert second["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]
    assert second["subgraph_fetches"] == 0


async def test_text_access_log_ends_streams_with_a_line(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = await start_gateway(_metrics_config(tmp_path, free_port()))
    async with aiohttp.ClientSession() as session:
        async with session.post(
            gateway.url,
            json={"query": "subscription Count { count(to: 2) }"},
            headers={"Accept": "text/event-stream", "X-Request-Id": "stream-1"},
        ) as stream:
            body = await stream.read()
        assert b"event: complete" in body
        await _post(session, gateway, JOIN)
    await gateway.stop()
    lines = [
        line
        for line in gateway.output().splitlines()
        if "gateway.access" in line and "/graphql" in line
    ]
    assert len(lines) == 2
    assert '"POST /graphql" 200' in lines[0]
    assert (
        "subscription Count stream=sse fetches=1 errors=- request_id=stream-1"
        in (lines[0])
    )
    assert "query Top fetches=2 errors=-" in lines[1]


async def test_access_log_false_turns_it_off(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = await start_gateway(
        _metrics_config(tmp_path, free_port(), "  access_log: false\n")
    )
    async with aiohttp.ClientSession() as session:
        await _post(session, gateway, JOIN)
    await gateway.stop()
    assert "gateway.access" not in gateway.output()


async def test_claude_commands_are_counted_by_status(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    claude = fake_claude(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    metrics_port = free_port()
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(claude, git_root=tmp_path),
        args=["--metrics-addr", f"127.0.0.1:{metrics_port}"],
    )
    session = await create_session(gateway, work)
    for prompt in ("What is 3+3?", "What is 3+3?"):
        result = await execute(gateway, session["id"], prompt)
        assert result["data"]["executeCommand"]["status"] == "SUCCEEDED"
    async with aiohttp.ClientSession() as client:
        samples = _samples(await _scrape(client, metrics_port))
    assert _value(samples, "claude_commands_total", status="SUCCEEDED") == 2
    assert _value(samples, "claude_commands_running") == 0


async def test_websocket_subscriptions_are_gauged_as_open_streams(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    metrics_port = free_port()
    gateway = await start_gateway(_metrics_config(tmp_path, metrics_port))
    query = 'subscription { messages(topic: "w") { seq text } }'
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(gateway.url, protocols=("graphql-transport-ws",)) as ws,
    ):
        await ws.send_json({"type": "connection_init"})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        await ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": query}}
        )
        message: dict[str, Any] = {}
        for _ in range(100):
            # Published before the subscription is live, a message is not seen:
            # publish again until one is.
            status, _, _ = await _post(
                session, gateway, 'mutation { publish(topic: "w", text: "x") { seq } }'
            )
            assert status == 200
            try:
                message = await ws.receive_json(timeout=0.2)
            except TimeoutError:
                continue
            if message["type"] == "next":
                break
        assert message["type"] == "next"
        samples = _samples(await _scrape(session, metrics_port))
        assert _value(samples, "gateway_open_streams", protocol="websocket") == 1
        await ws.send_json({"id": "1", "type": "complete"})
        for _ in range(200):
            samples = _samples(await _scrape(session, metrics_port))
            if _value(samples, "gateway_open_streams", protocol="websocket") == 0:
                break
            await asyncio.sleep(0.05)
        assert _value(samples, "gateway_open_streams", protocol="websocket") == 0
