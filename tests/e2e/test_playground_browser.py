"""The playground in headless Chromium with only loopback reachable: it loads from the
gateway, runs a query and a subscription, shows the docs, and sends the Headers tab's
headers; the README's EventSource snippet runs in the same page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.http.playground import ASSETS, assets_dir
from tests.helpers.browser import Browser, chromium_path, launch
from tests.helpers.processes import GatewayProcess, StartGateway, free_port
from tests.helpers.readme import snippets

pytestmark = pytest.mark.slow

QUERY_EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
RESULT = "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
HEADERS_EDITOR = (
    "document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) "
    ".CodeMirror').CodeMirror"
)


def button(text: str) -> str:
    return (
        "[...document.querySelectorAll('button')].find((b) => "
        f"b.textContent.trim() === {json.dumps(text)} || "
        f"b.getAttribute('aria-label') === {json.dumps(text)})"
    )


def config(tmp_path: Path) -> Path:
    path = tmp_path / f"supergraph-{free_port()}.yaml"
    path.write_text(
        "version: 1\n"
        "subgraphs:\n"
        "  - name: ticker\n"
        "    module: tests.fixtures.ticker:ticker\n"
        "  - name: products\n"
        "    module: tests.fixtures.shop:products\n"
        "  - name: echo\n"
        "    module: tests.fixtures.echo:echo\n"
        "gateway:\n"
        "  headers:\n"
        "    all:\n"
        "      request:\n"
        "        - op: propagate\n"
        "          named: X-Playground\n"
    )
    return path


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    if chromium_path() is None:
        pytest.fail("chromium is not installed (scripts/lib/system-deps.sh)")
    if not all((assets_dir() / path).is_file() for path in ASSETS.values()):
        pytest.fail("the playground's assets are missing: scripts/lib/node-deps.sh")
    async with (
        aiohttp.ClientSession() as session,
        launch(session, tmp_path / "chromium") as page,
    ):
        yield page


async def run(browser: Browser, query: str, expected: str) -> str:
    await browser.evaluate(f"{QUERY_EDITOR}.setValue({json.dumps(query)})")
    # GraphiQL takes an edit in after a debounce; it stores the query when it has.
    await browser.wait_for(
        f"localStorage.getItem('graphiql:query') === {json.dumps(query)}"
    )
    await browser.evaluate(f"{button('Execute query (Ctrl-Enter)')}.click()")
    return str(
        await browser.wait_for(
            f"(() => {{ const v = {RESULT}; "
            f"return v.includes({json.dumps(expected)}) ? v : null; }})()"
        )
    )


async def test_the_playground_works_offline(
    start_gateway: StartGateway, tmp_path: Path, browser: Browser
) -> None:
    gateway: GatewayProcess = await start_gateway(config(tmp_path))
    await browser.goto(gateway.url)
    await browser.wait_for("document.querySelector('.graphiql-container') !== null")

    result = await run(browser, '{ listeners(topic: "news") }', '"listeners": 0')
    assert json.loads(result) == {"data": {"listeners": 0}}

    # A subscription streams (over a WebSocket): GraphiQL shows each result as it
    # comes, the last stays.
    result = await run(
        browser, "subscription { count(to: 3, every: 0.05) }", '"count": 3'
    )
    assert json.loads(result) == {"data": {"count": 3}}
    assert browser.websockets == [gateway.url.replace("http://", "ws://")]

    # The Headers tab's headers reach the subgraph (propagated by gateway.headers).
    await browser.evaluate(f"{button('Headers')}.click()")
    await browser.evaluate(
        f"{HEADERS_EDITOR}.setValue({json.dumps(json.dumps({'X-Playground': 'tab'}))})"
    )
    # (the query's edit below is taken in after this one: same debounce, later)
    result = await run(
        browser, '{ forwardedHeader(name: "X-Playground") }', '"forwardedHeader"'
    )
    assert json.loads(result) == {"data": {"forwardedHeader": "tab"}}

    # The docs explorer shows the schema (introspection went through the fetcher).
    await browser.evaluate(f"{button('Show Documentation Explorer')}.click()")
    docs = await browser.wait_for(
        "document.querySelector('.graphiql-doc-explorer')?.textContent"
    )
    assert "Query" in docs and "Subscription" in docs

    assert browser.exceptions == []
    ws_base = gateway.base.replace("http://", "ws://")
    assert all(
        url.startswith((gateway.base, ws_base, "data:")) for url in browser.requests
    ), browser.requests


async def test_the_readme_eventsource_snippet_runs_in_a_page_of_the_gateway(
    start_gateway: StartGateway, tmp_path: Path, browser: Browser
) -> None:
    gateway = await start_gateway(config(tmp_path))
    await browser.goto(gateway.base + "/health")
    await browser.wait_for("document.readyState === 'complete'")
    await browser.evaluate(
        "window.logs = []; console.log = (v) => window.logs.push(JSON.stringify(v));"
    )
    await browser.evaluate(
        f"new Function({json.dumps(snippets()['eventsource.js'])})()"
    )
    logs = await browser.wait_for("window.logs.length >= 3 && window.logs")
    assert [json.loads(line) for line in logs] == [
        {"data": {"count": n}} for n in (1, 2, 3)
    ]
