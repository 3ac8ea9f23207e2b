"""The github subgraph against a fake of GitHub's REST API."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestServer

from gateway.errors import ConfigError
from gateway.local import LocalSubgraph
from subgraphs.github import create_subgraph
from subgraphs.github.config import GitHubOptions
from subgraphs.github.pagination import next_link
from tests.subgraphs.github.conftest import TOKEN, run
from tests.subgraphs.github.fake_github import FakeGitHub

REPO = """query($owner: String!, $name: String!) {
  githubRepository(owner: $owner, name: $name) {
    owner name fullName description url defaultBranch stars forks
    openIssuesCount private
  } }"""


async def test_service_sdl_declares_the_repository_entity(
    subgraph: LocalSubgraph,
) -> None:
    result = await run(subgraph, "{ _service { sdl } }")
    assert result.data == {"_service": {"sdl": subgraph.sdl}}
    assert subgraph.sdl.startswith(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", '
        'import: ["@key"])'
    )
    assert 'type GitHubRepository @key(fields: "owner name") {' in subgraph.sdl


async def test_repository_details_come_from_the_rest_api_with_its_headers(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    result = await run(subgraph, REPO, {"owner": "octo", "name": "hello"})
    assert result.errors is None
    assert result.data == {
        "githubRepository": {
            "owner": "octo",
            "name": "hello",
            "fullName": "octo/hello",
            "description": "Hello, world",
            "url": "https://github.com/octo/hello",
            "defaultBranch": "main",
            "stars": 42,
            "forks": 7,
            "openIssuesCount": 11,
            "private": False,
        }
    }
    assert len(fake.requests) == 1  # one fetch serves every detail field
    sent = fake.requests[0]
    assert sent.path == "/repos/octo/hello"
    assert sent.headers["Accept"] == "application/vnd.github+json"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"]


async def test_issues_leave_out_pull_requests_and_follow_link_pages(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    fake.max_per_page = 4  # GitHub pages of 4: the list must follow rel="next"
    query = """query($after: String) { githubRepository(owner: "octo", name: "hello") {
        issues(first: 5, after: $after) { number title state cursor } } }"""
    first = await run(subgraph, query)
    assert first.errors is None
    issues = first.data["githubRepository"]["issues"]
    assert [i["number"] for i in issues] == [13, 12, 10, 9, 8]
    assert all(i["state"] == "OPEN" for i in issues)
    list_requests = [r for r in fake.requests if r.path.endswith("/issues")]
    assert [r.query["page"] for r in list_requests] == ["1", "2"]
    second = await run(subgraph, query, {"after": issues[-1]["cursor"]})
    assert [i["number"] for i in second.data["githubRepository"]["issues"]] == [
        6,
        5,
        4,
        1,
    ]


async def test_issue_states_filter_the_list(subgraph: LocalSubgraph) -> None:
    query = """query($state: StateFilter) {
      githubRepository(owner: "octo", name: "hello") {
        issues(state: $state, first: 50) { number state } } }"""
    closed = await run(subgraph, query, {"state": "CLOSED"})
    assert closed.data["githubRepository"]["issues"] == [
        {"number": 2, "state": "CLOSED"}
    ]
    every = await run(subgraph, query, {"state": "ALL"})
    assert len(every.data["githubRepository"]["issues"]) == 10


async def test_pull_requests_list_refs_draft_author_and_merged_state(
    subgraph: LocalSubgraph,
) -> None:
    query = """query($state: StateFilter) {
      githubRepository(owner: "octo", name: "hello") {
        pullRequests(state: $state, first: 5) {
          number title state draft author { login } url headRef baseRef
          createdAt updatedAt mergedAt } } }"""
    result = await run(subgraph, query, {"state": "OPEN"})
    assert result.errors is None
    pulls = result.data["githubRepository"]["pullRequests"]
    assert [p["number"] for p in pulls] == [11, 7]
    assert pulls[0] == {
        "number": 11,
        "title": "PR 11",
        "state": "OPEN",
        "draft": True,
        "author": {"login": "dev"},
        "url": "https://github.com/octo/hello/pull/11",
        "headRef": "feature-11",
        "baseRef": "main",
        "createdAt": "2024-01-11T10:00:00Z",
        "updatedAt": "2024-01-11T10:00:00Z",
        "mergedAt": None,
    }
    every = await run(subgraph, query, {"state": "ALL"})
    states = {
        p["number"]: p["state"] for p in every.data["githubRepository"]["pullRequests"]
    }
    assert states == {11: "OPEN", 7: "OPEN", 3: "MERGED"}


async def test_one_issue_with_its_comments_paged(subgraph: LocalSubgraph) -> None:
    query = """query($after: String) { githubRepository(owner: "octo", name: "hello") {
        issue(number: 1) { number title body labels commentCount author { login }
          comments(first: 2, after: $after) { body author { login } cursor } } } }"""
    result = await run(subgraph, query)
    assert result.errors is None
    issue = result.data["githubRepository"]["issue"]
    assert issue["title"] == "Issue 1"
    assert issue["body"] == "Body 1"
    assert issue["labels"] == ["bug"]
    assert issue["commentCount"] == 3
    assert [c["body"] for c in issue["comments"]] == ["comment 1", "comment 2"]
    more = await run(subgraph, query, {"after": issue["comments"][-1]["cursor"]})
    rest = more.data["githubRepository"]["issue"]["comments"]
    assert rest == [
        {"body": "comment 3", "author": {"login": "user3"}, "cursor": rest[0]["cursor"]}
    ]


async def test_create_issue_and_add_comment_post_to_the_api(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    created = await run(
        subgraph,
        """mutation { createIssue(input: {owner: "octo", name: "hello",
            title: "New bug", body: "It breaks", labels: ["bug"]}) {
            number title body state labels } }""",
    )
    assert created.errors is None
    assert created.data["createIssue"] == {
        "number": 14,
        "title": "New bug",
        "body": "It breaks",
        "state": "OPEN",
        "labels": ["bug"],
    }
    post = fake.requests[-1]
    assert (post.method, post.path) == ("POST", "/repos/octo/hello/issues")
    assert post.body == {"title": "New bug", "body": "It breaks", "labels": ["bug"]}

    commented = await run(
        subgraph,
        """mutation { addComment(input: {owner: "octo", name: "hello", number: 14,
            body: "Confirmed"}) { id body author { login } } }""",
    )
    assert commented.errors is None
    assert commented.data["addComment"]["body"] == "Confirmed"
    assert fake.requests[-1].path == "/repos/octo/hello/issues/14/comments"
    assert fake.comments[("octo", "hello", 14)][0]["body"] == "Confirmed"


async def test_rejected_input_is_bad_user_input(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    rejected = await run(
        subgraph,
        """mutation { createIssue(input: {owner: "octo", name: "hello",
            title: "invalid"}) { number } }""",
    )
    assert rejected.data is None
    error = rejected.errors[0]
    assert error.extensions["code"] == "BAD_USER_INPUT"
    assert error.extensions["http"] == {"status": 422}
    assert "Validation Failed" in error.message
    posts = len(fake.requests)
    empty = await run(
        subgraph,
        """mutation { createIssue(input: {owner: "octo", name: "hello",
            title: "  "}) { number } }""",
    )
    assert empty.errors[0].extensions["code"] == "BAD_USER_INPUT"
    assert len(fake.requests) == posts  # refused before any request
    bad_name = await run(subgraph, REPO, {"owner": "..", "name": "x"})
    assert bad_name.errors[0].extensions["code"] == "BAD_USER_INPUT"


async def test_missing_repository_is_not_found(subgraph: LocalSubgraph) -> None:
    result = await run(subgraph, REPO, {"owner": "octo", "name": "missing"})
    assert result.data == {"githubRepository": None}
    assert result.errors[0].path == ["githubRepository"]
    assert result.errors[0].extensions == {"code": "NOT_FOUND", "http": {"status": 404}}
    issue = await run(
        subgraph,
        '{ githubRepository(owner: "octo", name: "hello") { issue(number: 99) { title } } }',
    )
    assert issue.data == {"githubRepository": {"issue": None}}
    assert issue.errors[0].extensions["code"] == "NOT_FOUND"


async def test_bad_token_is_unauthenticated(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    local = create_subgraph({"api_url": str(server.make_url(""))})
    assert local.lifespan is not None
    async with local.lifespan():
        result = await run(local, REPO, {"owner": "octo", "name": "hello"})
    assert result.errors[0].extensions["code"] == "UNAUTHENTICATED"
    assert "Bad credentials" in result.errors[0].message


@pytest.mark.parametrize("status", [403, 429])
async def test_rate_limit_is_rate_limited_with_the_reset_time(
    subgraph: LocalSubgraph, fake: FakeGitHub, status: int
) -> None:
    fake.rate_limited = status
    result = await run(subgraph, REPO, {"owner": "octo", "name": "hello"})
    error = result.errors[0]
    reset = datetime.fromtimestamp(fake.reset_epoch, tz=UTC)
    assert error.extensions == {
        "code": "RATE_LIMITED",
        "http": {"status": status},
        "resetAt": reset.isoformat().replace("+00:00", "Z"),
    }
    assert error.extensions["resetAt"] in error.message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_network_failure_is_upstream_unavailable() -> None:
    local = create_subgraph({"api_url": f"http://127.0.0.1:{_closed_port()}"})
    assert local.lifespan is not None
    async with local.lifespan():
        result = await run(local, REPO, {"owner": "octo", "name": "hello"})
    assert result.data == {"githubRepository": None}
    assert result.errors[0].extensions["code"] == "UPSTREAM_UNAVAILABLE"


async def test_slow_api_past_the_timeout_is_upstream_unavailable(
    server: TestServer, fake: FakeGitHub
) -> None:
    fake.delay = 1.0
    local = create_subgraph(
        {"api_url": str(server.make_url("")), "token": TOKEN, "timeout": 0.1}
    )
    assert local.lifespan is not None
    async with local.lifespan():
        result = await run(local, REPO, {"owner": "octo", "name": "hello"})
    assert result.errors[0].extensions["code"] == "UPSTREAM_UNAVAILABLE"


ENTITIES = """query($reps: [_Any!]!) { _entities(representations: $reps) {
    ... on GitHubRepository { owner name pullRequests(state: OPEN, first: 5) {
      number title } } } }"""


async def test_entity_resolves_from_its_key_without_fetching_unasked_details(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    result = await run(
        subgraph,
        ENTITIES,
        {
            "reps": [
                {"__typename": "GitHubRepository", "owner": "octo", "name": "hello"},
                {"__typename": "GitHubRepository", "owner": "../..", "name": "x"},
            ]
        },
    )
    assert result.data["_entities"][0] == {
        "owner": "octo",
        "name": "hello",
        "pullRequests": [
            {"number": 11, "title": "PR 11"},
            {"number": 7, "title": "PR 7"},
        ],
    }
    assert result.data["_entities"][1] is None
    assert result.errors[0].path == ["_entities", 1]
    assert result.errors[0].extensions["code"] == "BAD_USER_INPUT"
    assert [r.path for r in fake.requests] == ["/repos/octo/hello/pulls"]


async def test_requests_outside_the_lifespan_fail_cleanly(server: TestServer) -> None:
    local = create_subgraph({"api_url": str(server.make_url(""))})
    result = await run(local, REPO, {"owner": "octo", "name": "hello"})
    assert result.errors[0].extensions["code"] == "UPSTREAM_UNAVAILABLE"


async def test_bad_cursor_and_page_size_are_bad_user_input(
    subgraph: LocalSubgraph,
) -> None:
    for arguments in ('first: 5, after: "garbage"', "first: 101", "first: -1"):
        result = await run(
            subgraph,
            f'{{ githubRepository(owner: "octo", name: "hello") {{ issues({arguments}) '
            "{ number } } }",
        )
        assert result.errors[0].extensions["code"] == "BAD_USER_INPUT", arguments


def test_options_win_over_the_environment() -> None:
    env = {"GITHUB_API_URL": "https://ghe.example/api/v3/", "GITHUB_TOKEN": "env"}
    from_env = GitHubOptions.from_mapping({}, env)
    assert (from_env.api_url, from_env.token) == ("https://ghe.example/api/v3", "env")
    explicit = GitHubOptions.from_mapping(
        {"api_url": "http://127.0.0.1:9", "token": "opt"}, env
    )
    assert (explicit.api_url, explicit.token) == ("http://127.0.0.1:9", "opt")
    default = GitHubOptions.from_mapping({}, {})
    assert (default.api_url, default.token) == ("https://api.github.com", None)
    assert "opt" not in repr(explicit)


@pytest.mark.parametrize(
    "options",
    [{"api_url": "ftp://x"}, {"timeout": 0}, {"timeout": "soon"}, {"tokn": "x"}],
)
def test_bad_options_are_config_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        create_subgraph(options)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        (
            '<https://api.github.com/x?page=2>; rel="next"',
            "https://api.github.com/x?page=2",
        ),
        (
            '<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next", '
            '<https://a/x?page=9>; rel="last"',
            "https://a/x?page=3",
        ),
        ('<https://a/x?page=9>; rel="last"', None),
    ],
)
def test_link_header_next_url(header: str | None, expected: str | None) -> None:
    assert next_link(header) == expected


async def test_next_link_to_another_host_is_not_followed(
    subgraph: LocalSubgraph, fake: FakeGitHub, server: TestServer
) -> None:
    fake.max_per_page = 2
    original = fake._page

    def hostile(request: object, items: list[object]) -> object:
        response = original(request, items)  # type: ignore[arg-type]
        response.headers["Link"] = '<http://evil.example/steal?page=2>; rel="next"'
        return response

    fake._page = hostile  # type: ignore[method-assign]
    result = await run(
        subgraph,
        '{ githubRepository(owner: "octo", name: "hello") { issues(first: 5) { number } } }',
    )
    assert result.errors[0].extensions["code"] == "UPSTREAM_ERROR"
    assert all(r.path.startswith("/repos/") for r in fake.requests)


async def test_null_page_size_is_bad_user_input_and_nothing_is_fetched(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    for field in (
        "issues(first: null) { number }",
        "pullRequests(first: null) { number }",
        "issue(number: 1) { comments(first: null) { id } }",
        "issues(first: 2147483647) { number }",
    ):
        result = await run(
            subgraph,
            f'{{ githubRepository(owner: "octo", name: "hello") {{ {field} }} }}',
        )
        assert result.errors is not None, field
        [error] = result.errors
        assert error.extensions["code"] == "BAD_USER_INPUT", field
        assert "NoneType" not in error.message and "<=" not in error.message
    # Only the repository itself and the issue were read: no list was requested.
    assert {r.path for r in fake.requests} <= {
        "/repos/octo/hello",
        "/repos/octo/hello/issues/1",
    }


async def test_a_field_github_left_out_fails_only_where_it_is_selected(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    """A GitHub-compatible API without ``forks_count`` (issue 16): the repository
    still answers every other field."""
    repo = fake.repos[("octo", "hello")]
    del repo["forks_count"]
    del repo["description"]
    result = await run(
        subgraph,
        """{ githubRepository(owner: "octo", name: "hello") {
            fullName stars description defaultBranch } }""",
    )
    assert result.errors is None
    assert result.data == {
        "githubRepository": {
            "fullName": "octo/hello",
            "stars": 42,
            "description": None,
            "defaultBranch": "main",
        }
    }
    forks = await run(
        subgraph, '{ githubRepository(owner: "octo", name: "hello") { forks } }'
    )
    [error] = forks.errors or []
    assert error.path == ["githubRepository", "forks"]
    assert error.extensions["code"] == "UPSTREAM_ERROR"
    assert "forks_count" in error.message and "KeyError" not in error.message


async def test_list_items_without_optional_fields_are_null_there(
    subgraph: LocalSubgraph, fake: FakeGitHub
) -> None:
    for issue in fake.issues[("octo", "hello")]:
        for key in ("body", "closed_at", "user", "labels"):
            issue.pop(key, None)
    for pull in fake.pulls[("octo", "hello")]:
        for key in ("merged_at", "draft", "user"):
            pull.pop(key, None)
    result = await run(
        subgraph,
        """{ githubRepository(owner: "octo", name: "hello") {
            issues(first: 2) { number title body closedAt author { login } }
            pullRequests(first: 1) { number state draft mergedAt author { login } }
        } }""",
    )
    assert result.errors is None
    repository = result.data["githubRepository"]
    assert repository["issues"][0] == {
        "number": 13,
        "title": "Issue 13",
        "body": None,
        "closedAt": None,
        "author": None,
    }
    assert repository["pullRequests"] == [
        {
            "number": 11,
            "state": "OPEN",
            "draft": False,
            "mergedAt": None,
            "author": None,
        }
    ]
    labels = await run(
        subgraph,
        '{ githubRepository(owner: "octo", name: "hello") '
        "{ issues(first: 1) { labels } } }",
    )
    [error] = labels.errors or []
    assert error.path == ["githubRepository", "issues", 0, "labels"]
    assert error.extensions["code"] == "UPSTREAM_ERROR"
