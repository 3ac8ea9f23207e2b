"""One query through claude, git and github: a real gateway, a real git repository,
a fake GitHub REST API on loopback, and curl.

The query is the one issue 5 promises users: a session's Claude UUID, the git
repository of its working directory, and that repository's open pull requests.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.claude import (
    INPROCESS,
    assert_no_traceback,
    create_session,
    fake_claude,
    inprocess_env,
)
from tests.helpers.curl import (
    curl_graphql,
)
from tests.helpers.github import (
    THREE_SUBGRAPHS,
    TOKEN,
    AiohttpServer,
    expected_answer,
    fake_github,
    make_workspace,
)
from tests.helpers.processes import StartGateway


async def test_one_query_walks_claude_git_and_github(
    start_gateway: StartGateway, aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    workspace = make_workspace(tmp_path)
    github = fake_github()
    server = await aiohttp_server(github.app())
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude,
            git_root=workspace.root,
            github_url=str(server.make_url("")),
            github_token=TOKEN,
        ),
    )
    session = await create_session(gateway, workspace.repo)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": session["id"]})
    assert (answer.status, answer.body) == (
        200,
        expected_answer(session["claudeSessionId"]),
    )
    # Only the pull requests were fetched from GitHub, with the configured token.
    assert [(r.method, r.path, r.query.get("state")) for r in github.requests] == [
        ("GET", "/repos/acme/widgets/pulls", "open")
    ]
    assert github.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert github.requests[0].headers["Accept"] == "application/vnd.github+json"
    assert_no_traceback(gateway)


async def test_a_working_directory_outside_the_roots_is_forbidden_at_its_path(
    start_gateway: StartGateway, aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    workspace = make_workspace(tmp_path)
    github = fake_github()
    server = await aiohttp_server(github.app())
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude,
            git_root=workspace.root,
            github_url=str(server.make_url("")),
            claude_root=tmp_path,  # claude may use a directory that git may not
        ),
    )
    session = await create_session(gateway, workspace.outside)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": session["id"]})
    assert answer.status == 200
    assert answer.data == {
        "session": {"claudeSessionId": session["claudeSessionId"], "repository": None}
    }
    [error] = answer.body["errors"]
    assert error["path"] == ["session", "repository"]
    assert error["extensions"]["code"] == "FORBIDDEN_PATH"

    # The same through git's own root field, next to a claude field that still answers.
    escaping = await curl_graphql(
        gateway.url,
        '{ activeSessions { id } repository(path: "../elsewhere/secret")'
        " { currentBranch } }",
    )
    assert escaping.status == 200
    assert escaping.data == {
        "activeSessions": [{"id": session["id"]}],
        "repository": None,
    }
    [error] = escaping.body["errors"]
    assert error["path"] == ["repository"]
    assert error["extensions"]["code"] == "FORBIDDEN_PATH"

    # A directory under the root that is in no work tree: null, and no error.
    plain = workspace.root / "not-a-repo"
    plain.mkdir()
    elsewhere = await create_session(gateway, plain)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": elsewhere["id"]})
    assert answer.body == {
        "data": {
            "session": {
                "claudeSessionId": elsewhere["claudeSessionId"],
                "repository": None,
            }
        }
    }
    assert github.requests == []
    assert_no_traceback(gateway)


async def test_github_401_is_unauthenticated_at_the_github_path_and_git_data_stays(
    start_gateway: StartGateway, aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    workspace = make_workspace(tmp_path)
    github = fake_github(token="the-right-token")
    server = await aiohttp_server(github.app())
    claude = fake_claude(tmp_path)
    gateway = await start_gateway(
        INPROCESS,
        env=inprocess_env(
            claude,
            git_root=workspace.root,
            github_url=str(server.make_url("")),
            github_token="a-revoked-token",
        ),
    )
    session = await create_session(gateway, workspace.repo)
    answer = await curl_graphql(gateway.url, THREE_SUBGRAPHS, {"id": session["id"]})
    assert answer.status == 200
    assert answer.data == {
        "session": {
            "claudeSessionId": session["claudeSessionId"],
            "repository": {
                "currentBranch": "feature/sprockets",
                "status": {"unstaged": [{"path": "README.md"}]},
                "github": None,
            },
        }
    }
    [error] = answer.body["errors"]
    assert error["path"] == ["session", "repository", "github", "pullRequests"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["http"]["status"] == 401
    assert [r.path for r in github.requests] == ["/repos/acme/widgets/pulls"]
    assert_no_traceback(gateway)
